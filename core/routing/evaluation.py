"""Offline evaluation of the learned router on outcome tables, as RouterBench measures it.

``evaluate(train, test)`` chooses every hyper-parameter by k-fold cross-validation on ``train``
alone (the mean AIQ over the folds), trains on all of ``train``, and only then looks at
``test``: the router's cost–quality curve (sweeping both of its policy knobs, the quality
weight and the target quality; the curve is the hull over all of them), every single model,
random choice, the oracle, the zero router (the best mix of two single models: the
non-decreasing convex hull of the singles), both areas (AIQ) over the cost range from the
cheapest single model to the best one, and the lowest cost at which the router reaches the best
single model's accuracy. Costs are totals over the table's prompts in USD.

A missing score counts as no good answer (0); a missing cost is the model's mean known cost on
that table; a model with no known cost at all cannot be priced, and is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from sklearn.model_selection import KFold

from core.errors import ConfigError
from core.routing.features import make_features
from core.routing.cascade import CascadePoint, evaluate_cascades
from core.routing.learned import DEFAULT_SEED, Hyper, OutcomeTable, QualityModel

# weights w with (1 - w) / w from 1e3 to 1e-3, 80 steps a decade (a coarser grid misses the
# router's own operating points where many prompts change model together: bench/README.md)
KNOB_GRID: tuple[float, ...] = (0.0, *(1.0 / (1.0 + r) for r in np.geomspace(1e3, 1e-3, 481)),
                                1.0)
TARGET_GRID: tuple[float, ...] = tuple(float(t) for t in np.linspace(0.0, 1.0, 401))
ALPHA_GRID: tuple[float, ...] = (1.0, 10.0, 100.0)
CV_FEATURES: tuple[str, ...] = ("tfidf_word", "hashed", "length", "tfidf_word+length")
BLEND_GRID: tuple[float, ...] = (0.0, 0.5, 1.0)
FOLDS = 5
MIN_PROMPTS = 20


class Point(BaseModel):
    """One operating point: mean score and total cost in USD (``knob``: the quality weight, or
    the target quality when ``mode`` is ``"target"``)."""

    accuracy: float
    cost_usd: float
    knob: float | None = None
    mode: Literal["weight", "target"] = "weight"


class Single(BaseModel):
    """A single model used for every prompt."""

    model: str
    accuracy: float
    cost_usd: float


class CvScore(BaseModel):
    """The mean cross-validated AIQ of one hyper-parameter choice (on the train file only)."""

    features: str
    alpha: float
    blend: float
    aiq: float
    zero_router_aiq: float


def priced(table: OutcomeTable) -> OutcomeTable:
    """The table without models of unknown cost, gaps in cost filled with the model's mean."""
    known = ~np.all(np.isnan(table.costs), axis=0)
    if known.sum() < 2:
        raise ConfigError("the table needs at least two models with a known cost "
                          "(<model>|total_cost) to route between")
    columns = np.flatnonzero(known)
    costs = table.costs[:, columns].copy()
    means = np.nanmean(costs, axis=0)
    gaps = np.isnan(costs)
    costs[gaps] = np.take(means, np.nonzero(gaps)[1])
    responses = None if table.responses is None else table.responses[:, columns]
    return OutcomeTable(list(table.prompts), [table.models[j] for j in columns],
                        table.scores[:, columns], costs, responses)


def realized(table: OutcomeTable, chosen: NDArray[np.int64]) -> tuple[float, float]:
    """(mean score, total cost) when prompt ``i`` goes to model ``chosen[i]``."""
    rows = np.arange(len(table.prompts))
    scores = np.nan_to_num(table.scores[rows, chosen], nan=0.0)
    return float(scores.mean()), float(table.costs[rows, chosen].sum())


def singles(table: OutcomeTable) -> list[Single]:
    """Every model's accuracy and total cost when it answers everything."""
    return [Single(model=m, accuracy=float(np.nan_to_num(table.scores[:, j], nan=0.0).mean()),
                   cost_usd=float(table.costs[:, j].sum())) for j, m in enumerate(table.models)]


