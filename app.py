"""Orchestra's dashboard: navigation over the pages. Each page builds its settings (keys from
the environment or .streamlit/secrets.toml) with ``ui.components.page_header``."""

import streamlit as st

st.set_page_config(page_title="Orchestra", page_icon="🎼", layout="wide")

pages = [
    st.Page("app_pages/run.py", title="Run", icon="🚀", default=True),
    st.Page("app_pages/runs.py", title="Runs", icon="🗂️"),
    st.Page("app_pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("app_pages/history.py", title="History", icon="📈"),
    st.Page("app_pages/models.py", title="Models & budgets", icon="🧭"),
    st.Page("app_pages/evals.py", title="Evals", icon="🧪"),
    st.Page("app_pages/leaderboard.py", title="Leaderboard", icon="🏆"),
    st.Page("app_pages/router.py", title="Router", icon="🔀"),
]
st.navigation(pages).run()
