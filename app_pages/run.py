"""Run: a demand becomes a plan you can edit, then runs in waves while you watch. Every run has
its own URL (``?run=ID``): a reload reattaches to a run still going or reopens a finished one."""

import time
from decimal import Decimal

import pandas as pd
import streamlit as st

from core.errors import OrchestraError
from core.planning.plan import TASK_KINDS, Plan
from core.planning.planner import plan_offline
from ui import charts
from ui.components import (
    RUN_PARAM, empty_state, live_runs, metrics_grid, page_header, shared_breakers, task_card,
)
from ui.jobs import plan_from_upload, plan_with_model, planner_models, start_run
from ui.live import LiveRun
from ui.runs import RunView, deliverable, open_run, run_json, run_markdown, summary_figures
from ui.tools_view import render_tool_calls, tool_calls_by_task
from ui.views import (
    RunBoard, board_from_events, money, plan_from_rows, plan_rows, tier_options,
)

DRAFT_KEY = "draft_plan"
BUDGET_KEY = "run_budget"
DRAFT_NO_KEY = "draft_no"
POLL_S = 0.4  # the live view refreshes 2.5 times a second
PLANNERS = {"offline": "Offline (deterministic)", "llm": "LLM planner", "file": "Plan file"}

settings, gateway = page_header("Run", "Describe what you need; Orchestra plans it, routes each "
                               "step to a fitting model and runs the steps in parallel waves.")
catalog = settings.catalog


def plan_step() -> None:
    """Demand, budget (the policy's per-run budget unless changed) and planner; 'Plan it'
    stores a draft plan for the preview, or says plainly why it cannot."""
    demand = st.text_area("Demand", height=100, placeholder="Compare PostgreSQL, DuckDB and "
                          "SQLite for analytics and write a short report")
    left, middle, right = st.columns(3)
    budget = left.number_input("Budget (USD)", min_value=0.0, max_value=1_000_000.0,
                               value=float(settings.policy.budget.per_run_usd), step=0.5,
                               format="%.4f", help="Default: the policy's per-run budget "
                               "(Models & budgets).")
    planner = middle.radio("Planner", list(PLANNERS), format_func=PLANNERS.get, horizontal=True)
    model = right.selectbox("Planner model (LLM planner)", planner_models(catalog),
                            disabled=planner != "llm")
    upload = st.file_uploader("Plan file (.json, .yaml)", type=["json", "yaml", "yml"])
    if not st.button("Plan it", type="primary"):
        return
    if budget <= 0:
        st.error("The budget must be more than $0: enter how much this run may spend.")
        return
    began = time.monotonic()
    try:
        with st.spinner("Planning…", show_time=True):
            draft, notes = make_plan(demand.strip(), planner, model, upload)
    except OrchestraError as exc:
        st.error(f"Not planned: {exc}")
        return
    st.session_state[DRAFT_KEY], st.session_state[BUDGET_KEY] = draft, budget
    st.session_state[DRAFT_NO_KEY] = st.session_state.get(DRAFT_NO_KEY, 0) + 1  # fresh editor
    st.caption(f"Planned in {time.monotonic() - began:.1f} s.")
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
        result = plan_with_model(demand, model, settings, shared_breakers())
        return result.plan, [f"source: {result.source}", *result.notes]
    return plan_offline(demand), []


def preview_step(draft: Plan) -> None:
    """The editable plan: prompts, pins, dependencies; then Start."""
    st.subheader("Plan preview")
    st.caption(f"{len(draft.tasks)} tasks in {len(draft.waves())} waves. Edit prompts, pin a tier "
               "or a model, change dependencies (ids separated by commas), then start.")
    edited = st.data_editor(
        pd.DataFrame(plan_rows(draft)), key=f"plan_editor_{st.session_state.get(DRAFT_NO_KEY, 0)}",
        num_rows="dynamic", hide_index=True, disabled=["wave"], width="stretch",
        column_config={
            "id": st.column_config.TextColumn(width="small"),
            "title": st.column_config.TextColumn(width="medium"),
            "kind": st.column_config.SelectboxColumn(options=list(TASK_KINDS), required=True,
                                                     width="small"),
            "tier": st.column_config.SelectboxColumn(options=tier_options(), width="small"),
            "model": st.column_config.SelectboxColumn(options=["", *catalog.models],
                                                      width="small"),
            "depends_on": st.column_config.TextColumn(width="small"),
            "wave": st.column_config.NumberColumn(width="small"),
            "prompt": st.column_config.TextColumn(width="large"),
        })
    budget = st.session_state.get(BUDGET_KEY, float(settings.policy.budget.per_run_usd))
    if st.button(f"Start run (budget {money(budget)})", type="primary"):
        try:
            plan = plan_from_rows(draft.demand, edited.to_dict("records"), base=draft,
                                  catalog=catalog)
            live = live_runs().add(start_run(plan, Decimal(str(budget)), settings,
                                             shared_breakers()))
        except OrchestraError as exc:
            st.error(f"Cannot start: {exc}")
            return
        st.session_state.pop(DRAFT_KEY, None)
        st.query_params[RUN_PARAM] = live.run_id
        st.rerun()


