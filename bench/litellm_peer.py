"""LiteLLM as a peer for bench/stack_bench.py, run by a Python that has LiteLLM installed.

LiteLLM is not one of Orchestra's dependencies: install it in a venv of its own
(``python -m venv /tmp/litellm && /tmp/litellm/bin/pip install litellm``) and pass that
interpreter to ``bench/stack_bench.py --litellm-python /tmp/litellm/bin/python``. This script
makes ``TOTAL`` plain calls through ``litellm.Router`` at ``CONCURRENCY`` against the served
sandbox's OpenAI-compatible endpoint and prints one JSON object with calls/s (and, with
``--sequential N``, the p50 latency of N sequential calls).

Run: ``PYTHON bench/litellm_peer.py URL --concurrency 256 --total 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download

import litellm  # noqa: E402

MESSAGES = [{"role": "user", "content": "Summarise the trade-offs of read replicas."}]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--sequential", type=int, default=0)
    args = parser.parse_args()
    router = litellm.Router(model_list=[{"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": args.url + "/v1", "api_key": "sandbox"}}])

    async def one() -> None:
        await router.acompletion(model="m", messages=MESSAGES, max_tokens=128)

    for _ in range(20):
        await one()
    out: dict[str, float] = {}
    if args.sequential:
        times = []
        for _ in range(args.sequential):
            t0 = time.perf_counter()
            await one()
            times.append((time.perf_counter() - t0) * 1000)
        out["p50_ms"] = round(statistics.median(times), 3)
    gate = asyncio.Semaphore(args.concurrency)

    async def gated() -> None:
        async with gate:
            await one()

    t0 = time.perf_counter()
    await asyncio.gather(*(gated() for _ in range(args.total)))
    out["calls_per_s"] = round(args.total / (time.perf_counter() - t0), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
