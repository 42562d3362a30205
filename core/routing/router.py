"""The router: filter the candidates, ask the rankers, apply the cap, build the chain.

Every model of the tiers the rankers may draw from (all of them when an optional ranker goes
first, else the heuristic's tier and those it falls to) is filtered by capability, context
window (prompt + max output), availability (key or sandbox; providers whose key failed are
marked unavailable), breaker state and budget. The viable ones go to the rankers (``core/routing/rankers.py``): an optional ranker first (e.g. the
learned one, not asked when the request pins a tier), then the heuristic
(``core/routing/heuristic.py``: complexity → tier → cheapest), which decides whenever the
first abstains. The concentration cap then keeps any provider under its share of calls, and
the ranking gives the fallback chain. Every decision carries a one-line reason: the
abstentions, the ranking's explanation, the cap, and the skips a user should know about.

The hot path builds no pydantic objects: per-tier candidate lists are computed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from core.catalog import TIERS, Catalog, Tier
from core.errors import AllModelsFailed, BudgetExceeded
from core.policy import Policy
from core.pricing import MTOK
from core.calls.resilience import BreakerBoard
from core.routing.candidates import Candidate, RouteRequest
from core.routing.heuristic import HeuristicRanker, complexity_of, fall_down, scored
from core.routing.rankers import Ranker, Ranking
from core.routing.state import RoutingState, ShareTracker

SkipKind = Literal["route_only", "capability", "context", "unavailable", "not_configured",
                   "breaker_open", "over_budget"]
NOTABLE_SKIPS: frozenset[SkipKind] = frozenset({"unavailable", "not_configured",
                                                "breaker_open", "over_budget"})


@dataclass(frozen=True, slots=True)
class Skipped:
    """A candidate left out of a decision: what kind of reason, and the reason in words."""

    model: str
    kind: SkipKind
    reason: str


@dataclass(slots=True)
class RouteDecision:
    """The router's answer: primary model, ordered fallbacks, and why."""

    complexity: int
    tier: Tier
    model: str
    fallbacks: list[str]
    reason: str
    skipped: list[Skipped] = field(default_factory=list)
    unpriced: bool = False

    def chain(self) -> list[str]:
        """Primary then fallbacks."""
        return [self.model, *self.fallbacks]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the ``orchestra route --json`` object)."""
        return {
            "complexity": self.complexity,
            "tier": self.tier,
            "model": self.model,
            "fallbacks": list(self.fallbacks),
            "reason": self.reason,
            "skipped": [{"model": s.model, "kind": s.kind, "reason": s.reason}
                        for s in self.skipped],
            "unpriced": self.unpriced,
        }


class Router:
    """Decides where a task goes, reading (never changing) the session's routing state.

    Args:
        catalog, policy: what exists and the rules.
        state: budgets, breakers, shares, latency, availability and ratings (see
            ``RoutingState``); by default an empty state with no budget.
        ranker: ranks viable candidates of every tier before the heuristic (e.g. the learned
            ranker); when it abstains, the heuristic decides and the reason says why.
    """

    def __init__(self, catalog: Catalog, policy: Policy | None = None,
                 state: RoutingState | None = None, *, ranker: Ranker | None = None) -> None:
        self.catalog = catalog
        self.policy = policy or Policy()
        self.state = state or RoutingState(budget=None,
                                           breakers=BreakerBoard(self.policy.breaker),
                                           shares=ShareTracker(self.policy.concentration))
        self.ranker = ranker
        self._candidates = {m.id: Candidate(m, catalog) for m in catalog.models.values()}
        self._by_tier: dict[str, tuple[Candidate, ...]] = {
            tier: tuple(sorted((self._candidates[m.id] for m in catalog.by_tier(tier)),
                               key=lambda c: (c.out_rate, c.in_rate)))
            for tier in TIERS
        }

    # ── the decision ─────────────────────────────────────────────────────────────────────
    def route(self, request: RouteRequest) -> RouteDecision:
        """Choose a primary model and its fallbacks for one task; never calls anything."""
        request = scored(request)
        heuristic = self._heuristic()
        if request.model:
            return self._pinned(request, heuristic)
        rankers: tuple[Ranker, ...] = (heuristic,)
        if self.ranker is None or request.tier is not None:  # a pinned tier: heuristic only
            viable, skips = self._viable(request, heuristic.tiers_for(request))
        else:
            rankers = (self.ranker, heuristic)
            viable, skips = self._viable(request, TIERS)
            viable = heuristic.ordered(request, viable)
        ranker, ranking, notes, tiers = _consult(rankers, request, viable, skips)
        primary, cap_note = self._apply_cap(ranking.order)
        skipped = _reported(skips, tiers)
        notes += [ranking.explain(ranker.name, primary), cap_note, *_skip_notes(skipped)]
        return RouteDecision(complexity_of(request), primary.tier, primary.id,
                             [c.id for c in ranking.fallbacks(primary)],
                             "; ".join(n for n in notes if n), skipped, primary.unpriced)

    def pinned_alone(self, request: RouteRequest) -> RouteDecision:
        """The decision for a pinned model tried on its own (the stack's ``fallback=False``):
        no other candidate is examined, so it has no fallbacks and no skips to report. The
        pinned model's budget, breaker and cap are still checked when the stack admits it."""
        request = scored(request)
        pinned = self._candidates[self.catalog.model(request.model or "").id]
        return RouteDecision(complexity_of(request), pinned.tier, pinned.id, [],
                             f"model pinned: {pinned.id} ({pinned.tier})", [], pinned.unpriced)

    def bigger_context(self, request: RouteRequest, failed_model: str,
                       exclude: Iterable[str] = ()) -> list[str]:
        """After ``ContextLengthExceeded``: viable models with a bigger window, any tier.

        Same tier first, then higher tiers, then lower ones; cheapest first within each.
        """
        failed = self._candidates[failed_model]
        excluded = set(exclude) | {failed_model}
        viable, _ = self._viable(request, TIERS)
        ordered = self._heuristic().ordered(request, viable)
        index = TIERS.index(failed.tier)
        order = [failed.tier, *TIERS[index + 1:], *reversed(TIERS[:index])]
        return [c.id for tier in order for c in ordered
                if c.tier == tier and c.context > failed.context and c.id not in excluded]

    # ── steps ────────────────────────────────────────────────────────────────────────────
    def _heuristic(self) -> HeuristicRanker:
        """The heuristic ranker over a snapshot of the state taken now."""
        return HeuristicRanker(self.policy.tiers, self.state.snapshot())

    def _pinned(self, request: RouteRequest, heuristic: HeuristicRanker) -> RouteDecision:
        pinned = self._candidates[self.catalog.model(request.model or "").id]
        viable, skips = self._viable(request, fall_down(pinned.tier))
        ranking = heuristic.from_tier(request, viable, pinned.tier)
        reason = f"model pinned: {pinned.id} ({pinned.tier})"
        return RouteDecision(complexity_of(request), pinned.tier, pinned.id,
                             [c.id for c in ranking.fallbacks(pinned)], reason,
                             _reported(skips, ranking.tiers), pinned.unpriced)

    def _viable(self, request: RouteRequest, tiers: Sequence[Tier]
                ) -> tuple[list[Candidate], dict[Tier, list[Skipped]]]:
        """The candidates of ``tiers`` that pass the filters (tier by tier, by list price) and
        each tier's skipped ones."""
        prompt = request.estimated_prompt_tokens()
        out_tokens = request.max_output_tokens
        need = prompt + out_tokens
        caps = request.capabilities
        rooms: dict[str, Decimal] = {}
        skips: dict[Tier, list[Skipped]] = {tier: [] for tier in TIERS}
        viable: list[Candidate] = []
        for tier in tiers:
            for cand in self._by_tier[tier]:
                rejection = self._rejection(cand, caps, need, prompt, out_tokens, rooms)
                if rejection is None:
                    viable.append(cand)
                else:
                    skips[tier].append(Skipped(cand.id, *rejection))
        return viable, skips

    def _rejection(self, cand: Candidate, caps: tuple[str, ...], need: int, prompt: int,
                   out_tokens: int, rooms: dict[str, Decimal]) -> tuple[SkipKind, str] | None:
        """Why a candidate is not viable (kind and words), or None when it is."""
        if cand.only_for and cand.only_for.isdisjoint(caps):
            return "route_only", f"kept for tasks needing {', '.join(sorted(cand.only_for))}"
        for cap in caps:
            if cap not in cand.caps:
                return "capability", f"lacks {cap}"
        if cand.context < need:
            return "context", f"context {cand.context:,} < {need:,} tokens needed"
        state, provider = self.state, cand.provider
        if provider in state.unavailable:
            return "unavailable", f"{provider} unavailable: {state.unavailable[provider]}"
        if state.configured is not None and not state.configured(provider):
            return "not_configured", (f"{provider} not configured (local server: set its base "
                                      "URL, e.g. OLLAMA_HOST)")
        if state.breakers.blocking(provider):
            return "breaker_open", f"{provider} breaker open"
        if state.budget is not None:
            room = rooms.get(provider)
            if room is None:
                room = rooms[provider] = state.budget.headroom(provider)[0]
            worst = (prompt * cand.in_price + out_tokens * cand.out_price) / MTOK
            if worst > room:
                return "over_budget", (f"{cand.id} over budget (needs ${worst:.4f}, "
                                       f"${max(room, Decimal(0)):.4f} left)")
        return None

    def _apply_cap(self, ranked: list[Candidate]) -> tuple[Candidate, str]:
        """The top candidate unless its provider is over the cap; then the next provider's."""
        top = ranked[0]
        share = self.state.shares.over_cap(top.provider)
        if share is None:
            return top, ""
        pct = f"{top.provider} at {share:.0%} of calls"
        for cand in ranked[1:]:
            if cand.provider != top.provider and self.state.shares.over_cap(cand.provider) is None:
                return cand, f"{pct} → skipped"
        return top, f"{pct} but no other provider can take it → cap yields"


def _consult(rankers: Sequence[Ranker], request: RouteRequest, viable: list[Candidate],
             skips: dict[Tier, list[Skipped]]) -> tuple[Ranker, Ranking, list[str], list[Tier]]:
    """The first ranker that does not abstain and its ranking, the abstentions before it (as
    notes) and the tiers the rankings asked drew from; no route when the last one abstains."""
    notes: list[str] = []
    tiers: list[Tier] = []
    *optional, last = rankers
    for ranker, after in zip(optional, rankers[1:]):
        if not viable:  # nothing for an optional ranker to rank
            raise _no_route(f"{ranker.name} ranker", _reported(skips, TIERS))
        ranking = ranker.rank(request, viable)
        tiers.extend(ranking.tiers)
        if not ranking.abstained:
            return ranker, ranking, notes, tiers
        notes.append(f"{ranker.name} ranker abstained ({ranking.reason}) → {after.name}")
    ranking = last.rank(request, viable)
    tiers.extend(ranking.tiers)
    if ranking.abstained:
        raise _no_route("; ".join([*notes, ranking.reason]), _reported(skips, tiers))
    return last, ranking, notes, tiers


def _reported(skips: dict[Tier, list[Skipped]], tiers: Iterable[Tier]) -> list[Skipped]:
    """The skipped candidates of ``tiers`` (each tier once, in the order given)."""
    return [s for tier in dict.fromkeys(tiers) for s in skips[tier]]


def _skip_notes(skipped: list[Skipped]) -> list[str]:
    """Notes for skips a user should know about (capability and context skips are implied)."""
    notes = dict.fromkeys(f"{s.reason} → skipped" for s in skipped if s.kind in NOTABLE_SKIPS)
    return list(notes)[:4]


def _no_route(head: str, skipped: list[Skipped]) -> Exception:
    """The error when no model can take a task; if budgets ruled any out, that is the fix."""
    details = "; ".join(f"{s.model}: {s.reason}" for s in skipped[:6]) or "no models in catalog"
    message = f"no model can take this task ({head}): {details}"
    if any(s.kind == "over_budget" for s in skipped):
        return BudgetExceeded(message + "; raise the budget in data/policy.toml [budget]")
    return AllModelsFailed(message, [])
