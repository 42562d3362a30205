"""Leaderboard view: the table's columns and the cost-against-quality scatter (plotly)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

TABLE_COLUMNS = [
    "pareto", "model", "tier", "mode", "quality", "quality_count", "cost_per_success_usd",
    "failure_rate", "p50_latency_ms", "p95_latency_ms", "ttft_p50_ms", "output_tokens_per_s",
    "input_per_mtok", "output_per_mtok", "context_window", "eval_score", "eval_count",
    "person_score", "person_count", "judge_score", "judge_count", "import_score",
    "import_count", "answers", "capabilities",
]


def filter_frame(frame: pd.DataFrame, *, tiers: list[str], capabilities: list[str],
                 min_quality_count: int) -> pd.DataFrame:
    """The rows of the chosen tiers having every chosen capability and enough outcomes."""
    keep = frame["tier"].isin(tiers) if tiers else pd.Series(True, index=frame.index)
    for capability in capabilities:
        keep &= frame["capabilities"].str.split(", ").apply(lambda caps, c=capability: c in caps)
    if min_quality_count:
        keep &= frame["quality_count"] >= min_quality_count
    return frame[keep]


def pareto_figure(frame: pd.DataFrame) -> go.Figure | None:
    """Cost per successful answer against quality; the Pareto frontier drawn and highlighted.
    None when no model has both figures yet."""
    scored = frame.dropna(subset=["cost_per_success_usd", "quality"])
    if scored.empty:
        return None
    figure = go.Figure()
    for on_frontier, name, colour in ((False, "other models", "#9aa5b1"),
                                      (True, "Pareto frontier", "#d9480f")):
        part = scored[scored["pareto"] == on_frontier]
        figure.add_trace(go.Scatter(
            x=part["cost_per_success_usd"], y=part["quality"], mode="markers+text",
            name=name, text=part["model"], textposition="top center",
            marker={"size": 8 + part["quality_count"].clip(upper=40) / 2, "color": colour},
            customdata=part[["quality_count", "tier"]],
            hovertemplate="%{text}<br>$%{x:.6f} per answer<br>quality %{y:.2f} "
                          "(n=%{customdata[0]})<br>%{customdata[1]}<extra></extra>"))
    frontier = scored[scored["pareto"]].sort_values("cost_per_success_usd")
    figure.add_trace(go.Scatter(x=frontier["cost_per_success_usd"], y=frontier["quality"],
                                mode="lines", line={"color": "#d9480f", "dash": "dot"},
                                showlegend=False, hoverinfo="skip"))
    figure.update_layout(xaxis_title="cost per successful answer (USD, log)",
                         yaxis_title="quality (mean outcome score, 0-1)", xaxis_type="log",
                         yaxis_range=[-0.05, 1.1],
                         height=460, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure
