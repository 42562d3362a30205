"""Routing benchmark: the time of one ``Router.route`` decision with the full catalog.

Goal: < 100 µs p50 per decision. Each scenario times single decisions (``perf_counter_ns``
around one call) after a warm-up, with the router's full live state wired in: budget manager,
breaker board, share tracker (fed after every decision, so the concentration cap is engaged)
and latency averages.

Run: ``.venv/bin/python bench/routing_bench.py [--decisions 20000]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.catalog import default_catalog  # noqa: E402
from core.policy import Policy  # noqa: E402
from core.routing.candidates import RouteRequest  # noqa: E402
from core.routing.router import Router  # noqa: E402
from core.routing.state import routing_state  # noqa: E402

SCENARIOS: dict[str, list[RouteRequest]] = {
    "complexity given, no capability": [
        RouteRequest("Summarise the notes.", complexity=c, prompt_tokens=600) for c in (1, 2, 3)
    ],
    "complexity given, json_schema + tools": [
        RouteRequest("Extract fields.", complexity=c, capabilities=("json_schema", "tools"))
        for c in (1, 3, 5)
    ],
    "heuristic classifier (short prompt)": [
        RouteRequest("Design the caching architecture and analyse the trade-offs."),
        RouteRequest("Classify these tickets by urgency.", kind="classify"),
        RouteRequest("Write release notes for version 2.", dependencies=3),
    ],
    "premium, pinned tier, live_search": [
        RouteRequest("What changed this week?", tier="premium", capabilities=("live_search",))
    ],
}


def _router() -> Router:
    catalog = default_catalog()
    policy = Policy()
    state = routing_state(policy, configured=lambda provider: True)
    for model in catalog.models:
        state.latency.observe(model, 400.0)
    return Router(catalog, policy, state)


def measure(requests: list[RouteRequest], decisions: int) -> list[float]:
    """Microseconds per decision, one timing per call."""
    router = _router()
    catalog = router.catalog
    timings: list[float] = []
    for i in range(decisions + 1000):
        request = requests[i % len(requests)]
        start = time.perf_counter_ns()
        decision = router.route(request)
        elapsed = time.perf_counter_ns() - start
        router.state.shares.record(catalog.models[decision.model].provider)
        if i >= 1000:  # warm-up done
            timings.append(elapsed / 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{len(default_catalog().models)} catalog models")
    print(f"{'scenario':42} {'p50 µs':>8} {'p95 µs':>8} {'p99 µs':>8}")
    for name, requests in SCENARIOS.items():
        timings = measure(requests, args.decisions)
        cuts = statistics.quantiles(timings, n=100)
        print(f"{name:42} {cuts[49]:8.1f} {cuts[94]:8.1f} {cuts[98]:8.1f}")


if __name__ == "__main__":
    main()
