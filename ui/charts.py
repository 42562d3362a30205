"""Plotly figures for the dashboard, built from the frames ``core`` returns (no decisions)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

LATENCY_QUANTILES = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p95_ms", "p95"), ("p99_ms", "p99"))
# One colour per provider on every chart and every render (the vendors' own hues where they
# have one); a provider not listed gets a colour from its name, so it is stable too.
PROVIDER_COLOURS = {
    "anthropic": "#d97757", "openai": "#10a37f", "google": "#4285f4", "perplexity": "#20808d",
    "groq": "#f55036", "xai": "#1f2937", "deepseek": "#4d6bfe", "ollama": "#a855f7",
}
SPARE_COLOURS = ("#e11d48", "#ca8a04", "#0891b2", "#65a30d", "#9333ea", "#db2777", "#78716c")
OUTCOME_PATTERNS = {"ok": "", "running": "", "failed": "x", "cancelled": "/", "skipped": "/"}


def provider_colours(providers: Iterable[str]) -> dict[str, str]:
    """The colour of each provider, the same on every chart and between renders."""
    return {name: PROVIDER_COLOURS.get(name) or
            SPARE_COLOURS[zlib.crc32(name.encode()) % len(SPARE_COLOURS)] for name in providers}


def _tidy(fig: go.Figure, height: int = 340) -> go.Figure:
    """Title top left, the legend in its own row under it (never over the plot or the axis
    labels), small margins."""
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 90, "b": 10},
                      title={"x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0,
                              "yanchor": "bottom", "title": {"text": ""}})
    return fig


def spend_by_day(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars: spend per day, one colour per provider."""
    days = frame.assign(day=frame["day"].astype(str))
    fig = px.bar(days, x="day", y="spend_usd", color="provider", title="Spend by provider per day",
                 labels={"spend_usd": "spend (USD)", "day": ""}, hover_data=["calls"],
                 color_discrete_map=provider_colours(days["provider"].unique()))
    fig.update_layout(barmode="stack", bargap=0.4)
    fig.update_xaxes(type="category")
    return _tidy(fig)


def provider_share(frame: pd.DataFrame, cap: float) -> go.Figure:
    """Each provider's share of calls, with the concentration cap as a dashed line."""
    fig = px.bar(frame, x="provider", y="share", title="Share of calls by provider", color="provider",
                 labels={"share": "share of calls", "provider": ""}, hover_data=["calls"],
                 color_discrete_map=provider_colours(frame["provider"].unique()))
    fig.update_layout(showlegend=False)
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
    """Spend of each recent run as horizontal bars (newest on top), each labelled by its id and
    the start of its demand, so long labels never overlap."""
    ordered = frame.assign(
        label=lambda f: f["run_id"].str[:8] + " · " + f["demand"].fillna("").str[:40])
    fig = px.bar(ordered, y="label", x="spend_usd", color="status", orientation="h",
                 title="Cost per run", labels={"label": "", "spend_usd": "spend (USD)"},
                 hover_data=["calls", "failures"],
                 category_orders={"label": list(ordered["label"])})
    fig.update_layout(bargap=0.3)
    return _tidy(fig, height=max(260, 26 * len(ordered) + 140))


def failure_rate_over_time(frame: pd.DataFrame) -> go.Figure:
    """Failure rate per provider per day, one line (and colour) per provider."""
    days = frame.assign(day=frame["day"].astype(str))
    fig = px.line(days, x="day", y="failure_rate", color="provider", markers=True,
                  title="Failure rate per provider", hover_data=["calls", "failures"],
                  labels={"failure_rate": "failed share of calls", "day": ""},
                  color_discrete_map=provider_colours(days["provider"].unique()))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(type="category")
    return _tidy(fig)


def error_classes(frame: pd.DataFrame) -> go.Figure:
    """Failed attempts by error class (horizontal bars), split by provider."""
    fig = px.bar(frame, y="error_class", x="failures", color="provider", orientation="h",
                 title="Failed attempts by error class",
                 labels={"error_class": "", "failures": "failed attempts"},
                 color_discrete_map=provider_colours(frame["provider"].unique()))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(categoryorder="total ascending")
    return _tidy(fig, height=max(300, 30 * frame["error_class"].nunique() + 160))


def run_timeline(rows: list[dict[str, object]], task_order: list[str]) -> go.Figure:
    """Gantt of a run's attempts: one bar per attempt on its task's row (rows in ``task_order``),
    coloured by provider; a failed attempt is hatched and labelled with its error class."""
    frame = pd.DataFrame(rows)
    frame["start"] = frame["start"].map(datetime.fromtimestamp)
    frame["end"] = frame["end"].map(datetime.fromtimestamp)
    fig = px.timeline(frame, x_start="start", x_end="end", y="task", color="provider",
                      pattern_shape="outcome", pattern_shape_map=OUTCOME_PATTERNS, text="label",
                      hover_data=["model", "outcome", "label"], title="Attempts",
                      category_orders={"task": task_order},
                      color_discrete_map=provider_colours(frame["provider"].unique()))
    fig.update_traces(textposition="inside", insidetextanchor="start", textfont_size=11)
    fig.update_yaxes(title="")
    return _tidy(fig, height=max(260, 34 * frame["task"].nunique() + 160))