def best_single(points: list[Single]) -> Single:
    """The most accurate single model (the cheaper one on a tie)."""
    return max(points, key=lambda s: (s.accuracy, -s.cost_usd))


def oracle(table: OutcomeTable) -> Point:
    """Each prompt to the cheapest model with the best score on it."""
    scores = np.nan_to_num(table.scores, nan=0.0)
    best = scores.max(axis=1, keepdims=True)
    cost = np.where(scores >= best, table.costs, np.inf)
    accuracy, total = realized(table, np.argmin(cost, axis=1))
    return Point(accuracy=accuracy, cost_usd=total)


def hull(points: list[Point]) -> list[Point]:
    """The non-decreasing upper convex hull of the points, cheapest first."""
    ordered = sorted(points, key=lambda p: (p.cost_usd, -p.accuracy))
    upper: list[Point] = []
    for point in ordered:
        if upper and point.accuracy <= upper[-1].accuracy:
            continue  # dearer and no better: never on a non-decreasing frontier
        while len(upper) >= 2 and _turns_up(upper[-2], upper[-1], point):
            upper.pop()
        upper.append(point)
    return upper


def _turns_up(a: Point, b: Point, c: Point) -> bool:
    """Whether b lies on or below the segment from a to c (so it is not on the upper hull)."""
    cross = ((b.cost_usd - a.cost_usd) * (c.accuracy - a.accuracy)
             - (b.accuracy - a.accuracy) * (c.cost_usd - a.cost_usd))
    return cross >= 0


def curve_at(points: list[Point], costs: NDArray[np.float64]) -> NDArray[np.float64]:
    """The hull's accuracy at each cost: 0 below its cheapest point, flat after its last."""
    frontier = hull(points)
    xs = np.asarray([p.cost_usd for p in frontier])
    ys = np.asarray([p.accuracy for p in frontier])
    values = np.interp(costs, xs, ys, left=0.0, right=ys[-1])
    return np.where(costs < xs[0] - 1e-12, 0.0, values)


def aiq(points: list[Point], low: float, high: float, samples: int = 2001) -> float:
    """Area under the hull between ``low`` and ``high``, divided by the width (RouterBench's
    AIQ: the mean accuracy over that cost range)."""
    if high <= low:
        return float(curve_at(points, np.asarray([low]))[0])
    grid = np.linspace(low, high, samples)
    return float(np.trapezoid(curve_at(points, grid), grid) / (high - low))


def router_points(model: QualityModel, table: OutcomeTable) -> list[Point]:
    """The router's operating points on ``table``: one per quality weight, then one per target
    quality."""
    quality, cost = model.predict(table.prompts), model.predict_cost(table.prompts)
    return points_of(quality, cost, table) + target_points_of(quality, cost, table)


def points_of(quality: NDArray[np.float64], cost: NDArray[np.float64], table: OutcomeTable,
              knobs: tuple[float, ...] = KNOB_GRID) -> list[Point]:
    """The operating points on ``table`` of choosing by these predictions at each quality
    weight (the choices ``choose(quality, cost, weight=k)`` makes, all knobs at once)."""
    scale = np.nanmax(cost, axis=1, keepdims=True)
    scale[~(scale > 0)] = 1.0
    relative = np.nan_to_num(cost, nan=0.0) / scale

    def chosen(ks: NDArray[np.float64]) -> NDArray[np.int64]:
        value = ks[:, None, None] * quality - (1.0 - ks)[:, None, None] * relative
        return np.asarray(np.argmax(value, axis=2), dtype=np.int64)

    return _swept(table, knobs, chosen, "weight")


