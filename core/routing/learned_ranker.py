"""The learned ranker behind the ``Ranker`` seam, trained on the ledger's outcomes.

``learned_ranker_for(policy, ledger)`` is what a run session or ``ask`` calls: None when
``[routing] mode`` is heuristic or there is nothing to learn from, else a ``LearnedRanker``.
The trained model is kept in a file beside the ledger (``<ledger>.router.pickle``) with its
seed and the outcomes' data hash; it is reused while the outcomes are unchanged and retrained
when they change (``train_from_ledger``).

A candidate is matched to outcomes by its catalog id. The ranker predicts each matched
candidate's chance of a good answer for the prompt, prices the prompt on it (input tokens at its
input price plus predicted output tokens at its output price), and orders by the policy knob.
It abstains, with a reason, when fewer than two viable candidates have ``min_outcomes``
outcomes, or the prompt is farther than ``max_distance`` from every prompt seen.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.ledger.outcomes import outcomes_frame
from core.ledger.writer import Ledger
from core.policy import Policy, RoutingSettings
from core.routing.candidates import Candidate, RouteRequest
from core.routing.evaluation import cross_validate as choose_hyper
from core.routing.compiled import compiled, rows
from core.routing.learned import (
    DEFAULT_SEED,
    Hyper,
    Neighbourhood,
    OutcomeTable,
    QualityModel,
    choose,
)
from core.routing.rankers import Ranking

DEFAULT_HYPER = Hyper("tfidf_word", 10.0, 0.5)
"""Used when the ledger is too small to cross-validate: what cross-validation chose on the
Winogrande train file (bench/README.md)."""
MIN_PROMPTS = 20
CV_MIN_PROMPTS = 200
DEFAULT_OUTPUT_TOKENS = 256


@dataclass
class TrainedRouter:
    """What the model file holds: the quality model, the neighbourhood index and the mean
    output tokens per model (None where the outcomes never said)."""

    model: QualityModel
    neighbourhood: Neighbourhood
    output_tokens: dict[str, float | None]


def model_file(ledger: Ledger) -> Path:
    """Where the trained router for this ledger is kept."""
    return ledger.path.with_name(ledger.path.name + ".router.pickle")


def _output_tokens(frame: pd.DataFrame) -> dict[str, float | None]:
    means = frame.groupby("model")["output_tokens"].mean()
    return {str(m): (None if pd.isna(v) else float(v)) for m, v in means.items()}


def train_from_ledger(ledger: Ledger, *, cross_validate: bool = False,
                      seed: int = DEFAULT_SEED) -> TrainedRouter | None:
    """Train on every outcome in the ledger and save the model file; None when there are
    fewer than ``MIN_PROMPTS`` prompts. With ``cross_validate`` (and enough prompts) the
    hyper-parameters are chosen by cross-validation, else ``DEFAULT_HYPER`` is used."""
    frame = outcomes_frame(ledger)
    table = OutcomeTable.from_frame(frame)
    if len(table.prompts) < MIN_PROMPTS:
        return None
    hyper = DEFAULT_HYPER
    if cross_validate and len(table.prompts) >= CV_MIN_PROMPTS:
        hyper, _ = choose_hyper(table, seed)
    trained = TrainedRouter(QualityModel.fit(table, hyper, seed), Neighbourhood.fit(table),
                            _output_tokens(frame))
    model_file(ledger).write_bytes(pickle.dumps(trained, protocol=pickle.HIGHEST_PROTOCOL))
    return trained


def load_or_train(ledger: Ledger) -> TrainedRouter | None:
    """The saved router when it was trained on exactly the ledger's current outcomes, else a
    freshly trained one (None when there is too little to learn from)."""
    path = model_file(ledger)
    if path.exists():
        try:
            saved = pickle.loads(path.read_bytes())  # our own file, beside the ledger
        except (OSError, EOFError, ValueError, AttributeError, ImportError, pickle.PickleError):
            saved = None
        table = OutcomeTable.from_frame(outcomes_frame(ledger))
        if isinstance(saved, TrainedRouter) and saved.model.data_hash == table.data_hash():
            return saved
    return train_from_ledger(ledger)


def learned_ranker_for(policy: Policy, ledger: Ledger) -> "LearnedRanker | None":
    """The learned ranker for a session, or None (mode heuristic, or nothing to learn from)."""
    if policy.routing.mode != "learned":
        return None
    trained = load_or_train(ledger)
    return None if trained is None else LearnedRanker(trained, policy.routing)


class LearnedRanker:
    """Orders candidates by predicted quality against predicted cost (see the module doc)."""

    name = "learned"

    def __init__(self, trained: TrainedRouter, settings: RoutingSettings) -> None:
        self.trained = trained
        self.settings = settings
        self._column = {m: j for j, m in enumerate(trained.model.models)}
        self._compiled = (compiled(trained.neighbourhood.vectorizer),
                          compiled(trained.model.featurizer))

    def _known(self, viable: Sequence[Candidate]) -> list[Candidate]:
        counts = self.trained.model.counts
        return [c for c in viable if counts.get(c.id, 0) >= self.settings.min_outcomes]

    def _costs(self, request: RouteRequest, known: list[Candidate]) -> NDArray[np.float64]:
        """The prompt's predicted cost in USD on each candidate (one row)."""
        tokens_in = request.estimated_prompt_tokens()
        limit = float(request.max_output_tokens)
        means = self.trained.output_tokens
        outs = [min(means.get(c.id) or DEFAULT_OUTPUT_TOKENS, limit) for c in known]
        return np.asarray([[(tokens_in * c.in_rate + out * c.out_rate) / 1e6
                            for c, out in zip(known, outs)]])

    def rank(self, request: RouteRequest, viable: Sequence[Candidate]) -> Ranking:
        """Best first by the policy knob, or abstain with the reason."""
        known = self._known(viable)
        if len(known) < 2:
            return Ranking([], f"{len(known)} of {len(viable)} viable models have "
                               f"{self.settings.min_outcomes}+ outcomes; need two")
        near_row, quality_row = rows(request.text, self._compiled)  # one split into words
        distance, similar = self.trained.neighbourhood.similar(
            request.text, self.settings.max_distance, near_row)
        if distance > self.settings.max_distance:
            return Ranking([], f"prompt is far from every seen prompt (distance {distance:.2f}"
                               f" > {self.settings.max_distance:.2f})")
        columns = [self._column[c.id] for c in known]
        quality = self.trained.model.predict_one(request.text, quality_row)[None, columns]
        cost = self._costs(request, known)
        target = self.settings.target_quality or None
        first = int(choose(quality, cost, self.settings.quality_weight, target)[0])
        rest = sorted((j for j in range(len(known)) if j != first),
                      key=lambda j: (-quality[0, j], cost[0, j]))
        order = [known[first], *(known[j] for j in rest)]
        others = [c for c in viable if c not in known]
        reason = self._reason(known, quality[0], cost[0], similar[columns], first, rest)
        if others:
            reason += f"; {len(others)} model(s) without enough outcomes ranked after"
        return Ranking(order + others, reason)

    def _reason(self, known: list[Candidate], quality: np.ndarray, cost: np.ndarray,
                similar: np.ndarray, first: int, rest: list[int]) -> str:
        chosen = known[first]
        text = (f"predicted {quality[first]:.2f} for {chosen.id} from {int(similar[first])} "
                f"similar prompts")
        best = rest[0] if rest and quality[rest[0]] > quality[first] else None
        if best is not None:
            ratio = cost[best] / cost[first] if cost[first] > 0 else float("inf")
            text += (f", {quality[best]:.2f} for {known[best].id} at {ratio:.1f}x the cost")
        rule = (f"target {self.settings.target_quality:.2f}" if self.settings.target_quality
                else f"quality weight {self.settings.quality_weight:.2f}")
        return f"{text} → {chosen.id} ({rule})"
