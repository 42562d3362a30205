"""What the learned ranker learns: per-model P(good answer | prompt) and cost, from outcomes.

``OutcomeTable`` is outcomes laid out wide (one row per prompt, one column per model; NaN where
a model has no outcome or no known cost). ``QualityModel.fit`` trains, for every model, a
scikit-learn ridge regression of its score on the prompt's features (clipped to [0, 1], shrunk
towards that model's mean score by ``Hyper.blend``), and a linear model of the prompt's cost on
its length. Ridge rather than logistic regression for training time: one multi-target solve
serves every model with outcomes on the same prompts (measured on the ARC train file with word
TF-IDF: about 0.1 s against 4 s for eleven logistic fits). ``choose`` turns the
predictions into a choice by the policy knob. Training is reproducible: a fixed seed, and the
table's data hash kept with the model (``QualityModel.data_hash``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import TransformerMixin
from sklearn.linear_model import LinearRegression, Ridge

from core.routing.compiled import Row
from core.routing.features import as_texts, make_features, similarity_features

Matrix = NDArray[np.float64]
DEFAULT_SEED = 11


@dataclass(frozen=True)
class OutcomeTable:
    """Outcomes wide: ``scores[i, j]`` is model ``j``'s score on prompt ``i`` (NaN = none),
    ``costs[i, j]`` its cost in USD (NaN = unknown); ``responses`` the answers, where known."""

    prompts: list[str]
    models: list[str]
    scores: Matrix
    costs: Matrix
    responses: NDArray[np.object_] | None = None

    def __post_init__(self) -> None:
        shape = (len(self.prompts), len(self.models))
        if self.scores.shape != shape or self.costs.shape != shape:
            raise ValueError(f"scores and costs must be {shape}")

    def subset(self, rows: NDArray[np.int64] | list[int]) -> "OutcomeTable":
        """The table restricted to ``rows`` (in that order)."""
        index = np.asarray(rows, dtype=np.int64)
        responses = None if self.responses is None else self.responses[index]
        return OutcomeTable([self.prompts[i] for i in index], list(self.models),
                            self.scores[index], self.costs[index], responses)

    def counts(self) -> dict[str, int]:
        """How many scored outcomes each model has."""
        return {m: int(n) for m, n in zip(self.models, (~np.isnan(self.scores)).sum(axis=0))}

    def data_hash(self) -> str:
        """sha256 over the prompts, models, scores and costs: what a trained model came from."""
        digest = hashlib.sha256()
        for text in (*self.prompts, "\x1e", *self.models):
            digest.update(text.encode("utf-8") + b"\x1f")
        digest.update(np.nan_to_num(self.scores, nan=-1.0).tobytes())
        digest.update(np.nan_to_num(self.costs, nan=-1.0).tobytes())
        return digest.hexdigest()

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "OutcomeTable":
        """Pivot long outcomes (``prompt``, ``model``, ``score``, ``cost_usd``) to a table;
        repeated outcomes of one model on one prompt are averaged."""
        if frame.empty:
            return cls([], [], np.empty((0, 0)), np.empty((0, 0)))
        grouped = frame.groupby(["prompt", "model"], sort=True)
        scores = grouped["score"].mean().unstack("model")
        costs = grouped["cost_usd"].mean().unstack("model").reindex_like(scores)
        return cls([str(p) for p in scores.index], [str(m) for m in scores.columns],
                   scores.to_numpy(dtype=np.float64), costs.to_numpy(dtype=np.float64))


@dataclass(frozen=True)
class Hyper:
    """What cross-validation chooses: the feature set, the ridge penalty ``alpha``, and
    ``blend``, the weight of the per-prompt prediction against the model's mean score."""

    features: str = "tfidf_word"
    alpha: float = 10.0
    blend: float = 1.0


