"""Runs: recent runs with a filter; each opens on the Run page at its own URL (?run=ID)."""

import streamlit as st

from core import ledger
from ui.components import RUN_PARAM, empty_state, page_header
from ui.runs import run_list_rows

STATUSES = ["running", "done", "failed", "cancelled", "interrupted"]

settings, _ = page_header("Runs", "Every run in the ledger, newest first. Open one to see its "
                               "deliverable, waves, timeline and figures.")

left, right = st.columns([2, 3])
statuses = left.multiselect("Status", STATUSES, placeholder="all statuses")
search = right.text_input("Demand or run id contains", placeholder="e.g. DuckDB")
rows = run_list_rows(ledger.runs_list(statuses, search, limit=50, ledger=settings.ledger()))
if not rows:
    empty_state("No runs yet — start one on the Run page." if not (statuses or search)
                else "No run matches this filter.")
widths = [3, 1, 1, 1, 2, 2]
header = st.columns(widths)
for column, name in zip(header, ["demand", "status", "cost", "makespan", "providers", "when"],
                        strict=True):
    column.markdown(f"**{name}**")
for row in rows:
    cells = st.columns(widths, vertical_alignment="center")
    cells[0].page_link("app_pages/run.py", label=row["label"],
                       query_params={RUN_PARAM: row["run_id"]})
    for cell, key in zip(cells[1:], ["status", "cost", "makespan", "providers", "when"],
                         strict=True):
        cell.write(row[key])
