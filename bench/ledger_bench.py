"""Ledger benchmark: bulk attempt ingest through ``Ledger.record_attempts`` and the history queries
over 1,000,000 attempts.

Goals: ingest >= 50,000 attempts/s in bulk; each history query < 200 ms (median, measured
end to end through the public function, so each timing includes opening and closing the file).

Run: ``.venv/bin/python bench/ledger_bench.py [--rows 1000000] [--keep PATH]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.catalog import Price  # noqa: E402
from core.ledger import (  # noqa: E402
    HistoryFilter,
    Ledger,
    attempts_page,
    cost_per_run,
    export_attempts,
    grouped_history,
    headline,
    latency_by_model,
    model_ratings,
    provider_share,
    spend_by_provider_day,
    tokens_over_time,
)
from core.types import AttemptRecord  # noqa: E402

PROVIDERS = ("openai", "anthropic", "google", "groq", "xai", "deepseek", "mistral")
START = 1_735_689_600.0  # 2025-01-01 UTC
SPAN_S = 180 * 86_400  # half a year of history

_GENERATE = f"""
INSERT INTO attempts (attempt_id, run_id, task_id, comparison_id, wave, attempt_no, provider,
                      model, tier, mode, status, error_class, error_message, http_status,
                      input_tokens, output_tokens, cached_input_tokens, reasoning_tokens,
                      cost_usd, latency_ms, ttft_ms, fallback_from, reason, started_at,
                      ended_at, day)