def _fit_heads(x: Any, scores: Matrix, alpha: float) -> tuple[Matrix, Matrix]:
    """Ridge regressions of every model's score on the features: (weights, intercepts).

    Models with outcomes on the same prompts share one multi-target fit; a model with no
    outcome predicts 0.5, one with a single outcome value predicts that value.
    """
    count = scores.shape[1]
    weights, intercepts = np.zeros((count, x.shape[1])), np.full(count, 0.5)
    known = ~np.isnan(scores)
    groups: dict[bytes, list[int]] = {}
    for j in range(count):
        groups.setdefault(np.packbits(known[:, j]).tobytes(), []).append(j)
    for columns in groups.values():
        rows = np.flatnonzero(known[:, columns[0]])
        if rows.size == 0:
            continue
        target = scores[np.ix_(rows, np.asarray(columns, dtype=np.int64))]
        if rows.size < 2:
            intercepts[columns] = target.mean(axis=0)
            continue
        head = Ridge(alpha=alpha).fit(x[rows], target)
        weights[columns] = np.atleast_2d(head.coef_)
        intercepts[columns] = head.intercept_
    return weights, intercepts


def _fit_cost(lengths: Matrix, costs: Matrix) -> tuple[float, float]:
    """Cost in USD as ``a + b * characters`` from the prompts with a known cost (NaN when
    none is known: unpriced stays unknown)."""
    known = ~np.isnan(costs)
    if not known.any():
        return float("nan"), 0.0
    if known.sum() < 3 or np.ptp(lengths[known]) == 0:
        return float(costs[known].mean()), 0.0
    line = LinearRegression().fit(lengths[known].reshape(-1, 1), costs[known])
    return float(line.intercept_), float(line.coef_[0])


@dataclass
class QualityModel:
    """Per-model quality heads and cost lines over one feature transformer, with provenance."""

    models: list[str]
    hyper: Hyper
    seed: int
    data_hash: str
    featurizer: TransformerMixin
    weights: Matrix  # models × features
    intercepts: Matrix
    priors: Matrix  # each model's mean score
    cost_lines: Matrix  # models × (intercept, slope)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, table: OutcomeTable, hyper: Hyper, seed: int = DEFAULT_SEED) -> "QualityModel":
        """Train on every outcome of ``table``."""
        texts = as_texts(table.prompts)
        featurizer = make_features(hyper.features, len(texts))
        return cls.fit_features(table, hyper, featurizer, featurizer.fit_transform(texts), seed)

    @classmethod
    def fit_features(cls, table: OutcomeTable, hyper: Hyper, featurizer: TransformerMixin,
                     x: Any, seed: int = DEFAULT_SEED) -> "QualityModel":
        """Train on ``x``, the table's prompts already through the fitted ``featurizer``."""
        texts = as_texts(table.prompts)
        x = x.tocsr()
        weights, intercepts = _fit_heads(x, table.scores, hyper.alpha)
        priors = np.asarray([np.nanmean(col) if np.isfinite(col).any() else 0.5
                             for col in table.scores.T])
        lengths = np.asarray([len(t) for t in texts], dtype=np.float64)
        lines = [_fit_cost(lengths, table.costs[:, j]) for j in range(len(table.models))]
        return cls(
            models=list(table.models), hyper=hyper, seed=seed, data_hash=table.data_hash(),
            featurizer=featurizer, weights=weights, intercepts=intercepts, priors=priors,
            cost_lines=np.asarray(lines).reshape(-1, 2),
            counts=table.counts(),
        )

    def predict(self, texts: list[str]) -> Matrix:
        """P(good answer) for every text (rows) and model (columns)."""
        x = self.featurizer.transform(as_texts(texts))
        learned = np.clip(np.asarray(x @ self.weights.T) + self.intercepts, 0.0, 1.0)
        return np.asarray(self.hyper.blend * learned + (1.0 - self.hyper.blend) * self.priors,
                          dtype=np.float64)

    def predict_one(self, text: str, row: Row | None = None) -> Matrix:
        """P(good answer) for one text and every model; ``row``, the text's features from
        ``compiled(featurizer)``, skips scikit-learn's per-call overhead with the same result."""
        if row is None:
            return np.asarray(self.predict([text])[0], dtype=np.float64)
        index, values = row
        learned = np.clip(self.weights[:, index] @ values + self.intercepts, 0.0, 1.0)
        return np.asarray(self.hyper.blend * learned + (1.0 - self.hyper.blend) * self.priors,
                          dtype=np.float64)

    def predict_cost(self, texts: list[str]) -> Matrix:
        """Predicted cost in USD for every text and model (NaN where no cost was ever known)."""
        lengths = np.asarray([len(t) for t in as_texts(texts)], dtype=np.float64)
        line = self.cost_lines[:, 0] + np.outer(lengths, self.cost_lines[:, 1])
        return np.asarray(np.maximum(line, 0.0), dtype=np.float64)


