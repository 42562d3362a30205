"""Models & budgets: the catalog with prices, tiers and live/sandbox mode."""

import pandas as pd
import streamlit as st

from core.catalog import default_catalog
from core.cli.models import catalog_rows
from core.gateway import Gateway

st.title("Models & budgets")
catalog = default_catalog()
rows = catalog_rows(catalog, Gateway(catalog))
st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