SELECT 'gen-' || i, 'run-' || (i // 100), 'task-' || (i % 100 // 5), '', (i % 100) // 25, 1,
       p, p || ':model-' || (i % 3), ['economy', 'balanced', 'premium'][i % 3 + 1],
       CASE WHEN i % 10 = 0 THEN 'live' ELSE 'sandbox' END,
       CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END,
       CASE WHEN i % 50 = 0 THEN 'RateLimited' ELSE '' END, '',
       CASE WHEN i % 50 = 0 THEN 429 ELSE 200 END,
       200 + i % 3000, 50 + i % 800, (i % 7) * 20, 0,
       CASE WHEN i % 97 = 0 THEN NULL ELSE ((i % 5000) / 1e6)::DECIMAL(18, 8) END,
       100 + (hash(i) % 5000)::DOUBLE, 40 + (hash(i + 1) % 900)::DOUBLE, '', 'bench',
       make_timestamp((s * 1e6)::BIGINT), make_timestamp(((s + 2) * 1e6)::BIGINT),
       make_timestamp((s * 1e6)::BIGINT)::DATE
FROM (SELECT i, (?::VARCHAR[])[i % 7 + 1] AS p, {START} + i * ({SPAN_S} / ?) AS s
      FROM range(?) t(i))
"""


def machine() -> str:
    """nproc and the CPU model, as recorded in bench/README.md."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPU, {model}, Python {platform.python_version()}"


def synthetic_attempts(count: int, prefix: str, start: float) -> list[AttemptRecord]:
    """``count`` realistic attempt records from ``start`` on (built before timing starts)."""
    return [
        AttemptRecord(
            attempt_id=f"{prefix}-{i}", run_id=f"{prefix}-run-{i // 50}", task_id=f"t{i % 50}",
            provider=PROVIDERS[i % 7], model=f"{PROVIDERS[i % 7]}:model-{i % 3}", tier="balanced",
            mode="sandbox", status="ok" if i % 40 else "error", input_tokens=300 + i % 900,
            output_tokens=80 + i % 400, cost_usd=None if i % 97 == 0 else Decimal(i % 5000) / 10**6,
            latency_ms=float(200 + i % 3000), ttft_ms=float(50 + i % 500),
            started_at=start + i, ended_at=start + i + 1.5,
        )
        for i in range(count)
    ]


def ingest_rate(ledger: Ledger, records: list[AttemptRecord], batch: int) -> float:
    """Attempts per second written through ``record_attempts`` in batches of ``batch``."""
    began = time.perf_counter()
    for start in range(0, len(records), batch):
        ledger.record_attempts(records[start:start + batch])
    return len(records) / (time.perf_counter() - began)


def median_ms(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``call`` in milliseconds (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def generate(ledger: Ledger, rows: int) -> float:
    """Fill the ledger with ``rows`` synthetic attempts, DuckDB-side; return seconds taken."""
    began = time.perf_counter()
    names = list(PROVIDERS)

    def work(con):  # type: ignore[no-untyped-def]
        con.execute(_GENERATE, [names, rows, rows])
        con.execute("""INSERT INTO runs (run_id, demand, created_at, status, mode, budget_usd,
                                         plan_json, summary_json, finished_at)
                       SELECT run_id, 'bench demand', min(started_at),
                       'done', 'sandbox', NULL, '{}', '{}', max(ended_at)
                       FROM attempts WHERE run_id LIKE 'run-%' GROUP BY run_id""")
        con.execute("""INSERT INTO ratings SELECT attempt_id, 1 + hash(attempt_id) % 5,
                       hash(attempt_id) % 4 = 0, 'bench', 'judge', '', ended_at
                       FROM attempts WHERE attempt_id LIKE 'gen-%' AND hash(attempt_id) % 100 = 0""")

    ledger.transact(work)
    return time.perf_counter() - began


def query_timings(ledger: Ledger, out_dir: Path, repeats: int) -> dict[str, float]:
    """Median milliseconds of each history query, unfiltered and filtered."""
    month = HistoryFilter(since="2025-03-01", until="2025-03-31", providers=["openai", "groq"])
    baseline = Price(input_per_mtok=Decimal("2.5"), output_per_mtok=Decimal("10"))
    calls: dict[str, Callable[[], object]] = {
        "headline (all, with baseline)": lambda: headline(ledger=ledger, baseline=baseline),
        "headline (1 month, 2 providers)": lambda: headline(month, ledger=ledger),
        "spend_by_provider_day": lambda: spend_by_provider_day(ledger=ledger),
        "provider_share": lambda: provider_share(ledger=ledger),
        "latency_by_model": lambda: latency_by_model(ledger=ledger),
        "tokens_over_time (day)": lambda: tokens_over_time(ledger=ledger),
        "cost_per_run (latest 50)": lambda: cost_per_run(ledger=ledger),
        "attempts_page (offset 10,000)": lambda: attempts_page(ledger=ledger, offset=10_000),
        "grouped_history by model": lambda: grouped_history(by="model", ledger=ledger),
        "grouped_history by day": lambda: grouped_history(by="day", ledger=ledger),
        "model_ratings": lambda: model_ratings(ledger=ledger),
        "export parquet (1 month, 2 providers)": lambda: export_attempts(
            month, out_dir / "month.parquet", "parquet", ledger=ledger),
    }
    return {name: median_ms(call, repeats) for name, call in calls.items()}


def main() -> None:
    """Run the benchmark and print a markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ingest", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        ledger = Ledger(Path(tmp) / "bench.duckdb")
        records = synthetic_attempts(args.ingest, "bulk", START + SPAN_S)  # newest last
        print(f"machine: {machine()}")
        for batch in (1_000, 10_000, 50_000):
            fresh = Ledger(Path(tmp) / f"ingest-{batch}.duckdb")
            print(f"ingest, empty ledger, batches of {batch:,}: "
                  f"{ingest_rate(fresh, records, batch):,.0f} attempts/s")
        print(f"generated {args.rows:,} attempts DuckDB-side in {generate(ledger, args.rows):.1f} s")
        print(f"ingest into the {args.rows:,}-row ledger, batches of 10,000: "
              f"{ingest_rate(ledger, records, 10_000):,.0f} attempts/s")
        print(f"\n| query over {args.rows + args.ingest:,} attempts | median ms |\n|---|---:|")
        for name, ms in query_timings(ledger, Path(tmp), args.repeats).items():
            print(f"| {name} | {ms:.0f} |")


if __name__ == "__main__":
    main()