def target_points_of(quality: NDArray[np.float64], cost: NDArray[np.float64],
                     table: OutcomeTable,
                     targets: tuple[float, ...] = TARGET_GRID) -> list[Point]:
    """The operating points of choosing the cheapest model predicted to reach each target
    (``choose(quality, cost, target=t)``, all targets at once)."""
    priced_cost, best = np.nan_to_num(cost, nan=np.inf), np.argmax(quality, axis=1)

    def chosen(ts: NDArray[np.float64]) -> NDArray[np.int64]:
        reaching = np.where(quality >= ts[:, None, None], priced_cost, np.inf)
        return np.asarray(np.where(np.isfinite(reaching.min(axis=2)),
                                   np.argmin(reaching, axis=2), best), dtype=np.int64)

    return _swept(table, targets, chosen, "target")


def _swept(table: OutcomeTable, knobs: tuple[float, ...],
           chosen: Callable[[NDArray[np.float64]], NDArray[np.int64]],
           mode: Literal["weight", "target"]) -> list[Point]:
    """One point per knob from ``chosen`` (knobs × prompts choices), in chunks of knobs that
    keep the knobs × prompts × models arrays near 2 million numbers."""
    scores = np.nan_to_num(table.scores, nan=0.0)
    rows, step = np.arange(len(table.prompts)), max(1, 2_000_000 // max(1, table.scores.size))
    points: list[Point] = []
    for start in range(0, len(knobs), step):
        ks = np.asarray(knobs[start:start + step], dtype=np.float64)
        picks = chosen(ks)
        accuracy, total = scores[rows, picks].mean(axis=1), table.costs[rows, picks].sum(axis=1)
        points += [Point(accuracy=float(a), cost_usd=float(c), knob=float(k), mode=mode)
                   for k, a, c in zip(ks, accuracy, total)]
    return points


def cost_range(table: OutcomeTable) -> tuple[float, float]:
    """From the cheapest single model's cost to the best single model's."""
    points = singles(table)
    return min(s.cost_usd for s in points), best_single(points).cost_usd


def zero_points(table: OutcomeTable) -> list[Point]:
    return [Point(accuracy=s.accuracy, cost_usd=s.cost_usd) for s in singles(table)]


def cross_validate(train: OutcomeTable, seed: int = DEFAULT_SEED, folds: int = FOLDS,
                   features_grid: tuple[str, ...] = CV_FEATURES) -> tuple[Hyper, list[CvScore]]:
    """Choose the feature set, ``alpha`` and blend by the mean AIQ over k folds of ``train``."""
    if len(train.prompts) < MIN_PROMPTS:
        raise ConfigError(f"the train table has {len(train.prompts)} prompts; "
                          f"at least {MIN_PROMPTS} are needed to learn from")
    splits = list(KFold(min(folds, len(train.prompts)), shuffle=True,
                        random_state=seed).split(train.prompts))
    totals: dict[Hyper, list[float]] = {}
    zero: list[float] = []
    for fit_rows, held_rows in splits:
        fit, held = train.subset(fit_rows), train.subset(held_rows)
        low, high = cost_range(held)
        zero.append(aiq(zero_points(held), low, high))
        for features in features_grid:
            featurizer = make_features(features, len(fit.prompts))
            x = featurizer.fit_transform(fit.prompts)
            for alpha in ALPHA_GRID:
                model = QualityModel.fit_features(fit, Hyper(features, alpha, 1.0), featurizer,
                                                  x, seed)
                learned, cost = model.predict(held.prompts), model.predict_cost(held.prompts)
                for blend in BLEND_GRID:
                    quality = blend * learned + (1.0 - blend) * model.priors
                    curve = points_of(quality, cost, held) + target_points_of(quality, cost,
                                                                               held)
                    score = aiq(curve, low, high)
                    totals.setdefault(Hyper(features, alpha, blend), []).append(score)
    scores = [CvScore(features=h.features, alpha=h.alpha, blend=h.blend, aiq=float(np.mean(v)),
                      zero_router_aiq=float(np.mean(zero))) for h, v in totals.items()]
    scores.sort(key=lambda s: -s.aiq)
    top = scores[0]
    return Hyper(top.features, top.alpha, top.blend), scores


class Evaluation(BaseModel):
    """Everything ``router eval`` reports (the ``--json`` object)."""

    train_models: list[str]
    test_models: list[str]
    chosen: CvScore
    cv: list[CvScore]
    seed: int
    train_data_hash: str
    points: list[Point]  # one per quality weight
    target_points: list[Point]  # one per target quality
    router_hull: list[Point]  # over both
    singles: list[Single]
    random: Point
    oracle: Point
    zero_router: list[Point]
    cost_range_usd: tuple[float, float]
    router_aiq: float
    zero_router_aiq: float
    below_zero_router_share: float  # of the cost range where the router's hull is under it
    max_shortfall: float  # the most accuracy the router's hull is under the zero router's
    best_single: Single
    cost_to_match_best_single_usd: float | None
    cascade_points: list[CascadePoint]
    cascade_aiq: float | None  # over the cascades and the single models together
    cascade_cost_to_match_best_single_usd: float | None


def _aligned(train: OutcomeTable, test: OutcomeTable) -> tuple[OutcomeTable, OutcomeTable]:
    """Both tables on the models they share, in train's order (the router can only send a
    prompt to a model it learned about)."""
    shared = [m for m in train.models if m in test.models]
    if len(shared) < 2:
        raise ConfigError(f"the train and test tables share {len(shared)} priced model(s); "
                          f"they need at least two in common")
    return _columns(train, shared), _columns(test, shared)


def _columns(table: OutcomeTable, models: list[str]) -> OutcomeTable:
    index = [table.models.index(m) for m in models]
    responses = None if table.responses is None else table.responses[:, index]
    return OutcomeTable(list(table.prompts), list(models), table.scores[:, index],
                        table.costs[:, index], responses)


def _shortfall(points: list[Point], zero: list[Point], low: float,
               high: float) -> dict[str, float]:
    """Where, and by how much at most, the router's hull is under the zero router's."""
    grid = np.linspace(low, high, 2001)
    gap = curve_at(points, grid) - curve_at(zero, grid)
    return {"below_zero_router_share": float((gap < -1e-9).mean()),
            "max_shortfall": float(max(0.0, -gap.min()))}


def cheapest_reaching(points: list[Point] | list[CascadePoint], accuracy: float) -> float | None:
    """The lowest cost among the points at or above ``accuracy`` (None when none is)."""
    costs = [p.cost_usd for p in points if p.accuracy >= accuracy - 1e-12]
    return min(costs) if costs else None


def evaluate(train: OutcomeTable, test: OutcomeTable, seed: int = DEFAULT_SEED) -> Evaluation:
    """Cross-validate on ``train``, train on it, then report on ``test`` (see the module doc)."""
    train, test = _aligned(priced(train), priced(test))
    hyper, cv = cross_validate(train, seed)
    model = QualityModel.fit(train, hyper, seed)
    points = router_points(model, test)
    by_weight = [p for p in points if p.mode == "weight"]
    low, high = cost_range(test)
    single_points = singles(test)
    best = best_single(single_points)
    zero = zero_points(test)
    cascades = evaluate_cascades(train, test)
    cascade_curve = [Point(accuracy=p.accuracy, cost_usd=p.cost_usd) for p in cascades] + zero
    return Evaluation(
        train_models=train.models, test_models=test.models, chosen=cv[0], cv=cv, seed=seed,
        train_data_hash=model.data_hash, points=by_weight,
        target_points=[p for p in points if p.mode == "target"], router_hull=hull(points),
        singles=single_points,
        random=Point(accuracy=float(np.mean([s.accuracy for s in single_points])),
                     cost_usd=float(np.mean([s.cost_usd for s in single_points]))),
        oracle=oracle(test), zero_router=hull(zero), cost_range_usd=(low, high),
        router_aiq=aiq(points, low, high), zero_router_aiq=aiq(zero, low, high),
        **_shortfall(points, zero, low, high),
        best_single=best, cost_to_match_best_single_usd=cheapest_reaching(points, best.accuracy),
        cascade_points=cascades,
        cascade_aiq=aiq(cascade_curve, low, high) if cascades else None,
        cascade_cost_to_match_best_single_usd=cheapest_reaching(cascades, best.accuracy),
    )