def utilities(quality: Matrix, cost: Matrix, weight: float) -> Matrix:
    """``weight * P(good) - (1 - weight) * cost / (the dearest candidate's cost)`` per row.

    ``weight`` 1 picks the best predicted model whatever it costs; 0 the cheapest.
    """
    scale = np.nanmax(cost, axis=1, keepdims=True)
    scale[~(scale > 0)] = 1.0
    value = weight * quality - (1.0 - weight) * np.nan_to_num(cost, nan=0.0) / scale
    return np.asarray(value, dtype=np.float64)


def choose(quality: Matrix, cost: Matrix, weight: float | None = None,
           target: float | None = None) -> NDArray[np.int64]:
    """The column chosen for each row: by quality ``weight``, or the cheapest predicted to reach
    ``target`` (the best predicted one when none does)."""
    if target is None:
        chosen = np.argmax(utilities(quality, cost, 0.5 if weight is None else weight), axis=1)
        return np.asarray(chosen, dtype=np.int64)
    priced = np.nan_to_num(cost, nan=np.inf)
    reaching = np.where(quality >= target, priced, np.inf)
    cheapest = np.argmin(reaching, axis=1)
    best = np.argmax(quality, axis=1)
    return np.asarray(np.where(np.isfinite(reaching.min(axis=1)), cheapest, best), dtype=np.int64)


@dataclass
class Neighbourhood:
    """Training prompts in a word TF-IDF space, to say how close a new prompt is to the seen
    ones and how many similar prompts each model has outcomes for."""

    vectorizer: Any
    matrix: Any
    known: NDArray[np.bool_]  # prompts × models: has an outcome

    @classmethod
    def fit(cls, table: OutcomeTable) -> "Neighbourhood":
        """Index the table's prompts."""
        texts = as_texts(table.prompts)
        vectorizer = similarity_features(len(texts))
        matrix = vectorizer.fit_transform(texts).tocsr()
        return cls(vectorizer, matrix.T.tocsr(), ~np.isnan(table.scores))

    def _dot(self, index: NDArray[np.int64], values: NDArray[np.float64]) -> Matrix:
        """Cosine similarity of one TF-IDF row to every prompt: the postings of the row's terms
        (``matrix`` is terms × prompts, CSR) summed, without building sparse objects."""
        pointers = self.matrix.indptr
        starts = pointers[index]
        lengths = pointers[index + 1] - starts
        # every posting of the row's terms, term after term: position p of term k's run is
        # starts[k] + (p - where the run begins)
        runs = np.cumsum(lengths) - lengths
        postings = np.arange(int(lengths.sum())) + np.repeat(starts - runs, lengths)
        products = self.matrix.data[postings] * np.repeat(values, lengths)
        return np.asarray(np.bincount(self.matrix.indices[postings], weights=products,
                                      minlength=self.matrix.shape[1]), dtype=np.float64)

    def similar(self, text: str, max_distance: float,
                row: Row | None = None) -> tuple[float, NDArray[np.int64]]:
        """(the nearest cosine distance, per-model counts of prompts within ``max_distance``);
        ``row``, the text's vector from ``compiled(self.vectorizer)``, gives the same answer
        sooner."""
        if row is None:
            vector = self.vectorizer.transform([text])
            similarity = np.asarray((vector @ self.matrix).todense())[0]
        else:
            similarity = self._dot(*row)
        if similarity.size == 0 or not similarity.any():
            return 1.0, np.zeros(self.known.shape[1], dtype=np.int64)
        close = similarity >= 1.0 - max_distance
        counts = self.known[close].sum(axis=0).astype(np.int64)
        return float(1.0 - similarity.max()), counts