def board_view(run_id: str, plan: Plan, board: RunBoard, budget: Decimal | None) -> None:
    """Status line, cost against budget, waves of task cards and the attempts timeline."""
    now = time.time()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(board.counts().items()))
    st.markdown(f"**Run `{run_id}`** — {board.status} · {counts}")
    if budget:
        share = float(min(board.cost_usd / budget, Decimal(1)))
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
        st.plotly_chart(charts.run_timeline(rows, plan.ids), key="timeline")


@st.fragment(run_every=POLL_S)
def live_view(live: LiveRun) -> None:
    """Polls the run's events; a full rerun once it ends shows it read back from the ledger."""
    if st.button("Cancel run", type="secondary"):
        live.cancel()
    board_view(live.run_id, live.plan, board_from_events(live.plan, live.events()),
               live.session.budget_usd)
    if live.done:
        st.rerun()


def blocked_tasks(board: RunBoard) -> None:
    """Why tasks did not run, in plain sight (a tiny budget, a failed dependency...)."""
    stopped = [c for c in board.cards.values() if c.status in ("failed", "skipped")]
    if stopped:
        first = stopped[0]
        st.error(f"{len(stopped)} of {len(board.cards)} tasks did not finish. "
                 f"{first.title}: {first.reason or first.status}.", icon="🚫")


def finished_view(view: RunView, error: str | None = None) -> None:
    """The deliverable first (Markdown, with downloads), then the board, the figures and each
    task's output."""
    plan, board, summary = view.plan, view.board, view.summary
    st.caption(f"> {plan.demand}")
    if error:
        st.error(f"The run stopped: {error}")
    blocked_tasks(board)
    if summary is not None:
        st.subheader(f"Deliverable — {summary.status}")
        with st.container(border=True):
            st.markdown(deliverable(plan, summary) or "_no output_")
        left, middle, right = st.columns(3)
        left.download_button("Download deliverable", deliverable(plan, summary),
                             file_name=f"deliverable-{view.run.run_id}.md", mime="text/markdown")
        middle.download_button("Download report (Markdown)", run_markdown(plan, summary, board),
                               file_name=f"run-{view.run.run_id}.md", mime="text/markdown")
        right.download_button("Download JSON", run_json(plan, summary, view.attempts),
                              file_name=f"run-{view.run.run_id}.json", mime="application/json")
        st.subheader("Summary")
        metrics_grid(summary_figures(summary, board), per_row=4)
        st.caption(f"Providers used: {', '.join(summary.providers_used) or 'none'} · saving "
                   f"measured against {summary.baseline_model} doing every task")
    board_view(view.run.run_id, plan, board, view.run.budget_usd)
    if summary is not None:
        for result in summary.task_results:
            where = f" on {result.model}" if result.model else ""
            with st.expander(f"{result.title} — {result.status}{where}"):
                st.markdown(result.output or f"_{result.error or 'no output'}_")
                render_tool_calls(tool_calls_by_task(view.run.run_id).get(result.id, []))


def show_run(run_id: str) -> None:
    """The run named in the URL: live if it is still going here, else from the ledger."""
    if st.button("New run"):
        st.query_params.clear()
        st.rerun()
    live = live_runs().get(run_id)
    if live is not None and not live.done:
        live_view(live)
        return
    view = open_run(run_id, settings.ledger())
    if view is None:
        empty_state(f"No run `{run_id}` in the ledger — pick one on the Runs page.")
    elif view.run.status == "running" and live is None:
        st.info("This run is going on in another process; reload to see its progress.")
        board_view(run_id, view.plan, view.board, view.run.budget_usd)
    else:
        finished_view(view, live.error if live is not None else None)


run_id = st.query_params.get(RUN_PARAM)
if run_id:
    show_run(run_id)
else:
    plan_step()
    draft = st.session_state.get(DRAFT_KEY)
    if draft is None:
        empty_state("No run yet — write a demand and press 'Plan it' to preview the plan.")
    else:
        preview_step(draft)
