"""The Router page's view model: evaluations of the learned router as plotly figures.

Computing stays in core (``core.routing.evaluation``, ``core.routing.learned_ranker``); this
module reads uploaded tables, splits the ledger's own outcomes for a held-out check, and draws.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import plotly.graph_objects as go
from sklearn.model_selection import train_test_split

from core.ledger import Ledger
from core.ledger.outcomes import outcome_summary, outcomes_frame
from core.routing.evaluation import MIN_PROMPTS, Evaluation, Point, evaluate
from core.routing.learned import DEFAULT_SEED, OutcomeTable
from core.routing.learned_ranker import TrainedRouter
from core.routing.routerbench import read_routerbench

HELD_OUT_SHARE = 0.3


def evaluate_uploads(train_bytes: bytes, test_bytes: bytes, seed: int = DEFAULT_SEED) -> Evaluation:
    """``router eval`` on two uploaded RouterBench CSVs."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / "train.csv", Path(folder) / "test.csv"]
        for path, data in zip(paths, (train_bytes, test_bytes), strict=True):
            path.write_bytes(data)
        return evaluate(read_routerbench(paths[0]), read_routerbench(paths[1]), seed)


def evaluate_ledger(ledger: Ledger, seed: int = DEFAULT_SEED) -> Evaluation | None:
    """The same evaluation on the ledger's own outcomes: a seeded 70/30 split of its prompts
    (None when there are too few prompts to split)."""
    table = OutcomeTable.from_frame(outcomes_frame(ledger))
    if len(table.prompts) < int(MIN_PROMPTS / (1 - HELD_OUT_SHARE)) + 1 or len(table.models) < 2:
        return None
    train_rows, test_rows = train_test_split(list(range(len(table.prompts))),
                                             test_size=HELD_OUT_SHARE, random_state=seed)
    return evaluate(table.subset(train_rows), table.subset(test_rows), seed)


def policy_point(result: Evaluation, quality_weight: float) -> Point:
    """The router's operating point at the knob nearest the policy's quality weight."""
    return min(result.points, key=lambda p: abs((p.knob or 0.0) - quality_weight))


def curve_figure(result: Evaluation, quality_weight: float) -> go.Figure:
    """Router curve and hull, single models, zero router, oracle, random choice, cascades and
    the policy's operating point, cost (USD, log axis) against accuracy."""
    figure = go.Figure()
    ordered = sorted(result.points, key=lambda p: p.cost_usd)
    figure.add_scatter(x=[p.cost_usd for p in ordered], y=[p.accuracy for p in ordered],
                       mode="markers", name="router (each knob)", marker={"size": 5})
    figure.add_scatter(x=[p.cost_usd for p in result.router_hull],
                       y=[p.accuracy for p in result.router_hull], mode="lines",
                       name=f"router hull (AIQ {result.router_aiq:.3f})")
    figure.add_scatter(x=[p.cost_usd for p in result.zero_router],
                       y=[p.accuracy for p in result.zero_router], mode="lines",
                       line={"dash": "dash"}, name=f"zero router (AIQ {result.zero_router_aiq:.3f})")
    figure.add_scatter(x=[s.cost_usd for s in result.singles],
                       y=[s.accuracy for s in result.singles], mode="markers+text",
                       text=[s.model.split("/")[-1] for s in result.singles],
                       textposition="top center", name="single models",
                       marker={"symbol": "diamond", "size": 9})
    if result.cascade_points:
        figure.add_scatter(x=[c.cost_usd for c in result.cascade_points],
                           y=[c.accuracy for c in result.cascade_points], mode="lines+markers",
                           name="cascades (agreement check)", line={"dash": "dot"})
    for label, point, symbol in (("oracle", result.oracle, "star"),
                                 ("random choice", result.random, "x")):
        figure.add_scatter(x=[point.cost_usd], y=[point.accuracy], mode="markers", name=label,
                           marker={"symbol": symbol, "size": 13})
    mine = policy_point(result, quality_weight)
    figure.add_scatter(x=[mine.cost_usd], y=[mine.accuracy], mode="markers",
                       name=f"policy (quality weight {quality_weight:.2f})",
                       marker={"symbol": "circle-open", "size": 18, "line": {"width": 3}})
    figure.update_layout(xaxis={"title": "total cost (USD)", "type": "log"},
                         yaxis={"title": "accuracy (mean score)"}, height=520,
                         legend={"orientation": "h", "y": 1.12}, margin={"t": 60})
    return figure


def headline_rows(result: Evaluation) -> list[tuple[str, str]]:
    """The figures a person reads first, as (label, value)."""
    best = result.best_single
    match = result.cost_to_match_best_single_usd
    return [
        ("router AIQ", f"{result.router_aiq:.4f}"),
        ("zero router AIQ", f"{result.zero_router_aiq:.4f}"),
        (f"best single ({best.model.split('/')[-1]})", f"{best.accuracy:.3f} @ ${best.cost_usd:.3f}"),
        ("router reaches it at", "never" if match is None
         else f"${match:.3f} ({match / best.cost_usd:.0%})"),
    ]


def trained_rows(trained: TrainedRouter, ledger: Ledger) -> list[dict[str, object]]:
    """Per-model outcome counts and the trained model's predicted mean, for the retrain panel."""
    summary = {s.model: s for s in outcome_summary(ledger)}
    return [{"model": m, "outcomes": summary[m].count if m in summary else 0,
             "mean score": round(summary[m].mean_score, 3) if m in summary else None,
             "prior used": round(float(trained.model.priors[j]), 3)}
            for j, m in enumerate(trained.model.models)]
