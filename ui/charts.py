"""Plotly figures for the dashboard, built from the frames ``core`` returns (no decisions)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

LATENCY_QUANTILES = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p95_ms", "p95"), ("p99_ms", "p99"))


def _tidy(fig: go.Figure, height: int = 340) -> go.Figure:
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def spend_by_day(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars: spend per day, one colour per provider."""
    days = frame.assign(day=frame["day"].astype(str))
    fig = px.bar(days, x="day", y="spend_usd", color="provider", title="Spend by provider per day",
                 labels={"spend_usd": "spend (USD)", "day": ""}, hover_data=["calls"])
    fig.update_layout(barmode="stack", bargap=0.4)
    fig.update_xaxes(type="category")
    return _tidy(fig)


def provider_share(frame: pd.DataFrame, cap: float) -> go.Figure:
    """Each provider's share of calls, with the concentration cap as a dashed line."""
    fig = px.bar(frame, x="provider", y="share", title="Share of calls by provider",
                 labels={"share": "share of calls", "provider": ""}, hover_data=["calls"])
    fig.add_hline(y=cap, line_dash="dash", line_color="#dc2626",
                  annotation_text=f"concentration cap {cap:.0%}", annotation_position="top right")
    fig.update_yaxes(tickformat=".0%", range=[0, max(1.0, cap + 0.05)])
    return _tidy(fig)


def latency_ladder(frame: pd.DataFrame) -> go.Figure:
    """Latency distribution per model: a p50 → p99 range with a marker at each quantile."""
    fig = go.Figure()
    for _, row in frame.iterrows():
        fig.add_trace(go.Scatter(x=[row["p50_ms"], row["p99_ms"]], y=[row["model"]] * 2,
                                 mode="lines", line={"color": "#c7d2fe", "width": 8},
                                 showlegend=False, hoverinfo="skip"))
    for column, label in LATENCY_QUANTILES:
        fig.add_trace(go.Scatter(x=frame[column], y=frame["model"], mode="markers", name=label,
                                 marker={"size": 10}))
    fig.update_layout(title="Latency per model (successful calls)", xaxis_title="ms")
    return _tidy(fig, height=max(300, 40 * len(frame) + 120))


def tokens_over_time(frame: pd.DataFrame) -> go.Figure:
    """Input, cached input and output tokens per period, stacked bars."""
    periods = frame.assign(period=frame["period"].dt.strftime("%Y-%m-%d"))
    tidy = periods.melt(id_vars="period", value_vars=["input_tokens", "cached_input_tokens",
                                                      "output_tokens"],
                        var_name="kind", value_name="tokens")
    fig = px.bar(tidy, x="period", y="tokens", color="kind", title="Tokens over time",
                 labels={"period": ""})
    fig.update_layout(barmode="stack", bargap=0.4)
    fig.update_xaxes(type="category")
    return _tidy(fig)


def cost_per_run(frame: pd.DataFrame) -> go.Figure:
    """Spend of each recent run (newest right), labelled by its demand."""
    ordered = frame.iloc[::-1].assign(
        label=lambda f: f["run_id"].str[:8] + " · " + f["demand"].fillna("").str[:30])
    fig = px.bar(ordered, x="label", y="spend_usd", color="status", title="Cost per run",
                 labels={"label": "", "spend_usd": "spend (USD)"}, hover_data=["calls", "failures"])
    fig.update_layout(bargap=0.5 if len(ordered) > 3 else 0.8)
    return _tidy(fig)


def run_timeline(rows: list[dict[str, object]], task_order: list[str]) -> go.Figure:
    """Gantt of a run's attempts: one bar per attempt on its task's row (rows in ``task_order``),
    coloured by provider."""
    frame = pd.DataFrame(rows)
    frame["start"] = frame["start"].map(datetime.fromtimestamp)
    frame["end"] = frame["end"].map(datetime.fromtimestamp)
    fig = px.timeline(frame, x_start="start", x_end="end", y="task", color="provider",
                      hover_data=["model", "outcome"], title="Attempts",
                      category_orders={"task": task_order})
    fig.update_yaxes(title="")
    return _tidy(fig, height=max(260, 34 * frame["task"].nunique() + 140))
