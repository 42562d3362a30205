"""Run: a demand becomes a plan you can edit, then runs in waves while you watch."""

import time
from decimal import Decimal

import pandas as pd
import streamlit as st

from core.errors import OrchestraError
from ui.jobs import plan_from_upload, plan_with_model, planner_models, start_run
from core.planning.plan import TASK_KINDS, Plan
from core.planning.planner import plan_offline
from ui.views import (
    RunBoard, board_from_events, money, plan_from_rows, plan_rows, run_json, run_markdown,
    summary_figures, tier_options,
)
from ui import charts
from ui.components import (
    LIVE_RUN_KEY, empty_state, metrics_grid, page_header, shared_breakers, task_card,
)

DRAFT_KEY = "draft_plan"
BUDGET_KEY = "run_budget"
DRAFT_NO_KEY = "draft_no"
POLL_S = 0.4  # the live view refreshes 2.5 times a second
PLANNERS = {"offline": "Offline (deterministic)", "llm": "LLM planner", "file": "Plan file"}

catalog, gateway = page_header("Run", "Describe what you need; Orchestra plans it, routes each "
                               "step to a fitting model and runs the steps in parallel waves.")


def plan_step() -> None:
    """Demand, budget and planner; 'Plan it' stores a draft plan for the preview."""
    with st.form("demand"):
        demand = st.text_area("Demand", height=100, placeholder="Compare PostgreSQL, DuckDB "
                              "and SQLite for analytics and write a short report")
        left, middle, right = st.columns(3)
        budget = left.number_input("Budget (USD)", 0.01, 1000.0, 1.0, 0.5)
        planner = middle.radio("Planner", list(PLANNERS), format_func=PLANNERS.get,
                               horizontal=True)
        model = right.selectbox("Planner model (LLM planner)", planner_models(catalog))
        upload = st.file_uploader("Plan file (.json, .yaml)", type=["json", "yaml", "yml"])
        if not st.form_submit_button("Plan it", type="primary"):
            return
    try:
        draft, notes = make_plan(demand.strip(), planner, model, upload)
    except OrchestraError as exc:
        st.error(str(exc))
        return
    st.session_state[DRAFT_KEY], st.session_state[BUDGET_KEY] = draft, budget
    st.session_state[DRAFT_NO_KEY] = st.session_state.get(DRAFT_NO_KEY, 0) + 1  # fresh editor
    for note in notes:
        st.caption(f"planner: {note}")


def make_plan(demand: str, planner: str, model: str, upload: object) -> tuple[Plan, list[str]]:
    """The draft plan from the chosen planner, with the planner's notes."""
    if planner == "file":
        if upload is None:
            raise OrchestraError("choose a plan file to upload first")
        return plan_from_upload(upload.name, upload.getvalue()), []
    if not demand:
        raise OrchestraError("write a demand first")
    if planner == "llm":
        result = plan_with_model(demand, model, catalog)
        return result.plan, [f"source: {result.source}", *result.notes]
    return plan_offline(demand), []


def preview_step(draft: Plan) -> None:
    """The editable plan: prompts, pins, dependencies; then Start."""
    st.subheader("Plan preview")
    st.caption(f"{len(draft.tasks)} tasks in {len(draft.waves())} waves. Edit prompts, pin a tier "
               "or a model, change dependencies (ids separated by commas), then start.")
    edited = st.data_editor(
        pd.DataFrame(plan_rows(draft)), key=f"plan_editor_{st.session_state.get(DRAFT_NO_KEY, 0)}",
        num_rows="dynamic",
        hide_index=True, disabled=["wave"], column_config={
            "kind": st.column_config.SelectboxColumn(options=list(TASK_KINDS), required=True),
            "tier": st.column_config.SelectboxColumn(options=tier_options()),
            "model": st.column_config.SelectboxColumn(options=["", *catalog.models]),
            "prompt": st.column_config.TextColumn(width="large"),
        })
    budget = st.session_state.get(BUDGET_KEY, 1.0)
    if st.button(f"Start run (budget {money(budget)})", type="primary"):
        try:
            plan = plan_from_rows(draft.demand, edited.to_dict("records"), base=draft)
            st.session_state[LIVE_RUN_KEY] = start_run(plan, Decimal(str(budget)), catalog,
                                                         shared_breakers())
        except OrchestraError as exc:
            st.error(f"Cannot start: {exc}")
            return
        st.session_state.pop(DRAFT_KEY, None)
        st.rerun()


def board_view(live: object, board: RunBoard) -> None:
    """Status line, cost against budget, waves of task cards and the attempts timeline."""
    now = time.time()
    budget = live.session.budget_usd
    counts = ", ".join(f"{n} {status}" for status, n in sorted(board.counts().items()))
    st.markdown(f"**Run `{live.run_id}`** — {board.status} · {counts}")
    share = float(min(board.cost_usd / budget, Decimal(1))) if budget else 0.0
    st.progress(share, text=f"Cost {money(board.cost_usd)} of {money(budget)} budget")
    for warning in board.warnings:
        st.warning(warning, icon="💸")
    for wave_no, column in enumerate(st.columns(max(len(board.waves), 1))):
        if wave_no >= len(board.waves):
            break
        with column:
            st.markdown(f"**Wave {wave_no + 1}**")
            for task_id in board.waves[wave_no]:
                task_card(board.cards[task_id], now)
    rows = board.timeline_rows(now)
    if rows:
        st.plotly_chart(charts.run_timeline(rows, live.plan.ids), key="timeline")


@st.fragment(run_every=POLL_S)
def live_view() -> None:
    """Polls the run's events; a full rerun once it ends shows the summary and stops polling."""
    live = st.session_state[LIVE_RUN_KEY]
    if st.button("Cancel run", type="secondary"):
        live.cancel()
    board_view(live, board_from_events(live.plan, live.events()))
    if live.done:
        st.rerun()


def finished_view(live: object) -> None:
    """The final board, the summary figures, each task's output and the downloads."""
    board_view(live, board_from_events(live.plan, live.events()))
    if live.error:
        st.error(f"The run stopped: {live.error}")
    summary = live.summary
    if summary is None:
        return
    st.subheader(f"Summary — {summary.status}")
    metrics_grid(summary_figures(summary))
    st.caption(f"Providers used: {', '.join(summary.providers_used) or 'none'} · saving measured "
               f"against {summary.baseline_model} doing every task")
    for result in summary.task_results:
        where = f" on {result.model}" if result.model else ""
        title = f"{result.title} — {result.status}{where}"
        with st.expander(title):
            st.markdown(result.output or f"_{result.error or 'no output'}_")
    left, right = st.columns(2)
    left.download_button("Download Markdown", run_markdown(live.plan, summary),
                         file_name=f"run-{live.run_id}.md", mime="text/markdown")
    right.download_button("Download JSON", run_json(live.plan, summary, live.events()),
                          file_name=f"run-{live.run_id}.json", mime="application/json")


live = st.session_state.get(LIVE_RUN_KEY)
if live is None:
    plan_step()
    draft = st.session_state.get(DRAFT_KEY)
    if draft is None:
        empty_state("No run yet — write a demand and press 'Plan it' to preview the plan.")
    else:
        preview_step(draft)
elif live.done:
    if st.button("New run"):
        st.session_state.pop(LIVE_RUN_KEY, None)
        st.rerun()
    finished_view(live)
else:
    live_view()
