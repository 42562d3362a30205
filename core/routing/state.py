"""Routing state: what routing decisions depend on, owned by one session and fed by the call
stack — budgets, breakers, the providers' shares of calls, latency and availability.

The router only reads it: its filters and the concentration cap read the live state, and the
heuristic ranker sees a ``RoutingSnapshot`` (latency and ratings, copied when a decision
starts). The call stack's admission step is the one writer: it reserves budget, takes a breaker
slot and counts the call's share.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.calls.resilience import BreakerBoard
from core.policy import ConcentrationSettings, Policy
from core.routing.budget import BudgetManager

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

    def snapshot(self) -> dict[str, float]:
        """A copy of every seen model's average latency (ms)."""
        return dict(self._ms)


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    """What a ranker may read of the routing state, copied when a decision starts.

    Attributes:
        latency_ms: each seen model's average latency (a model not in it counts as 0 ms).
        poorly_rated: model → why people or a judge rated it below the quality bar.
    """

    latency_ms: Mapping[str, float] = field(default_factory=dict)
    poorly_rated: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RoutingState:
    """Everything routing depends on that changes while a session runs.

    Attributes:
        budget: per-run and daily budgets with reservations.
        breakers: one circuit breaker per provider.
        shares: calls per provider (run and rolling day) for the concentration cap.
        latency: each model's average latency (a tie-break when ranking).
        configured: ``provider -> bool``: whether routing may choose it (a local server only
            when configured); None means every provider.
        unavailable: providers taken out of routing this session (their key was refused), why.
        poorly_rated: model → why people or a judge rated it below the quality bar.
    """

    budget: BudgetManager | None
    breakers: BreakerBoard
    shares: ShareTracker
    latency: LatencyTracker = field(default_factory=LatencyTracker)
    configured: Callable[[str], bool] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    poorly_rated: dict[str, str] = field(default_factory=dict)

    def mark_unavailable(self, provider: str, reason: str) -> None:
        """Take a provider out of routing (its key was refused) for this session."""
        self.unavailable[provider] = reason

    def mark_available(self, provider: str) -> None:
        """Put a provider back into routing."""
        self.unavailable.pop(provider, None)

    def snapshot(self) -> RoutingSnapshot:
        """What rankers may see of this state now (latency and ratings, copied)."""
        return RoutingSnapshot(self.latency.snapshot(), dict(self.poorly_rated))


def routing_state(policy: Policy, *, configured: Callable[[str], bool] | None = None,
                  spent_today: Mapping[str, Decimal] | None = None,
                  spent_in_run: Decimal = Decimal(0), **overrides: Any) -> RoutingState:
    """A session's routing state from ``policy``: budgets seeded with today's and this run's
    spend, fresh breakers and shares unless given (``breakers=``, ``shares=``, ...)."""
    values: dict[str, Any] = {
        "budget": BudgetManager(policy.budget, spent_today=spent_today,
                                spent_in_run=spent_in_run),
        "breakers": BreakerBoard(policy.breaker),
        "shares": ShareTracker(policy.concentration),
        "configured": configured,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return RoutingState(**values)
