"""The ledger record of one HTTP attempt — the one place an ``AttemptRecord`` is built."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from core.calls.context import CallContext
from core.catalog import ModelSpec
from core.errors import ProviderError
from core.types import AttemptRecord, ChatResult, Mode


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """How one attempt ended: a result, an error, or cancelled (neither)."""

    result: ChatResult | None = None
    error: ProviderError | None = None
    cancelled: bool = False


def attempt_record(spec: ModelSpec, mode: Mode, context: CallContext, *, attempt_no: int,
                   started: float, latency_ms: float, outcome: AttemptOutcome,
                   fallback_from: str = "", reason: str = "",
                   trace_ids: tuple[str, str] = ("", "")) -> AttemptRecord:
    """One attempt as the ledger stores it, failed and cancelled ones included.

    An attempt whose answer arrived but was rejected (e.g. invalid structured output) carries
    its usage and cost: it was paid for.
    """
    result, error = outcome.result, outcome.error
    usage = result.usage if result is not None else None
    cost = result.cost_usd if result is not None else Decimal(0)
    status = "cancelled" if outcome.cancelled else ("error" if error is not None else "ok")
    return AttemptRecord(
        attempt_id=uuid.uuid4().hex, run_id=context.run_id, task_id=context.task_id,
        comparison_id=context.comparison_id, wave=context.wave, attempt_no=attempt_no,
        provider=spec.provider, model=spec.id, tier=spec.tier,
        mode=result.mode if result is not None else mode, status=status,
        error_class=error.error_class if error is not None else "",
        error_message=first_line(error) if error is not None else "",
        http_status=error.status_code if error is not None else None,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_input_tokens=usage.cached_input_tokens if usage else 0,
        reasoning_tokens=usage.reasoning_tokens if usage else 0,
        cost_usd=cost,
        latency_ms=result.latency_ms if result is not None and result.latency_ms else latency_ms,
        ttft_ms=result.ttft_ms if result is not None else None,
        fallback_from=fallback_from, reason=context.label or reason, started_at=started, ended_at=time.time(),
        trace_id=trace_ids[0], span_id=trace_ids[1], purpose=context.purpose,
        output=result.text if result is not None else None,
        cached=result.cached if result is not None else False,
    )


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its class name when it has none), at most 300
    characters: what tables and the ledger show."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]
