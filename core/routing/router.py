"""The router: task → complexity → tier → viable candidates → ranked → capped → primary + fallbacks.

Candidates of a tier are filtered by capability, context window (prompt + max output),
availability (key or sandbox; providers whose key failed are marked unavailable), breaker state
and budget; ranked by expected cost (price × estimated tokens; an unpriced model is ranked at its
tier's priciest price and flagged) with observed latency as tie-break. The concentration cap then
keeps any provider under its share of calls. Every decision carries a one-line reason.

The hot path builds no pydantic objects: per-tier candidate lists are computed once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.calls.resilience import BreakerBoard
from core.catalog import TIERS, Catalog, Tier
from core.errors import AllModelsFailed, BudgetExceeded
from core.policy import ConcentrationSettings, Policy
from core.pricing import MTOK
from core.routing.budget import BudgetManager
from core.routing.candidates import Candidate, RouteRequest
from core.routing.complexity import classify
from core.routing.rankers import Ranker

DAY_S = 86_400.0


class ShareTracker:
    """Calls per provider, in this run and over a rolling day, counted when a call starts.

    Counting at the start includes calls still in flight, so concurrent routing sees them.
    """

    def __init__(self, settings: ConcentrationSettings | None = None, *,
                 clock: Callable[[], float] = time.time, window_s: float = DAY_S,
                 history: Iterable[tuple[float, str]] = ()) -> None:
        self.settings = settings or ConcentrationSettings()
        self._clock = clock
        self._window = window_s
        self._run: dict[str, int] = {}
        self._run_total = 0
        self._day: dict[str, int] = {}
        self._events: deque[tuple[float, str]] = deque()
        for ts, provider in sorted(history):  # earlier calls today, e.g. from the ledger
            self._events.append((ts, provider))
            self._day[provider] = self._day.get(provider, 0) + 1

    def record(self, provider: str) -> None:
        """Count one call to ``provider`` (made now)."""
        self._run[provider] = self._run.get(provider, 0) + 1
        self._run_total += 1
        self._events.append((self._clock(), provider))
        self._day[provider] = self._day.get(provider, 0) + 1

    def over_cap(self, provider: str) -> float | None:
        """``provider``'s current share if one more call would push it above the cap, else None."""
        self._expire()
        cap, min_calls = self.settings.cap, self.settings.min_calls
        for counts, total in ((self._run, self._run_total), (self._day, len(self._events))):
            count = counts.get(provider, 0)
            if total >= min_calls and count + 1 > cap * (total + 1):
                return count / total
        return None

    def shares(self) -> dict[str, dict[str, float]]:
        """Each provider's share of calls this run and today (for the dashboard)."""
        self._expire()
        day_total = len(self._events) or 1
        run_total = self._run_total or 1
        return {p: {"run": self._run.get(p, 0) / run_total, "day": self._day.get(p, 0) / day_total}
                for p in sorted(set(self._run) | set(self._day))}

    def _expire(self) -> None:
        horizon = self._clock() - self._window
        events = self._events
        while events and events[0][0] < horizon:
            _, provider = events.popleft()
            self._day[provider] -= 1


