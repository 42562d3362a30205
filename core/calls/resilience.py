"""Retries and circuit breakers.

``RetryPolicy`` decides whether and when to try a failed call again: exponential backoff with
full jitter, only for retryable errors, honouring a provider's ``retry_after`` unless it would
run past the task's deadline (then the caller gives up on that model and falls back).

``CircuitBreaker`` protects one provider::

    closed ──N consecutive failures──▶ open ──cooldown──▶ half-open (one probe)
       ▲                                 ▲                     │
       └──────────── probe succeeds ─────┼─────────────────────┘
                                         └──── probe fails ────┘

``BreakerBoard`` holds one breaker per provider and gives the dashboard a ``state()`` snapshot.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from core.errors import ProviderError
from core.policy import BreakerSettings, RetrySettings

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter (``uniform(0, min(cap, base·2^(n-1)))``)."""

    base_s: float = 0.5
    cap_s: float = 20.0
    max_attempts: int = 3
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, settings: RetrySettings, rng: random.Random | None = None) -> "RetryPolicy":
        """The retry policy of the ``[retry]`` policy section."""
        return cls(settings.base_s, settings.cap_s, settings.max_attempts, rng or random.Random())

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** (attempt - 1)))
        return self.rng.uniform(0.0, ceiling)

    def delay_for(
        self, error: ProviderError, attempt: int, time_left: float | None = None
    ) -> float | None:
        """Seconds to wait before trying again, or None to stop retrying this model.

        None when the error is not retryable, the attempts are used up, or the wait (the
        provider's ``retry_after`` if it gave one, else the backoff) would pass the deadline.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
        if time_left is not None and delay >= time_left:
            return None
        return max(delay, 0.0)


class CircuitBreaker:
    """One provider's breaker; ``clock`` (monotonic seconds) is injectable for tests."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        """closed, open (rejecting), or half_open (cooled down: one probe may go)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    @property
    def failures(self) -> int:
        """Consecutive failures counted so far."""
        return self._failures

    def blocking(self) -> bool:
        """True when a call would be refused now (open, or half-open with its probe out)."""
        state = self.state
        return state == "open" or (state == "half_open" and self._probing)

    def allow(self) -> bool:
        """Ask to send one call; in half-open this takes the single probe slot."""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "open" or self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        """A call went through: close the breaker and reset the count."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        """A call failed: count it; open at the threshold, or re-open after a failed probe."""
        with self._lock:
            self._failures += 1
            if self._probing or self._opened_at is not None:
                self._opened_at = self._clock()
                self._probing = False
            elif self._failures >= self.failure_threshold:
                self._opened_at = self._clock()

    def release_probe(self) -> None:
        """Give back a half-open probe slot that was taken but not used (e.g. budget refused)."""
        with self._lock:
            self._probing = False

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())


def counts_against_breaker(error: ProviderError) -> bool:
    """Only health failures (5xx, 429, timeouts, cuts) trip breakers; a 400 proves it is up."""
    return error.retryable


class BreakerBoard:
    """One ``CircuitBreaker`` per provider, created on first use."""

    def __init__(
        self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, provider: str) -> CircuitBreaker:
        """The breaker of ``provider``."""
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = self._breakers[provider] = CircuitBreaker(
                self.settings.failure_threshold, self.settings.cooldown_s, self._clock
            )
        return breaker

    def blocking(self, provider: str) -> bool:
        """True when ``provider``'s breaker would refuse a call now (does not take a probe)."""
        breaker = self._breakers.get(provider)
        return breaker is not None and breaker.blocking()

    def record(self, provider: str, error: ProviderError | None) -> None:
        """Feed one call's outcome: None for success, else the error."""
        if error is None or not counts_against_breaker(error):
            self.get(provider).record_success()
        else:
            self.get(provider).record_failure()

    def state(self) -> dict[str, dict[str, object]]:
        """Snapshot for the dashboard: state, consecutive failures, seconds until a probe."""
        return {
            name: {"state": b.state, "failures": b.failures, "retry_in_s": round(b.retry_in(), 3)}
            for name, b in sorted(self._breakers.items())
        }
