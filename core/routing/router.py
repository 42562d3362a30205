"""The router: task → complexity → tier → viable candidates → ranked → capped → primary + fallbacks.

Candidates of a tier are filtered by capability, context window (prompt + max output),
availability (key or sandbox; providers whose key failed are marked unavailable), breaker state
and budget; ranked by expected cost (price × estimated tokens; an unpriced model is ranked at its
tier's priciest price and flagged) with observed latency as tie-break. The concentration cap then
keeps any provider under its share of calls. Every decision carries a one-line reason.

The hot path builds no pydantic objects: per-tier candidate lists are computed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from core.catalog import TIERS, Catalog, Tier
from core.errors import AllModelsFailed, BudgetExceeded
from core.policy import Policy
from core.pricing import MTOK
from core.calls.resilience import BreakerBoard
from core.routing.candidates import Candidate, RouteRequest
from core.routing.complexity import classify
from core.routing.rankers import Ranker
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
        ranker: ranks viable candidates of every tier first (e.g. the learned ranker); when it
            abstains, the heuristic (complexity → tier → cheapest, a model rated below the
            quality bar last in its tier) decides.
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
        complexity, head = self._complexity(request)
        if request.model:
            return self._pinned(request, complexity)
        skipped: list[Skipped] = []
        if self.ranker is not None and request.tier is None:
            decision = self._by_ranker(self.ranker, request, complexity, skipped)
            if isinstance(decision, RouteDecision):
                return decision
            head = f"{decision}; {head}"
        tier = request.tier or self.policy.tiers.tier_for(complexity)
        head = f"tier {tier} pinned ({head})" if request.tier else f"{head} → {tier}"
        rooms: dict[str, Decimal] = {}
        tiers = _tier_order(tier)
        ranked = self._ranked(tiers[0], request, skipped, rooms)
        chosen_tier = tiers[0]
        for lower in tiers[1:]:
            if ranked:
                break
            ranked, chosen_tier = self._ranked(lower, request, skipped, rooms), lower
        if not ranked:
            raise _no_route(head, skipped)
        primary, cap_note = self._apply_cap(ranked)
        fallbacks = self._fallbacks(primary, ranked, tiers[tiers.index(chosen_tier) + 1:], request, rooms)
        notes = [head]
        if chosen_tier != tier:
            notes.append(f"no viable {tier} model → {chosen_tier}")
        notes.append(_why_primary(primary, ranked, request.capabilities))
        rated = self.state.poorly_rated
        notes.extend(f"{c.id} {rated[c.id]} → ranked last" for c in ranked
                     if c.id in rated and c is not primary
                     and (c.out_rate, c.in_rate) <= (primary.out_rate, primary.in_rate))
        if cap_note:
            notes.append(cap_note)
        notes.extend(_skip_notes(skipped))
        return RouteDecision(complexity, chosen_tier, primary.id, fallbacks, "; ".join(notes),
                             skipped, primary.unpriced)

    def _by_ranker(self, ranker: Ranker, request: RouteRequest, complexity: int,
                   skipped: list[Skipped]) -> RouteDecision | str:
        """The ranker's decision over every viable candidate of every tier, or why it abstained
        (the heuristic then decides, and quotes that reason)."""
        rooms: dict[str, Decimal] = {}
        viable = [c for tier in TIERS for c in self._ranked(tier, request, skipped, rooms)]
        if not viable:
            raise _no_route(f"{ranker.name} ranker", skipped)
        ranking = ranker.rank(request, viable)
        if ranking.abstained:
            return f"{ranker.name} ranker abstained ({ranking.reason}) → heuristic"
        order = ranking.order
        primary, cap_note = self._apply_cap(order)
        fallbacks = [c.id for c in order if c is not primary]
        notes = [f"{ranker.name}: {ranking.reason}", cap_note, *_skip_notes(skipped)]
        return RouteDecision(complexity, primary.tier, primary.id, fallbacks,
                             "; ".join(n for n in notes if n), skipped, primary.unpriced)

    def bigger_context(self, request: RouteRequest, failed_model: str,
                       exclude: Iterable[str] = ()) -> list[str]:
        """After ``ContextLengthExceeded``: viable models with a bigger window, any tier.

        Same tier first, then higher tiers, then lower ones; cheapest first within each.
        """
        failed = self._candidates[failed_model]
        excluded = set(exclude) | {failed_model}
        rooms: dict[str, Decimal] = {}
        index = TIERS.index(failed.tier)
        order = [failed.tier, *TIERS[index + 1:], *reversed(TIERS[:index])]
        out: list[str] = []
        for tier in order:
            for cand in self._ranked(tier, request, [], rooms):
                if cand.context > failed.context and cand.id not in excluded:
                    out.append(cand.id)
        return out

    # ── steps ────────────────────────────────────────────────────────────────────────────
    def _complexity(self, request: RouteRequest) -> tuple[int, str]:
        if request.complexity is not None:
            return request.complexity, f"complexity {request.complexity}"
        score = classify(request.text, request.kind, request.dependencies, request.capabilities)
        return score.score, f"complexity {score.score}"

    def _pinned(self, request: RouteRequest, complexity: int) -> RouteDecision:
        pinned = self._candidates[self.catalog.model(request.model or "").id]
        skipped: list[Skipped] = []
        rooms: dict[str, Decimal] = {}
        tiers = _tier_order(pinned.tier)
        ranked = [c for c in self._ranked(pinned.tier, request, skipped, rooms) if c is not pinned]
        fallbacks = self._fallbacks(pinned, [pinned, *ranked], tiers[1:], request, rooms)
        reason = f"model pinned: {pinned.id} ({pinned.tier})"
        return RouteDecision(complexity, pinned.tier, pinned.id, fallbacks, reason, skipped,
                             pinned.unpriced)

    def _ranked(self, tier: str, request: RouteRequest, skipped: list[Skipped],
                rooms: dict[str, Decimal]) -> list[Candidate]:
        """The viable candidates of a tier, cheapest expected cost first (latency breaks ties)."""
        prompt = request.estimated_prompt_tokens()
        out_tokens = request.max_output_tokens
        need = prompt + out_tokens
        caps = request.capabilities
        viable: list[tuple[bool, float, float, Candidate]] = []
        for cand in self._by_tier[tier]:
            rejection = self._rejection(cand, caps, need, prompt, out_tokens, rooms)
            if rejection is not None:
                skipped.append(Skipped(cand.id, *rejection))
                continue
            cost = cand.in_rate * prompt + cand.out_rate * out_tokens
            viable.append((cand.id in self.state.poorly_rated, cost,
                           self.state.latency.get(cand.id), cand))
        viable.sort(key=_rank_key)
        return [v[3] for v in viable]

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

    def _fallbacks(self, primary: Candidate, ranked: list[Candidate], lower_tiers: tuple[str, ...],
                   request: RouteRequest, rooms: dict[str, Decimal]) -> list[str]:
        """Other providers of the tier, then the primary's provider, then lower tiers."""
        others = [c.id for c in ranked if c.provider != primary.provider]
        same = [c.id for c in ranked if c.provider == primary.provider and c is not primary]
        chain = others + same
        for tier in lower_tiers:
            chain.extend(c.id for c in self._ranked(tier, request, [], rooms))
        seen = {primary.id}
        return [m for m in chain if not (m in seen or seen.add(m))]  # type: ignore[func-returns-value]


_ORDERS: dict[str, tuple[Tier, ...]] = {
    "economy": ("economy", "balanced"),  # nothing below economy: one tier up, last
    "balanced": ("balanced", "economy"),
    "premium": ("premium", "balanced", "economy"),
}


def _tier_order(tier: str) -> tuple[Tier, ...]:
    """A tier followed by the tiers below it, nearest first (economy: then balanced)."""
    return _ORDERS[tier]


def _rank_key(item: tuple[bool, float, float, Candidate]) -> tuple[bool, float, float]:
    return item[0], item[1], item[2]


def _why_primary(primary: Candidate, ranked: list[Candidate], caps: tuple[str, ...]) -> str:
    what = "cheapest" if primary is ranked[0] else "next cheapest"
    text = f"{primary.id} {what}" + (f" with {', '.join(caps)}" if caps else "")
    if primary.unpriced:
        text += f" (unpriced: ranked at {primary.tier}'s priciest)"
    return text


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
