"""Building a session's call stack from the ledger: budgets seeded with today's spend (and a
resumed run's own), the rolling-day concentration cap seeded with today's calls, and the
models rated below the quality bar. Every entry point (run, ask, patterns, the dashboard)
builds its stack here, so every call is held to the same budgets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from core.calls.cache import ResponseCache
from core.calls.resilience import BreakerBoard
from core.calls.stack import CallStack
from core.calls.context import GatewayLike
from core.routing.state import routing_state
from core.execution.events import RunEvent
from core.ledger import HistoryFilter, Ledger, grouped_history, model_ratings
from core.policy import Policy
from core.routing.rankers import Ranker
from core.routing.state import DAY_S, ShareTracker
from core.types import AttemptRecord


def spent_today(ledger: Ledger) -> dict[str, Decimal]:
    """Today's (UTC) spend per provider, from the ledger (seeds the daily budgets)."""
    today = datetime.now(UTC).date()
    frame = grouped_history(HistoryFilter(since=today, until=today), by="provider",
                            ledger=ledger)
    return {str(row.provider): Decimal(str(row.spend_usd)) for row in frame.itertuples()}


def poorly_rated(ledger: Ledger, policy: Policy) -> dict[str, str]:
    """Models rated (by people or a judge) below the policy's ``[quality]`` bar, and why."""
    frame = model_ratings(ledger=ledger)
    bar = policy.quality
    return {
        str(row.model): f"rated {row.mean_rating:.1f}/5 over {row.ratings} ratings"
        for row in frame.itertuples()
        if row.ratings >= bar.min_ratings and row.mean_rating < bar.min_mean
    }


def open_stack(gateway: GatewayLike, policy: Policy, ledger: Ledger, *,
               on_attempt: Callable[[AttemptRecord], None], run_id: str = "",
               breakers: BreakerBoard | None = None, ranker: Ranker | None = None,
               on_event: Callable[[RunEvent], None] | None = None) -> CallStack:
    """A call stack whose budgets, cap and ratings start from what the ledger holds.

    ``run_id`` names a run being resumed: its budget starts from what it already spent.
    ``breakers`` shares one board across sessions (the dashboard keeps one per process).
    With ``policy.cache.enabled`` (the policy's ``[cache]``, or a command's ``--cache``), the
    stack answers exact repeats from the ledger's response cache (``core.calls.cache``).
    Unless ``ranker`` is given, ``[routing] mode = "learned"`` ranks by the learned ranker.
    """
    shares = ShareTracker(policy.concentration, history=ledger.calls_since(time.time() - DAY_S))
    state = routing_state(
        policy, configured=gateway.available, spent_today=spent_today(ledger),
        spent_in_run=ledger.run_spend(run_id) if run_id else Decimal(0),
        breakers=breakers, shares=shares, poorly_rated=poorly_rated(ledger, policy))
    return CallStack(gateway, policy, state, ranker=ranker or policy_ranker(policy, ledger),
                     on_attempt=on_attempt, on_event=on_event,
                     cache=ResponseCache(ledger, policy.cache) if policy.cache.enabled else None)


def policy_ranker(policy: Policy, ledger: Ledger) -> Ranker | None:
    """The ranker ``[routing] mode`` puts before the router's heuristic: None in heuristic
    mode (the heuristic decides alone), else the learned one trained on the ledger's outcomes
    (imported only then: scikit-learn is heavy to load)."""
    if policy.routing.mode != "learned":
        return None
    from core.routing.learned_ranker import learned_ranker_for

    return learned_ranker_for(policy, ledger)
