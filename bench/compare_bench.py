"""Compare benchmark: five models at once versus each model alone, on the served sandbox.

Goal: compare's wall time ≤ 1.10 × the slowest model's time alone (the fan-out adds almost
nothing to the slowest answer). The sandbox runs as ``orchestra sandbox serve`` in its own
process with latency scale 1 (each tier's time to first token and tokens/s, as in the
catalog), so client and server do not share an event loop. Each round times every model alone
(a one-model ``compare``) and then the five together; the medians over the rounds are reported.

Run: ``.venv/bin/python bench/compare_bench.py [--rounds 5] [--max-tokens 150]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.calls.gateway import Gateway  # noqa: E402
from core.patterns import compare  # noqa: E402
from bench.support import served_sandbox  # noqa: E402

MODELS = [
    "openai:gpt-4o-mini",  # economy
    "anthropic:claude-sonnet-4-5",  # balanced
    "google:gemini-2.5-pro",  # premium
    "groq:llama-3.3-70b-versatile",  # economy, 3x sandbox speed-up
    "deepseek:deepseek-chat",  # economy
]
PROMPT = "Explain in a few sentences how a hash map handles collisions."


async def _timed(gateway: Gateway, models: list[str], max_tokens: int) -> float:
    started = time.perf_counter()
    result = await compare(gateway, PROMPT, models, max_tokens=max_tokens)
    elapsed = (time.perf_counter() - started) * 1000
    failed = [r.model for r in result.results if not r.ok]
    if failed:
        raise RuntimeError(f"models failed during the bench: {failed}")
    return elapsed


async def measure(url: str, rounds: int, max_tokens: int) -> tuple[dict[str, float], float]:
    """Median wall time (ms) of each model alone, and of all five together."""
    alone: dict[str, list[float]] = {m: [] for m in MODELS}
    together: list[float] = []
    async with Gateway.for_served_sandbox(url) as gateway:
        await _timed(gateway, MODELS, 16)  # warm-up: open every connection once
        for _ in range(rounds):
            for model in MODELS:
                alone[model].append(await _timed(gateway, [model], max_tokens))
            together.append(await _timed(gateway, MODELS, max_tokens))
    return {m: statistics.median(v) for m, v in alone.items()}, statistics.median(together)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=150)
    args = parser.parse_args()
    with served_sandbox(latency_scale=1.0) as url:
        alone, together = asyncio.run(measure(url, args.rounds, args.max_tokens))
    slowest_model = max(alone, key=alone.__getitem__)
    ratio = together / alone[slowest_model]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.system()}")
    print(f"rounds: {args.rounds}, max_tokens: {args.max_tokens}, latency scale 1\n")
    print("| run | median wall (ms) |\n|---|---|")
    for model, ms in alone.items():
        print(f"| {model} alone | {ms:.0f} |")
    print(f"| compare, all 5 | {together:.0f} |\n")
    print(f"compare / slowest alone ({slowest_model}) = {ratio:.3f} "
          f"(goal ≤ 1.10: {'met' if ratio <= 1.10 else 'NOT met'})")


if __name__ == "__main__":
    main()
