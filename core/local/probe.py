"""Measured speed of the local model, read from the ledger's streamed attempts on it.

Time to first token is the attempt's ``ttft_ms``; decode speed is the tokens after the first
over the time after the first token. Only successful streamed attempts count (they alone have a
first-token time). Nothing is called here: the figures are what real calls measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from core.ledger import Ledger
from core.local.registry import PROVIDER

RECENT = 20
_SQL = """
    SELECT ttft_ms, latency_ms, output_tokens FROM attempts
    WHERE provider = ? AND model = ? AND status = 'ok' AND ttft_ms IS NOT NULL
      AND output_tokens > 1 AND latency_ms > ttft_ms
    ORDER BY started_at DESC LIMIT ?"""


@dataclass(frozen=True, slots=True)
class Speed:
    """Medians over the last ``samples`` streamed calls of one model."""

    samples: int
    ttft_ms: float
    decode_tokens_per_s: float


def measured_speed(ledger: Ledger, model_id: str, recent: int = RECENT) -> Speed | None:
    """The local model's median TTFT and decode tokens/s, or None before any streamed call."""
    name = model_id.partition(":")[2]
    rows = ledger.transact(
        lambda con: con.execute(_SQL, [PROVIDER, f"{PROVIDER}:{name}", recent]).fetchall())
    if not rows:
        return None
    ttfts = [float(ttft) for ttft, _, _ in rows]
    rates = [(out - 1) / ((latency - ttft) / 1000) for ttft, latency, out in rows]
    return Speed(samples=len(rows), ttft_ms=statistics.median(ttfts),
                 decode_tokens_per_s=statistics.median(rates))