class LatencyTracker:
    """An exponentially weighted moving average of each model's latency (ms)."""

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self._ms: dict[str, float] = {}

    def observe(self, model: str, latency_ms: float) -> None:
        """Feed one successful call's latency."""
        old = self._ms.get(model)
        self._ms[model] = latency_ms if old is None else old + self.alpha * (latency_ms - old)

    def get(self, model: str) -> float:
        """The model's average latency; 0 for a model not seen yet (so it gets tried)."""
        return self._ms.get(model, 0.0)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A candidate left out of a decision, and why."""

    model: str
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
            "skipped": [{"model": s.model, "reason": s.reason} for s in self.skipped],
            "unpriced": self.unpriced,
        }


class Router:
    """Decides where a task goes. State trackers are shared with the dispatcher, which feeds them.

    Args:
        catalog, policy: what exists and the rules.
        available: ``provider -> bool`` (e.g. ``Gateway.available``) or a set of providers;
            None means all.
        budget, breakers, shares, latency: live state; each may be omitted.
        poorly_rated: model id → why it was rated poorly (see ``core.execution.runs.poorly_rated``):
            such a model is ranked after every other viable model of its tier.
        ranker: ranks viable candidates of every tier first (e.g. the learned ranker); when it
            abstains, the heuristic (complexity → tier → cheapest) decides.
    """

    def __init__(
        self,
        catalog: Catalog,
        policy: Policy | None = None,
        *,
        available: Callable[[str], bool] | Collection[str] | None = None,
        budget: BudgetManager | None = None,
        breakers: BreakerBoard | None = None,
        shares: ShareTracker | None = None,
        latency: LatencyTracker | None = None,
        poorly_rated: Mapping[str, str] | None = None,
        ranker: Ranker | None = None,
    ) -> None:
        self.catalog = catalog
        self.policy = policy or Policy()
        if available is not None and not callable(available):
            available = frozenset(available).__contains__
        self.available: Callable[[str], bool] | None = available
        self.budget = budget
        self.breakers = breakers or BreakerBoard(self.policy.breaker)
        self.shares = shares or ShareTracker(self.policy.concentration)
        self.latency = latency or LatencyTracker()
        self.poorly_rated = dict(poorly_rated or {})
        self.ranker = ranker
        self.unavailable: dict[str, str] = {}
        self._candidates = {m.id: Candidate(m, catalog) for m in catalog.models.values()}
        self._by_tier: dict[str, tuple[Candidate, ...]] = {
            tier: tuple(sorted((self._candidates[m.id] for m in catalog.by_tier(tier)),
                               key=lambda c: (c.out_rate, c.in_rate)))
            for tier in TIERS
        }

    def mark_unavailable(self, provider: str, reason: str) -> None:
        """Take a provider out of routing (its key was refused) until ``mark_available``."""
        self.unavailable[provider] = reason

    def mark_available(self, provider: str) -> None:
        """Put a provider back into routing."""
        self.unavailable.pop(provider, None)

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
        notes.extend(f"{c.id} {self.poorly_rated[c.id]} → ranked last" for c in ranked
                     if c.id in self.poorly_rated and c is not primary
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
            why = self._rejection(cand, caps, need, prompt, out_tokens, rooms)
            if why:
                skipped.append(Skipped(cand.id, why))
                continue
            cost = cand.in_rate * prompt + cand.out_rate * out_tokens
            viable.append((cand.id in self.poorly_rated, cost, self.latency.get(cand.id), cand))
        viable.sort(key=_rank_key)
        return [v[3] for v in viable]

    def _rejection(self, cand: Candidate, caps: tuple[str, ...], need: int, prompt: int,
                   out_tokens: int, rooms: dict[str, Decimal]) -> str:
        """Why a candidate is not viable, or '' when it is."""
        if cand.only_for and cand.only_for.isdisjoint(caps):
            return f"kept for tasks needing {', '.join(sorted(cand.only_for))}"
        for cap in caps:
            if cap not in cand.caps:
                return f"lacks {cap}"
        if cand.context < need:
            return f"context {cand.context:,} < {need:,} tokens needed"
        provider = cand.provider
        if provider in self.unavailable:
            return f"{provider} unavailable: {self.unavailable[provider]}"
        if self.available is not None and not self.available(provider):
            return f"{provider} not configured (local server: set its base URL, e.g. OLLAMA_HOST)"
        if self.breakers.blocking(provider):
            return f"{provider} breaker open"
        if self.budget is not None:
            room = rooms.get(provider)
            if room is None:
                room = rooms[provider] = self.budget.headroom(provider)[0]
            worst = (prompt * cand.in_price + out_tokens * cand.out_price) / MTOK
            if worst > room:
                return f"over budget (needs ${worst:.4f}, ${max(room, Decimal(0)):.4f} left)"
        return ""

    def _apply_cap(self, ranked: list[Candidate]) -> tuple[Candidate, str]:
        """The top candidate unless its provider is over the cap; then the next provider's."""
        top = ranked[0]
        share = self.shares.over_cap(top.provider)
        if share is None:
            return top, ""
        pct = f"{top.provider} at {share:.0%} of calls"
        for cand in ranked[1:]:
            if cand.provider != top.provider and self.shares.over_cap(cand.provider) is None:
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


_ORDERS: dict[str, tuple[str, ...]] = {
    "economy": ("economy", "balanced"),  # nothing below economy: one tier up, last
    "balanced": ("balanced", "economy"),
    "premium": ("premium", "balanced", "economy"),
}


def _tier_order(tier: str) -> tuple[str, ...]:
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


_NOTABLE = (" unavailable", " breaker open", "over budget")


def _skip_notes(skipped: list[Skipped]) -> list[str]:
    """Notes for skips a user should know about (capability and context skips are implied)."""
    notes: dict[str, None] = {}
    for skip in skipped:
        if any(mark in skip.reason for mark in _NOTABLE):
            note = skip.reason if "budget" not in skip.reason else f"{skip.model} {skip.reason}"
            notes[f"{note} → skipped"] = None
    return list(notes)[:4]


def _no_route(head: str, skipped: list[Skipped]) -> Exception:
    """The error when no model can take a task; if budgets ruled any out, that is the fix."""
    details = "; ".join(f"{s.model}: {s.reason}" for s in skipped[:6]) or "no models in catalog"
    message = f"no model can take this task ({head}): {details}"
    if any("over budget" in s.reason for s in skipped):
        return BudgetExceeded(message + "; raise the budget in data/policy.toml [budget]")
    return AllModelsFailed(message, [])
