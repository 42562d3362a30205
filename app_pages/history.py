"""History: what every call cost and how long it took, filtered, charted and exportable."""

import pandas as pd
import streamlit as st

from core import ledger
from core.catalog import TIERS
from ui.figures import (
    attempts_csv, attempts_parquet, baseline_price, headline_figures, run_choices,
)
from ui import charts
from ui.components import empty_state, metrics_grid, page_header

PAGE_SIZE = 50
ATTEMPT_COLUMNS = [
    "started_at", "provider", "model", "tier", "mode", "status", "cached", "error_class",
    "cost_usd", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "run_id", "task_id",
    "wave", "attempt_no", "fallback_from", "reason", "comparison_id", "attempt_id",
]

settings, gateway = page_header("History", "Every attempt in the ledger: spend, calls, failures "
                               "and latency, aggregated in DuckDB.")
catalog, policy, store = settings.catalog, settings.policy, settings.ledger()


def filters() -> ledger.HistoryFilter:
    """The sidebar filters as a ``HistoryFilter``."""
    with st.sidebar:
        st.header("Filters")
        days = st.date_input("Dates (UTC)", value=())
        providers = st.multiselect("Providers", list(catalog.providers))
        models = st.multiselect("Models", [m for m in catalog.models
                                           if not providers or m.split(":")[0] in providers])
        tiers = st.multiselect("Tiers", list(TIERS))
        runs = run_choices(store)
        run_id = st.selectbox("Run", [None, *runs], format_func=lambda r: "all runs" if r is None
                              else runs[r])
        mode = st.radio("Mode", [None, "live", "sandbox"], horizontal=True,
                        format_func=lambda m: "all" if m is None else m)
    since, until = (list(days) + [None, None])[:2] if days else (None, None)
    return ledger.HistoryFilter(since=since, until=until or since, providers=providers,
                                models=models, tiers=tiers, run_id=run_id, mode=mode)


def show_headline(head: ledger.Headline, baseline_model: str) -> None:
    """The headline figures and what the saving is measured against."""
    metrics_grid(headline_figures(head), per_row=3)
    st.caption(f"Saving: what the same tokens would have cost on {baseline_model or 'the baseline'}"
               ", minus what was spent.")


def charts_grid(frames: dict[str, pd.DataFrame]) -> None:
    """The charts, two per row: spend, share, latency, tokens, then cost per run."""
    left, right = st.columns(2)
    left.plotly_chart(charts.spend_by_day(frames["spend"]), key="spend")
    right.plotly_chart(charts.provider_share(frames["share"], policy.concentration.cap),
                       key="share")
    left, right = st.columns(2)
    if frames["latency"].empty:
        left.caption("No successful calls to chart latency for.")
    else:
        left.plotly_chart(charts.latency_ladder(frames["latency"]), key="latency")
    right.plotly_chart(charts.tokens_over_time(frames["tokens"]), key="tokens")
    if not frames["runs"].empty:
        st.plotly_chart(charts.cost_per_run(frames["runs"]), key="runs")


def failures_view(frames: dict[str, pd.DataFrame], failures: int) -> None:
    """Failure rate per provider over time, and the error classes of the failed attempts."""
    st.subheader("Failures")
    if not failures:
        st.caption("No failed attempts in this selection.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.failure_rate_over_time(frames["failure_rate"]), key="failure_rate")
    right.plotly_chart(charts.error_classes(frames["error_classes"]), key="error_classes")


def attempts_table(flt: ledger.HistoryFilter, calls: int) -> None:
    """The attempts, one page at a time, newest first, with a CSV export of all of them."""
    st.subheader("Attempts")
    pages = max((calls + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    left, middle, right, _ = st.columns([1, 1, 1, 2], vertical_alignment="bottom")
    page = left.number_input(f"Page (of {pages:,})", 1, pages, 1)
    middle.download_button("Download CSV", lambda: attempts_csv(flt, store),
                           file_name="orchestra-attempts.csv", mime="text/csv",
                           help="Every attempt matching the filters, not just this page.")
    right.download_button("Download Parquet", lambda: attempts_parquet(flt, store),
                          file_name="orchestra-attempts.parquet",
                          mime="application/vnd.apache.parquet",
                          help="Every attempt matching the filters, not just this page.")
    frame = ledger.attempts_page(flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                                 ledger=store)
    st.dataframe(frame, hide_index=True, column_order=ATTEMPT_COLUMNS, width="stretch",
                 column_config={"cost_usd": st.column_config.NumberColumn(format="$%.6f"),
                                "latency_ms": st.column_config.NumberColumn(format="%.0f"),
                                "ttft_ms": st.column_config.NumberColumn(format="%.0f")})


@st.cache_data(max_entries=16, show_spinner=False)
def history_data(db: str, flt_json: str, version: tuple[int, str, int, int], baseline_model: str
                 ) -> tuple[ledger.Headline, dict[str, pd.DataFrame]]:
    """The headline and every chart's frame for a filter of the ledger file ``db``, cached
    while its ``version`` is unchanged (a rerun or a return to the page reads nothing again)."""
    flt, source = ledger.HistoryFilter.model_validate_json(flt_json), ledger.Ledger(db)
    price = baseline_price(catalog, policy)[1] if baseline_model else None
    head = ledger.headline(flt, baseline=price, ledger=source)
    return head, (ledger.history_frames(flt, ledger=source) if head.calls else {})


flt = filters()
baseline_model, _ = baseline_price(catalog, policy)
head, frames = history_data(str(store.path), flt.model_dump_json(),
                            ledger.ledger_version(ledger=store), baseline_model)
if head.calls:
    show_headline(head, baseline_model)
    charts_grid(frames)
    failures_view(frames, head.failures)
    attempts_table(flt, head.calls)
elif flt == ledger.HistoryFilter() or ledger.headline(ledger=store).calls == 0:
    empty_state("No runs yet — start one on the Run page.")
else:
    empty_state("No attempts match these filters.")
