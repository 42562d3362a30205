"""Orchestra's dashboard: navigation over the pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="Orchestra", page_icon="🎼", layout="wide")

pages = [
    st.Page("pages/models.py", title="Models & budgets", icon="🧭", default=True),
]
st.navigation(pages).run()
