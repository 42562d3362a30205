"""Deterministic fault draws: which request fails, and how.

Each model keeps its own request counter; request *n* of model *m* fails when a generator seeded
by ``(seed, m, n)`` says so. The same seed and the same sequence of requests per model give the
same faults, whatever the interleaving across models.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass

from core.catalog import ModelSpec
from core.sandbox.config import FaultKind, SandboxConfig
from core.sandbox.textgen import seeded_rng

ANTHROPIC_ONLY: frozenset[FaultKind] = frozenset({"overloaded"})

# The HTTP status each error-response fault answers with.
FAULT_STATUS: dict[FaultKind, int] = {
    "rate_limit": 429,
    "server_error": 500,
    "unavailable": 503,
    "overloaded": 529,
}


@dataclass(frozen=True)
class Fault:
    """One drawn fault and the numbers it needs."""

    kind: FaultKind
    hang_seconds: float = 0.0
    retry_after_seconds: float = 0.0

    @property
    def status(self) -> int | None:
        """The HTTP status of an error-response fault; None for hang, reset and malformed."""
        return FAULT_STATUS.get(self.kind)

    def retry_after_headers(self) -> dict[str, str]:
        """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``."""
        seconds = self.retry_after_seconds
        return {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}


class FaultInjector:
    """Draws faults for requests, following the config's rates, kinds and overrides."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def draw(self, model: ModelSpec, protocol: str) -> Fault | None:
        """The fault for the next request to ``model``, or None for a normal answer."""
        spec = self.config.fault_spec_for(model.id, model.provider)
        if spec.failure_rate <= 0:
            return None
        with self._lock:
            number = self._counters[model.id]
            self._counters[model.id] = number + 1
        kinds = [
            k for k in spec.kinds if k not in ANTHROPIC_ONLY or protocol == "anthropic_messages"
        ]
        rng = seeded_rng("fault", self.config.seed, model.id, number)
        if not kinds or rng.random() >= spec.failure_rate:
            return None
        return Fault(
            kind=rng.choice(kinds),
            hang_seconds=spec.hang_seconds,
            retry_after_seconds=spec.retry_after_seconds * self.config.latency_scale,
        )
