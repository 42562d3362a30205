"""Eval benchmark: a 50-case × 5-model suite at once versus the slowest model's cases in series.

Goal: the whole suite (250 answers) takes little more than the slowest model's 50 cases would
take one after the other divided by the per-provider limit: concurrency at work, with every
answer still going through the call stack (routing, budget reservation, breaker, retry,
record). Then the suite runs twice more with the response cache on and a ledger: the first
fills the cache, the rerun is answered from it ($0, no HTTP request). The sandbox runs as
``orchestra sandbox serve`` in its own process with a latency scale (each tier's time to first
token and tokens/s, as in the catalog, scaled), so the client and the server do not share an
event loop. Only the cached runs write to a (temporary) ledger.

Run: ``.venv/bin/python bench/evals_bench.py [--cases 50] [--latency-scale 0.25]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import machine_line, served_sandbox  # noqa: E402
from core.calls.cache import with_cache  # noqa: E402
from core.calls.gateway import Gateway  # noqa: E402
from core.evals.report import EvalReport  # noqa: E402
from core.evals.session import evaluate  # noqa: E402
from core.evals.suite import Suite  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from core.policy import ConcurrencySettings, Policy  # noqa: E402

MODELS = ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash",
          "groq:llama-3.3-70b-versatile", "deepseek:deepseek-chat"]
LABELS = ["billing", "bug", "feature", "other"]


def suite_of(cases: int) -> Suite:
    """A classification suite of ``cases`` cases, asked for as structured output."""
    return Suite.model_validate({
        "name": "bench", "prompt": "Classify this support message: {message}",
        "max_tokens": 120,
        "schema": {"type": "object", "required": ["label"], "additionalProperties": False,
                   "properties": {"label": {"type": "string", "enum": LABELS}}},
        "assert": [{"type": "is-json"}, {"type": "latency", "max_ms": 60_000}],
        "cases": [{"id": f"c{i}", "vars": {"message": f"message number {i} about the app"},
                   "assert": [{"type": "contains", "value": LABELS[i % 4]}]}
                  for i in range(cases)],
    })


async def timed(url: str, suite: Suite, models: list[str], concurrency: int,
                per_provider: int, ledger: Ledger | None = None) -> tuple[float, EvalReport]:
    """Wall time of one eval; with a ``ledger`` it is recorded and the response cache is on."""
    policy = Policy(concurrency=ConcurrencySettings(per_run=concurrency,
                                                    per_provider=per_provider))
    if ledger is not None:
        policy = with_cache(policy)
    gateway = Gateway.for_served_sandbox(url, max_in_flight_per_provider=per_provider)
    started = time.perf_counter()
    report = await evaluate(suite, models, ledger=ledger, policy=policy, gateway=gateway)
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--latency-scale", type=float, default=0.25)
    parser.add_argument("--per-provider", type=int, default=4)
    args = parser.parse_args()
    suite = suite_of(args.cases)
    print(machine_line())
    with served_sandbox(args.latency_scale) as url:
        serial = {}
        for model in MODELS:
            serial[model], _ = asyncio.run(timed(url, suite, [model], 1, 1))
            print(f"serial {model}: {serial[model]:.2f} s for {args.cases} cases")
        slowest = max(serial, key=lambda m: serial[m])
        whole, report = asyncio.run(timed(url, suite, MODELS, len(MODELS) * args.per_provider,
                                          args.per_provider))
        with tempfile.TemporaryDirectory() as folder:
            ledger = Ledger(Path(folder) / "bench.duckdb")
            filling, _ = asyncio.run(timed(url, suite, MODELS, len(MODELS) * args.per_provider,
                                           args.per_provider, ledger))
            rerun, cached = asyncio.run(timed(url, suite, MODELS, len(MODELS) * args.per_provider,
                                              args.per_provider, ledger))
    answers = sum(not r.error_class for r in report.results)
    print(f"suite: {args.cases} cases x {len(MODELS)} models = {len(report.results)} answers "
          f"({answers} answered) in {whole:.2f} s; per-provider limit {args.per_provider}")
    print(f"slowest model alone, serial: {slowest} {serial[slowest]:.2f} s; "
          f"whole suite / slowest serial = {whole / serial[slowest]:.2f} "
          f"(ideal with the per-provider limit: {1 / args.per_provider:.2f})")
    print(f"with --cache and the ledger: first run {filling:.2f} s (fills the cache), rerun "
          f"{rerun:.2f} s, cost {cached.total_cost_usd} (every answer cached: "
          f"{all(r.cost_usd == 0 for r in cached.results)})")
    print(f"sum of the five serial runs: {sum(serial.values()):.2f} s; "
          f"speed-up over running everything in series: {sum(serial.values()) / whole:.1f}x")


if __name__ == "__main__":
    main()
