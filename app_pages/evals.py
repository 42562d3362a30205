"""Evals: run a suite on several models and read the pass/fail matrix, cell by cell."""

from decimal import Decimal

import streamlit as st

from core.errors import OrchestraError
from core.evals import load_suite
from core.evals.session import EvalJob, eval_policy
from ui.components import empty_state, page_header
from ui.evals import cell_lines, matrix_frame, shipped_suites, summary_frame
from ui.jobs import default_compare_models
from ui.views import money

JOB_KEY = "eval_job"
POLL_S = 0.5

settings, gateway = page_header("Evals", "A suite of cases and assertions on several models at "
                               "once, through the call stack, within a budget.")
catalog = settings.catalog


def start_form() -> None:
    """Suite, models, repeats, budget and the Run button."""
    suites = shipped_suites()
    name = st.selectbox("Suite (data/evals/)", list(suites))
    path = suites[name]
    try:
        suite = load_suite(path, catalog)
    except OrchestraError as exc:
        st.error(str(exc))
        return
    st.caption(f"{suite.description or suite.name} · {len(suite.cases)} cases")
    with st.expander("Suite file"):
        st.code(path.read_text(encoding="utf-8"), language="yaml")
    models = st.multiselect("Models", list(catalog.models),
                            default=default_compare_models(catalog))
    left, middle, right = st.columns(3)
    repeat = left.number_input("Runs of each case", 1, 20, 1)
    budget = middle.number_input("Budget (USD)", 0.01, 100.0, 1.0, 0.5)
    judges = [None, *catalog.models]
    judge = right.selectbox("Judge for rubrics", judges,
                            index=judges.index(suite.judge) if suite.judge in judges else 0,
                            format_func=lambda m: "the suite's judge" if m is None else m)
    if st.button("Run the suite", type="primary", disabled=not models):
        st.session_state[JOB_KEY] = EvalJob.start(
            suite, models, settings=settings,
            policy=eval_policy(Decimal(str(budget)), settings.policy),
            repeat=int(repeat), judge_model=judge)


@st.fragment(run_every=POLL_S)
def show_job() -> None:
    """Progress while the job runs; then the matrix, the summary and each cell's output."""
    job: EvalJob | None = st.session_state.get(JOB_KEY)
    if job is None:
        empty_state("Pick a suite and models, then run it.")
        return
    if not job.done:
        st.progress(job.done_count / max(job.total, 1),
                    text=f"{job.done_count}/{job.total} answers")
        return
    if job.error is not None:
        st.error(f"The eval stopped: {job.error}")
        return
    show_report(job)


def show_report(job: EvalJob) -> None:
    report = job.report
    assert report is not None
    passed = sum(r.passed for r in report.results)
    st.success(f"{passed}/{len(report.results)} passed · total "
               f"{money(report.total_cost_usd)} · {report.wall_ms / 1000:.1f} s")
    st.subheader("Pass/fail matrix")
    st.caption("Click a cell to see that model's answer and each assertion.")
    matrix = matrix_frame(report)
    picked = st.dataframe(matrix, hide_index=True, use_container_width=True,
                          on_select="rerun", selection_mode="single-cell", key="eval_matrix")
    st.subheader("Per model")
    st.dataframe(summary_frame(report), hide_index=True, use_container_width=True,
                 column_config={"pass rate": st.column_config.ProgressColumn(
                     min_value=0.0, max_value=1.0, format="percent"),
                     "cost": st.column_config.NumberColumn(format="$%.6f"),
                     "judge cost": st.column_config.NumberColumn(format="$%.6f"),
                     "p50 ms": st.column_config.NumberColumn(format="%.0f"),
                     "mean ms": st.column_config.NumberColumn(format="%.0f")})
    show_cell(report, matrix, picked)


def show_cell(report, matrix, picked) -> None:
    """The selected cell's answers (one per run) and their assertions."""
    cells = getattr(getattr(picked, "selection", None), "cells", None) or []
    case, model = report.case_ids[0], report.models[0]
    if cells:
        row, column = cells[0]
        if column in report.models:
            case, model = matrix.iloc[row]["case"], column
    st.subheader(f"{case} · {model}")
    for result in report.cell(case, model):
        if report.repeat > 1:
            st.markdown(f"**run {result.repeat}**")
        for ok, line in cell_lines(result):
            (st.success if ok else st.error)(line)
        if result.output:
            st.code(result.output, language="json" if result.output.lstrip()[:1] in "[{"
                    else None, wrap_lines=True)
        st.caption(f"{result.mode} · {result.latency_ms:.0f} ms · {money(result.cost_usd)}")


start_form()
show_job()
