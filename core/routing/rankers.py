"""The ranker seam: how a router orders the candidates that passed its filters.

The router filters first (capability, context window, availability, breaker, budget), so a
ranker only ever sees viable candidates; the concentration cap is applied after it. A ranker is
a pure function of the request and those candidates (any state it needs, such as learned
outcomes, it was built with). It may abstain: an empty ``Ranking.order`` means "no confident
opinion", and the router then ranks by the heuristic (complexity → tier → cheapest) and quotes
``Ranking.reason`` in its decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.routing.candidates import Candidate, RouteRequest


@dataclass(frozen=True, slots=True)
class Ranking:
    """A ranker's answer: candidates best first (empty = abstain) and a reason a person can read,
    e.g. "predicted 0.82 for groq:llama-3.3-70b from 37 similar prompts … → groq"."""

    order: list[Candidate] = field(default_factory=list)
    reason: str = ""

    @property
    def abstained(self) -> bool:
        """True when the ranker had no confident opinion."""
        return not self.order


class Ranker(Protocol):
    """Orders viable candidates for one request. ``name`` appears in decisions."""

    name: str

    def rank(self, request: RouteRequest, viable: Sequence[Candidate]) -> Ranking:
        """The candidates best first, or an empty ranking (with a reason) to abstain."""
        ...
