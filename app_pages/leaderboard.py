"""Leaderboard: every model's price, limits, measured speed and failures, and quality."""

import streamlit as st

from core.ledger.leaderboard import leaderboard, leaderboard_frame, task_kinds
from ui.components import empty_state, page_header
from ui.leaderboard import TABLE_COLUMNS, filter_frame, pareto_figure

settings, gateway = page_header("Leaderboard", "Price, context and capabilities beside what the "
                               "ledger measured: latency, speed, failures, cost per answer and "
                               "quality from ratings, the judge, evals and imports.")

left, middle, right = st.columns(3)
with left:
    mode_choice = st.selectbox("Measured in", ["each provider's mode now", "live", "sandbox"])
    kind = st.selectbox("Task kind", [None, *task_kinds(settings.ledger())],
                        format_func=lambda k: "every kind" if k is None else k)
with middle:
    tiers = st.multiselect("Tiers", ["economy", "balanced", "premium"])
    capabilities = st.multiselect("Needs", ["stream", "json_schema", "tools", "live_search",
                                            "reasoning", "vision"])
with right:
    min_count = st.number_input("Quality from at least N outcomes", 0, 10_000, 0)

mode = None if mode_choice.startswith("each") else mode_choice
rows = leaderboard(settings.catalog, gateway.mode, task_kind=kind, mode=mode,
                   ledger=settings.ledger())
frame = filter_frame(leaderboard_frame(rows), tiers=tiers, capabilities=capabilities,
                     min_quality_count=int(min_count))
if frame.empty:
    empty_state("No model matches these filters.")
    st.stop()

st.caption("Click a column header to sort. ★ marks the cost-against-quality Pareto frontier; "
           "quality is the mean outcome score (0–1), with how many outcomes it stands on.")
st.dataframe(frame[TABLE_COLUMNS], hide_index=True, use_container_width=True,
             height=35 * len(frame) + 38, column_config={
    "pareto": st.column_config.CheckboxColumn("★", width="small"),
    "input_per_mtok": st.column_config.NumberColumn("in $/M", format="$%.3f"),
    "output_per_mtok": st.column_config.NumberColumn("out $/M", format="$%.3f"),
    "context_window": st.column_config.NumberColumn("context", format="%d"),
    "p50_latency_ms": st.column_config.NumberColumn("p50 ms", format="%.0f"),
    "p95_latency_ms": st.column_config.NumberColumn("p95 ms", format="%.0f"),
    "ttft_p50_ms": st.column_config.NumberColumn("TTFT ms", format="%.0f"),
    "output_tokens_per_s": st.column_config.NumberColumn("tok/s", format="%.0f"),
    "failure_rate": st.column_config.NumberColumn("failures", format="percent"),
    "cost_per_success_usd": st.column_config.NumberColumn("$ per answer", format="$%.6f"),
    "quality": st.column_config.NumberColumn("quality", format="%.2f"),
    "quality_count": st.column_config.NumberColumn("n", format="%d"),
})

st.subheader("Cost against quality")
figure = pareto_figure(frame)
if figure is None:
    empty_state("No model has both a cost per answer and a quality score yet: run an eval "
                "suite (Evals page or `orchestra eval`) or rate some answers.")
else:
    st.plotly_chart(figure, use_container_width=True)
