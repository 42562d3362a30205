"""Plotly figures for the dashboard, built from the frames ``core`` returns (no decisions)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
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


def _by_provider(frame: pd.DataFrame, make: Callable[[str, pd.DataFrame, str], go.BaseTraceType]
                 ) -> list[go.BaseTraceType]:
    """One trace per provider (in name order, each in its own colour). Built with graph
    objects rather than plotly express, which spends seconds grouping a large frame."""
    colours = provider_colours(frame["provider"].unique())
    return [make(name, rows, colours[name]) for name, rows in frame.groupby("provider", sort=True)]


def spend_by_day(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars: spend per day, one colour per provider."""
    days = frame.assign(day=frame["day"].astype(str))
    fig = go.Figure(_by_provider(days, lambda name, rows, colour: go.Bar(
        x=rows["day"], y=rows["spend_usd"], name=name, marker_color=colour,
        customdata=rows["calls"], hovertemplate="%{x}: $%{y:.4f} (%{customdata} calls)")))
    fig.update_layout(barmode="stack", bargap=0.4, title="Spend by provider per day",
                      yaxis_title="spend (USD)")
    fig.update_xaxes(type="category")
    return _tidy(fig)


def provider_share(frame: pd.DataFrame, cap: float) -> go.Figure:
    """Each provider's share of calls, with the concentration cap as a dashed line."""
    colours = provider_colours(frame["provider"])
    fig = go.Figure(go.Bar(x=frame["provider"], y=frame["share"],
                           marker_color=[colours[p] for p in frame["provider"]],
                           customdata=frame["calls"],
                           hovertemplate="%{x}: %{y:.1%} (%{customdata} calls)"))
    fig.add_hline(y=cap, line_dash="dash", line_color="#dc2626",
                  annotation_text=f"concentration cap {cap:.0%}", annotation_position="top right")
    fig.update_yaxes(tickformat=".0%", range=[0, max(1.0, cap + 0.05)], title="share of calls")
    fig.update_layout(title="Share of calls by provider", showlegend=False)
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
    periods = frame["period"].dt.strftime("%Y-%m-%d")
    fig = go.Figure([go.Bar(x=periods, y=frame[column], name=column.removesuffix("_tokens")
                            .replace("_", " ")) for column in
                     ("input_tokens", "cached_input_tokens", "output_tokens")])
    fig.update_layout(barmode="stack", bargap=0.4, title="Tokens over time", yaxis_title="tokens")
    fig.update_xaxes(type="category")
    return _tidy(fig)


STATUS_COLOURS = {"done": "#16a34a", "failed": "#dc2626", "cancelled": "#9ca3af",
                  "interrupted": "#f59e0b", "running": "#4f46e5"}


def cost_per_run(frame: pd.DataFrame) -> go.Figure:
    """Spend of each recent run as horizontal bars (newest on top), each labelled by its id and
    the start of its demand, so long labels never overlap; coloured by the run's status."""
    runs = frame.assign(label=frame["run_id"].str[:8] + " · " + frame["demand"].fillna("")
                        .str[:40], status=frame["status"].fillna("unknown"))
    fig = go.Figure([go.Bar(y=rows["label"], x=rows["spend_usd"], name=status, orientation="h",
                            marker_color=STATUS_COLOURS.get(str(status), "#6b7280"),
                            customdata=rows[["calls", "failures"]],
                            hovertemplate="%{y}: $%{x:.4f} (%{customdata[0]} calls, "
                                          "%{customdata[1]} failed)")
                     for status, rows in runs.groupby("status", sort=True)])
    fig.update_layout(bargap=0.3, title="Cost per run", xaxis_title="spend (USD)")
    fig.update_yaxes(categoryorder="array", categoryarray=list(runs["label"])[::-1])
    return _tidy(fig, height=max(260, 26 * len(runs) + 140))


def failure_rate_over_time(frame: pd.DataFrame) -> go.Figure:
    """Failure rate per provider per day, one line (and colour) per provider."""
    days = frame.assign(day=frame["day"].astype(str))
    fig = go.Figure(_by_provider(days, lambda name, rows, colour: go.Scatter(
        x=rows["day"], y=rows["failure_rate"], name=name, mode="lines+markers",
        line_color=colour, customdata=rows[["failures", "calls"]],
        hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]} calls)")))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], title="failed share of calls")
    fig.update_xaxes(type="category")
    fig.update_layout(title="Failure rate per provider")
    return _tidy(fig)


def error_classes(frame: pd.DataFrame) -> go.Figure:
    """Failed attempts by error class (horizontal bars), split by provider."""
    fig = go.Figure(_by_provider(frame, lambda name, rows, colour: go.Bar(
        y=rows["error_class"], x=rows["failures"], name=name, orientation="h",
        marker_color=colour)))
    fig.update_layout(barmode="stack", title="Failed attempts by error class",
                      xaxis_title="failed attempts")
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
