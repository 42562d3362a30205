"""The heuristic ranker: complexity → tier → cheapest, with tier fall-down.

The request's complexity (given, or scored by ``classify``) picks a tier through the policy's
thresholds, unless the request pins one. The viable candidates of that tier are ranked by
expected cost (price × estimated tokens; an unpriced model is ranked at its tier's priciest
price and flagged), a model rated below the quality bar last, observed latency breaking ties.
When no candidate of the tier is viable the ranking falls to the tier below (economy, which has
none below, goes up to balanced). The fallbacks are the tier's other providers, then the
primary's own, then the tiers below, cheapest first within each.

It reads latency and ratings from the ``RoutingSnapshot`` it was built with, never the live
state, and answers whenever a model of its tiers is viable; it is the router's last ranker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.catalog import TIERS, Tier
from core.policy import TierThresholds
from core.routing.candidates import Candidate, RouteRequest
from core.routing.complexity import classify
from core.routing.rankers import Ranking
from core.routing.state import RoutingSnapshot

_FALL_DOWN: dict[Tier, tuple[Tier, ...]] = {
    "economy": ("economy", "balanced"),  # nothing below economy: one tier up, last
    "balanced": ("balanced", "economy"),
    "premium": ("premium", "balanced", "economy"),
}
_TIER_INDEX = {tier: i for i, tier in enumerate(TIERS)}


def fall_down(tier: Tier) -> tuple[Tier, ...]:
    """A tier followed by the tiers a ranking falls to when it has no viable model, nearest
    first (economy: then balanced)."""
    return _FALL_DOWN[tier]


def complexity_of(request: RouteRequest) -> int:
    """The request's complexity: as given, else scored from the task (``classify``)."""
    if request.complexity is not None:
        return request.complexity
    return classify(request.text, request.kind, request.dependencies, request.capabilities).score


def scored(request: RouteRequest) -> RouteRequest:
    """The request with its complexity filled in (what the router hands its rankers)."""
    if request.complexity is not None:
        return request
    return replace(request, complexity=complexity_of(request))


@dataclass(frozen=True, slots=True)
class HeuristicRanking(Ranking):
    """The heuristic's answer: ``order`` is the chosen tier's candidates, cheapest first, and
    ``reason`` how that tier was chosen.

    Attributes:
        then: the tiers below, cheapest first within each: fallbacks, never the primary.
        capabilities: what the task needs (named when explaining the primary).
        poorly_rated: the snapshot's low ratings (named when they moved a model down).
    """

    then: list[Candidate] = field(default_factory=list)
    capabilities: tuple[str, ...] = ()
    poorly_rated: Mapping[str, str] = field(default_factory=dict)

    def fallbacks(self, primary: Candidate) -> list[Candidate]:
        """Other providers of the tier, then the primary's provider, then the tiers below."""
        others = [c for c in self.order if c.provider != primary.provider]
        same = [c for c in self.order if c.provider == primary.provider and c is not primary]
        return [*others, *same, *self.then]

    def explain(self, ranker: str, primary: Candidate) -> str:
        """The tier chosen, why ``primary`` (cheapest, or next cheapest when the cap passed
        over the first), and the low ratings that ranked cheaper models last."""
        what = "cheapest" if primary is self.order[0] else "next cheapest"
        why = f"{primary.id} {what}"
        if self.capabilities:
            why += f" with {', '.join(self.capabilities)}"
        if primary.unpriced:
            why += f" (unpriced: ranked at {primary.tier}'s priciest)"
        rated = self.poorly_rated
        price = (primary.out_rate, primary.in_rate)
        notes = [self.reason, why,
                 *(f"{c.id} {rated[c.id]} → ranked last" for c in self.order
                   if c.id in rated and c is not primary and (c.out_rate, c.in_rate) <= price)]
        return "; ".join(notes)


@dataclass(frozen=True, slots=True)
class HeuristicRanker:
    """Complexity → tier → cheapest (see the module doc); never abstains while a model of its
    tiers is viable.

    Args:
        thresholds: the policy's complexity → tier mapping.
        snapshot: the latency and ratings to rank by (by default none observed).
    """

    thresholds: TierThresholds = field(default_factory=TierThresholds)
    snapshot: RoutingSnapshot = field(default_factory=RoutingSnapshot)
    name = "heuristic"

    def rank(self, request: RouteRequest, viable: Sequence[Candidate]) -> HeuristicRanking:
        """The first tier of the fall-down with a viable candidate, ranked; empty (with the
        tier it looked for as the reason) when none of its tiers has one."""
        complexity = complexity_of(request)
        if request.tier:
            tier, head = request.tier, f"tier {request.tier} pinned (complexity {complexity})"
        else:
            tier = self.thresholds.tier_for(complexity)
            head = f"complexity {complexity} → {tier}"
        ordered = self.ordered(request, viable)
        tiers = fall_down(tier)
        present = {c.tier for c in ordered}
        for i, chosen in enumerate(tiers):
            if chosen in present:
                reason = head if chosen == tier else f"{head}; no viable {tier} model → {chosen}"
                return self._ranking(request, ordered, tiers[i:], reason, tiers[:i + 1])
        return HeuristicRanking([], head, tiers)

    def from_tier(self, request: RouteRequest, viable: Sequence[Candidate],
                  tier: Tier) -> HeuristicRanking:
        """``tier``'s viable candidates, cheapest first, then the tiers below it, with no
        fall-down: the chain a model pinned in ``tier`` falls back along."""
        return self._ranking(request, self.ordered(request, viable), fall_down(tier), "",
                             (tier,))

    def tiers_for(self, request: RouteRequest) -> tuple[Tier, ...]:
        """The tiers a ranking of ``request`` may draw from: its tier (pinned, or the
        complexity's) and the fall-down below it; the router filters only these."""
        return fall_down(request.tier or self.thresholds.tier_for(complexity_of(request)))

    def ordered(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Tier by tier (economy first), cheapest expected cost first within each: a model rated
        below the quality bar last, then lower observed latency, then lower list price."""
        prompt = request.estimated_prompt_tokens()
        out_tokens = request.max_output_tokens
        rated, latency = self.snapshot.poorly_rated, self.snapshot.latency_ms

        def key(c: Candidate) -> tuple[int, bool, float, float, float, float]:
            cost = c.in_rate * prompt + c.out_rate * out_tokens
            return (_TIER_INDEX[c.tier], c.id in rated, cost, latency.get(c.id, 0.0),
                    c.out_rate, c.in_rate)

        return sorted(candidates, key=key)

    def _ranking(self, request: RouteRequest, ordered: list[Candidate], tiers: tuple[Tier, ...],
                 reason: str, seen: tuple[Tier, ...]) -> HeuristicRanking:
        first, *below = tiers
        return HeuristicRanking([c for c in ordered if c.tier == first], reason, seen,
                                then=[c for tier in below for c in ordered if c.tier == tier],
                                capabilities=request.capabilities,
                                poorly_rated=self.snapshot.poorly_rated)
