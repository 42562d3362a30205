"""The ranker seam: how the router orders the candidates that passed its filters.

The router filters first (capability, context window, availability, breaker, budget), so a
ranker only ever sees viable candidates; the concentration cap is applied after it. A ranker is
a pure function of the request and those candidates (any state it needs, such as learned
outcomes or a snapshot of observed latency and ratings, it was built with).

The router composes rankers: an optional one (e.g. the learned ranker) first, then the heuristic
(``core/routing/heuristic.py``: complexity → tier → cheapest). A ranker may abstain: an empty
``Ranking.order`` means "no confident opinion", and the next ranker decides, the decision
quoting ``Ranking.reason``. The heuristic answers whenever a model of its tiers is viable.

A ``Ranking`` says what the router needs once the cap has picked the primary from its order:
the fallback chain, how the decision explains the choice, and which tiers it drew from (whose
skipped models the decision reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.catalog import TIERS, Tier
from core.routing.candidates import Candidate, RouteRequest


@dataclass(frozen=True, slots=True)
class Ranking:
    """A ranker's answer: candidates best first (empty = abstain) and a reason a person can read,
    e.g. "predicted 0.82 for groq:llama-3.3-70b from 37 similar prompts … → groq".

    Attributes:
        order: best first; the primary is the first whose provider is under the cap.
        reason: why this order (or, for an empty order, why the ranker abstained).
        tiers: the tiers the ranking drew from; the decision reports their skipped models.
    """

    order: list[Candidate] = field(default_factory=list)
    reason: str = ""
    tiers: tuple[Tier, ...] = TIERS

    @property
    def abstained(self) -> bool:
        """True when the ranker had no confident opinion."""
        return not self.order

    def fallbacks(self, primary: Candidate) -> list[Candidate]:
        """The chain after ``primary``: the rest of the order, best first."""
        return [c for c in self.order if c is not primary]

    def explain(self, ranker: str, primary: Candidate) -> str:
        """How a decision quotes this ranking once ``primary`` is chosen: "<ranker>: <reason>"."""
        return f"{ranker}: {self.reason}"


class Ranker(Protocol):
    """Orders viable candidates for one request. ``name`` appears in decisions."""

    name: str

    def rank(self, request: RouteRequest, viable: Sequence[Candidate]) -> Ranking:
        """The candidates best first, or an empty ranking (with a reason) to abstain.

        A ranker before the heuristic is handed ``viable`` tier by tier (economy first),
        cheapest first within each.
        """
        ...
