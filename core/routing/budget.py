"""Budgets: a call is sent only if its worst-case cost fits every limit.

``BudgetManager`` keeps three limits — per run, per provider per day, global per day — in
``Decimal``. ``reserve`` books a call's worst case (or raises ``BudgetExceeded`` naming the
budget and how to raise it); ``settle`` replaces the booking by what the call actually cost;
``release`` drops it when the call failed without usage. A warning fires once per budget when
spend crosses ``warn_at`` of it. Methods never await and hold a lock, so the manager is safe
under asyncio and from the dashboard's thread alike.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from core.catalog import Catalog, ModelSpec, Price, Tier
from core.errors import BudgetExceeded
from core.policy import BudgetSettings
from core.pricing import worst_case_cost

ZERO = Decimal(0)
POLICY_HINT = "data/policy.toml [budget]"


@dataclass(frozen=True, slots=True)
class Reservation:
    """A booked worst case for one call; ``unpriced`` when the model has no known price."""

    id: int
    provider: str
    amount: Decimal
    unpriced: bool = False


@dataclass(frozen=True, slots=True)
class BudgetWarning:
    """Spend crossed the warning fraction of one budget."""

    budget: str  # "per-run", "per-provider-per-day" or "global-per-day"
    provider: str
    spent: Decimal
    limit: Decimal

    @property
    def message(self) -> str:
        """One human-readable line."""
        who = f" for {self.provider}" if self.budget == "per-provider-per-day" else ""
        share = self.spent / self.limit * 100
        return f"{self.budget} budget{who} at {share:.0f}% (${self.spent:.4f} of ${self.limit})"


def tier_ceiling_price(catalog: Catalog, tier: Tier) -> Price | None:
    """The priciest price of a tier: what an unpriced model of that tier is budgeted at."""
    prices = [m.price for m in catalog.by_tier(tier) if m.price is not None]
    if not prices:
        return None
    return max(prices, key=lambda p: p.input_per_mtok + p.output_per_mtok)


def worst_case_for(
    catalog: Catalog, model: ModelSpec, input_tokens: int, max_output_tokens: int
) -> tuple[Decimal, bool]:
    """The most a call can cost and whether the model is unpriced (charged at its tier's top)."""
    if model.price is not None:
        return worst_case_cost(model, input_tokens, max_output_tokens), False
    ceiling = tier_ceiling_price(catalog, model.tier)
    return worst_case_cost(model, input_tokens, max_output_tokens, ceiling), True


class BudgetManager:
    """Per-run, per-provider-per-day and global-per-day budgets with reservations.

    Args:
        settings: the ``[budget]`` section of the policy.
        spent_today: USD already spent today by provider (seeded from the ledger).
        spent_in_run: USD this run already spent before (a resumed run keeps its budget).
        on_warning: called once per budget (per day for daily ones) when spend reaches warn_at.
        clock: unix time, injectable; the day rolls over at UTC midnight.
    """

    def __init__(
        self,
        settings: BudgetSettings,
        *,
        spent_today: Mapping[str, Decimal] | None = None,
        spent_in_run: Decimal = ZERO,
        on_warning: Callable[[BudgetWarning], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._listeners: list[Callable[[BudgetWarning], None]] = [on_warning] if on_warning else []
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._day = self._today()
        self._run_spent = Decimal(spent_in_run)
        self._day_spent: dict[str, Decimal] = {p: Decimal(v) for p, v in (spent_today or {}).items()}
        self._pending: dict[int, Reservation] = {}
        self._pending_by_provider: dict[str, Decimal] = {}
        self._pending_total = ZERO
        self._warned: set[tuple[str, str, str]] = set()

    # ── queries ──────────────────────────────────────────────────────────────────────────
    def headroom(self, provider: str) -> tuple[Decimal, str]:
        """What a new reservation for ``provider`` may cost at most, and the budget that binds."""
        with self._lock:
            self._roll_day()
            return min(self._limits(provider), key=lambda pair: pair[0])

    def check(self, provider: str, amount: Decimal) -> str | None:
        """Why reserving ``amount`` would fail (one line), or None when it fits."""
        room, budget = self.headroom(provider)
        if amount <= room:
            return None
        return f"needs ${amount:.4f}, {budget} budget has ${max(room, ZERO):.4f} left"

    def spent(self) -> dict[str, Decimal | dict[str, Decimal]]:
        """Settled spend: this run, today globally, today per provider."""
        with self._lock:
            self._roll_day()
            return {
                "run": self._run_spent,
                "today": sum(self._day_spent.values(), ZERO),
                "today_by_provider": dict(self._day_spent),
            }

    # ── reservations ─────────────────────────────────────────────────────────────────────
    def reserve(self, provider: str, amount: Decimal, *, unpriced: bool = False) -> Reservation:
        """Book ``amount`` for a call, or raise ``BudgetExceeded`` naming the budget to raise."""
        with self._lock:
            self._roll_day()
            for room, budget in self._limits(provider):
                if amount > room:
                    raise BudgetExceeded(self._exceeded_message(budget, provider, amount, room))
            reservation = Reservation(next(self._ids), provider, amount, unpriced)
            self._pending[reservation.id] = reservation
            self._pending_by_provider[provider] = self._pending_by_provider.get(provider, ZERO) + amount
            self._pending_total += amount
            return reservation

    def settle(self, reservation: Reservation, actual: Decimal | None) -> Decimal:
        """Replace a booking by the actual cost (None, for unpriced calls, keeps the worst case)."""
        charged = reservation.amount if actual is None else actual
        with self._lock:
            if not self._drop(reservation):
                return ZERO
            self._run_spent += charged
            self._day_spent[reservation.provider] = (
                self._day_spent.get(reservation.provider, ZERO) + charged
            )
            warnings = self._new_warnings(reservation.provider)
        for warning in warnings:
            for listener in list(self._listeners):
                listener(warning)
        return charged

    def subscribe(self, listener: Callable[[BudgetWarning], None]) -> None:
        """Also call ``listener`` on every budget warning (the dispatcher turns them into events)."""
        self._listeners.append(listener)

    def release(self, reservation: Reservation) -> None:
        """Drop a booking whose call failed without usage: it costs nothing."""
        with self._lock:
            self._drop(reservation)

    # ── internals (called with the lock held) ────────────────────────────────────────────
    def _limits(self, provider: str) -> list[tuple[Decimal, str]]:
        s = self.settings
        pending_provider = self._pending_by_provider.get(provider, ZERO)
        day_total = sum(self._day_spent.values(), ZERO)
        return [
            (s.per_run_usd - self._run_spent - self._pending_total, "per-run"),
            (
                s.per_provider_per_day_usd - self._day_spent.get(provider, ZERO) - pending_provider,
                "per-provider-per-day",
            ),
            (s.global_per_day_usd - day_total - self._pending_total, "global-per-day"),
        ]

    def _drop(self, reservation: Reservation) -> bool:
        if self._pending.pop(reservation.id, None) is None:
            return False
        provider = reservation.provider
        self._pending_by_provider[provider] -= reservation.amount
        self._pending_total -= reservation.amount
        return True

    def _new_warnings(self, provider: str) -> list[BudgetWarning]:
        s = self.settings
        threshold = Decimal(str(s.warn_at))
        checks = [
            ("per-run", "", self._run_spent, s.per_run_usd),
            ("per-provider-per-day", provider, self._day_spent[provider], s.per_provider_per_day_usd),
            ("global-per-day", "", sum(self._day_spent.values(), ZERO), s.global_per_day_usd),
        ]
        fired = []
        for budget, who, spent, limit in checks:
            key = (budget, who, self._day if budget != "per-run" else "")
            if spent >= limit * threshold and key not in self._warned:
                self._warned.add(key)
                fired.append(BudgetWarning(budget, provider, spent, limit))
        return fired

    def _exceeded_message(self, budget: str, provider: str, amount: Decimal, room: Decimal) -> str:
        field = {
            "per-run": "per_run_usd",
            "per-provider-per-day": "per_provider_per_day_usd",
            "global-per-day": "global_per_day_usd",
        }[budget]
        limit = getattr(self.settings, field)
        who = f" for {provider}" if budget == "per-provider-per-day" else ""
        return (
            f"{budget} budget{who} of ${limit} would be exceeded: this call may cost "
            f"${amount:.4f} and ${max(room, ZERO):.4f} is left; raise {field} in {POLICY_HINT}"
        )

    def _today(self) -> str:
        return datetime.fromtimestamp(self._clock(), tz=timezone.utc).date().isoformat()

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day = today
            self._day_spent = {}
