"""Run profile: how much of a 1,000-task run's wall time is Orchestra's own code.

Goal: a run of 1,000 tasks against the zero-latency served sandbox spends under 5% of its wall
time in Orchestra's own code.

The sandbox runs as ``orchestra sandbox serve`` in its own process (latency scale 0). A plan of
1,000 tasks — most independent, every fifth depending on one of the 50 tasks before it; kinds
and complexities 1–3 varied so the router spreads them over providers — runs through
``core.execution.runs.RunSession`` (routing, dispatcher, executor at its default concurrency, ledger on a
temporary file) with ``Gateway.for_served_sandbox(url)``. Session construction is included.

1. **unprofiled**: wall time and CPU time (main thread and others: the ledger's writer threads).
2. **bare baseline**: the same number of plain httpx POSTs at the same concurrency, rotating the
   three protocols' requests, so *run wall − bare wall* bounds everything that is not HTTP.
3. **profiled** (``cProfile``, main thread): each function's self time is classified by the file
   it lives in — Orchestra (``core/``), waiting (``select.epoll.poll`` in the event loop, lock
   waits on threads), and library code (httpx/httpcore/h11/anyio, asyncio, json, pydantic,
   duckdb, sockets…). Time in C builtins with no library of their own (``isinstance``,
   ``dict.get``, ``str.join``…) goes to the category of the Python functions that called them,
   in proportion to their calls' time. The top 10 Orchestra functions by self time are listed.

cProfile slows Python-heavy code more than C code and sockets, so the profiled share is an
upper estimate; the unprofiled wall time is the run's real duration.

Run: ``.venv/bin/python bench/run_profile.py [--tasks 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.adapter_overhead import MODELS, Captured, capture  # noqa: E402
from bench.support import machine_line, served_sandbox  # noqa: E402
from core.calls.gateway import Gateway  # noqa: E402
from core.pricing import cost_of  # noqa: E402
from core.planning.plan import Plan, Task  # noqa: E402
from core.policy import load_policy  # noqa: E402
from core.execution.runs import RunSession  # noqa: E402
from core.types import ChatRequest, ChatResult, Usage  # noqa: E402

KINDS = ("analysis", "writing", "summarization", "extraction", "classification", "code")
CORE_DIR = str(ROOT / "core") + "/"
RUN_CONCURRENCY = 8  # RunSession's executor default
Func = tuple[str, int, str]


# ── the run ──────────────────────────────────────────────────────────────────────────────────
def thousand_task_plan(count: int, seed: int = 3) -> Plan:
    """``count`` tasks: most independent, every fifth depending on one of the 50 before it."""
    rng = random.Random(seed)
    tasks = []
    for index in range(count):
        deps = [f"t{rng.randrange(max(0, index - 50), index):04d}"] if index % 5 == 4 else []
        tasks.append(Task(
            id=f"t{index:04d}", title=f"step {index}", kind=rng.choice(KINDS),
            prompt=f"Step {index}: summarise the trade-offs of option {rng.randint(1, 9)}.",
            depends_on=deps, complexity=rng.randint(1, 3), max_output_tokens=200))
    return Plan(demand=f"{count} small tasks", tasks=tasks)


def generous_policy():  # noqa: ANN201 - a Policy
    """The shipped policy with budgets far above what 1,000 sandbox calls cost."""
    policy = load_policy()
    budget = policy.budget.model_copy(update={
        "per_run_usd": Decimal(100_000), "per_provider_per_day_usd": Decimal(100_000),
        "global_per_day_usd": Decimal(100_000)})
    return policy.model_copy(update={"budget": budget})


class InstantGateway(Gateway):
    """A gateway that answers at once without HTTP: what Orchestra costs with the network out."""

    async def complete(self, request: ChatRequest) -> ChatResult:
        """A fixed answer, priced as the adapters price theirs."""
        model = self.catalog.model(request.model)
        usage = Usage(input_tokens=20, output_tokens=120)
        return ChatResult(model=model.id, provider=model.provider, mode="sandbox",
                          text="instant answer " * 40, usage=usage,
                          cost_usd=cost_of(model, usage), latency_ms=0.1, ttft_ms=0.1,
                          finish_reason="stop")


@dataclass(frozen=True)
class Variant:
    """One way of running the plan."""

    label: str
    task_rows: bool = True  # False: task-row upserts kept in a list, not written to DuckDB
    http: bool = True  # False: InstantGateway, no HTTP at all
    profile: bool = True


VARIANTS = (
    Variant("real run (task rows written)"),
    Variant("what-if: task rows kept in memory", task_rows=False),
    Variant("what-if: task rows in memory, no HTTP", task_rows=False, http=False, profile=False),
)


async def run_once(url: str, plan: Plan, ledger_dir: Path, variant: Variant,
                   profiler: cProfile.Profile | None = None) -> dict[str, float]:
    """One RunSession end to end (construction included): wall, executor window, CPU.

    Without ``variant.task_rows`` the session's ledger keeps task-row upserts in a list instead
    of writing each to DuckDB (attempts, the run row and its summary still go in).
    """
    gateway = Gateway.for_served_sandbox(url) if variant.http else InstantGateway(force_sandbox=True)
    wall, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    if profiler is not None:
        profiler.enable()
    session = RunSession(plan, gateway=gateway, policy=generous_policy(),
                         db_path=ledger_dir / f"run-{time.monotonic_ns()}.duckdb")
    if not variant.task_rows:
        kept: list[object] = []
        session.ledger.upsert_tasks = kept.extend  # type: ignore[method-assign]
    summary = await session.run()
    ended = time.time()
    if profiler is not None:
        profiler.disable()
    executor = session.executor
    figures = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
               "main_cpu_s": time.thread_time() - main_cpu,
               "executor_s": executor.ended_at - executor.started_at,
               "drain_s": ended - executor.ended_at}
    await gateway.aclose()
    if summary.status != "done":
        raise RuntimeError(f"the run ended {summary.status}")
    return figures


async def bare_baseline(url: str, captured: list[Captured], count: int) -> dict[str, float]:
    """Wall and CPU seconds of ``count`` plain POSTs, ``RUN_CONCURRENCY`` at a time."""
    next_index = iter(range(count))
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def worker() -> None:
            for index in next_index:
                record = captured[index % len(captured)]
                response = await client.post(record.target, content=record.body,
                                             headers=record.headers)
                response.json()

        started, cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(worker() for _ in range(RUN_CONCURRENCY)))
        return {"wall_s": time.perf_counter() - started, "main_cpu_s": time.thread_time() - cpu}


# ── classifying the profile ──────────────────────────────────────────────────────────────────
LIBRARIES = (  # (category, substrings of a file path or C function name), first match wins
    ("httpx/httpcore/h11/anyio", ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "/sniffio/")),
    ("pydantic", ("/pydantic/", "/pydantic_core/", "pydantic_core.")),
    ("duckdb/pyarrow", ("/duckdb/", "duckdb", "/pyarrow/", "pyarrow")),
    ("json", ("/json/", "_json.")),
    ("sockets (send/recv)", ("_socket.socket",)),
    ("asyncio", ("/asyncio/", "_asyncio.", "/selectors.py")),
    ("decimal", ("decimal",)),
)
WAITING = ("select.epoll", "_thread.lock", "time.sleep")


def _is_builtin(func: Func) -> bool:
    return func[0] == "~"


def category(func: Func) -> str:
    """The category of one profiled function by its file (or C name)."""
    filename, _, name = func
    if _is_builtin(func) and any(w in name for w in WAITING):
        return "waiting (epoll, thread locks)"
    if filename.startswith(CORE_DIR):
        return "Orchestra (core/)"
    where = name if _is_builtin(func) else filename
    for label, markers in LIBRARIES:
        if any(marker in where for marker in markers):
            return label
    return "" if _is_builtin(func) else "other stdlib / site-packages"


def classify(stats: pstats.Stats) -> dict[str, float]:
    """Self seconds per category; generic builtins go to their callers' categories."""
    totals: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        label = category(func)
        if label:
            totals[label] += tottime
            continue
        caller_time = {c: t[2] for c, t in callers.items()}
        spread = sum(caller_time.values())
        for caller, seconds in caller_time.items():
            share = tottime * seconds / spread if spread else 0.0
            totals[category(caller) or "other stdlib / site-packages"] += share
        if not spread:
            totals["other stdlib / site-packages"] += tottime
    return dict(totals)


def own_builtins(stats: pstats.Stats) -> float:
    """Seconds of generic builtins called directly from Orchestra functions."""
    seconds = 0.0
    for func, (_, _, tottime, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if _is_builtin(func) and not category(func):
            spread = sum(t[2] for t in callers.values()) or 1.0
            seconds += sum(tottime * t[2] / spread for c, t in callers.items()
                           if c[0].startswith(CORE_DIR))
    return seconds


def top_orchestra(stats: pstats.Stats, limit: int = 10) -> list[tuple[Func, int, float, float]]:
    """The Orchestra functions with the most self time: (function, calls, self s, cumulative s)."""
    rows = [(func, nc, tt, ct) for func, (_, nc, tt, ct, _) in stats.stats.items()  # type: ignore[attr-defined]
            if func[0].startswith(CORE_DIR)]
    return sorted(rows, key=lambda row: row[2], reverse=True)[:limit]


# ── report ───────────────────────────────────────────────────────────────────────────────────
def report_runs(count: int, plain: list[dict[str, float]], bare: dict[str, float]) -> None:
    """The unprofiled runs beside the bare baseline."""
    print(f"\n| unprofiled, {count} tasks | wall s | executor s | ledger drain after it s "
          f"| main-thread CPU s | other threads' CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant, f in zip(VARIANTS, plain, strict=True):
        print(f"| {variant.label} | {f['wall_s']:.2f} | {f['executor_s']:.2f} "
              f"| {f['drain_s']:.2f} | {f['main_cpu_s']:.2f} | {f['cpu_s'] - f['main_cpu_s']:.2f} |")
    print(f"| bare httpx POSTs, concurrency {RUN_CONCURRENCY} | {bare['wall_s']:.2f} | | "
          f"| {bare['main_cpu_s']:.2f} | |")
    real, in_memory, instant = plain
    print(f"\nno-HTTP run / in-memory run wall (Orchestra and the libraries it calls, minus HTTP, "
          f"as a share of the run): {instant['wall_s'] / in_memory['wall_s']:.1%}; "
          f"ledger drain share of the real run: {real['drain_s'] / real['wall_s']:.1%}")


def report_profiles(profiled: list[dict[str, float]], stats: list[pstats.Stats]) -> None:
    """Self time by category, Orchestra's share of wall time, and the top Orchestra functions."""
    labels = [v.label for v in VARIANTS if v.profile]
    totals = [classify(s) for s in stats]
    walls = [sum(t.values()) for t in totals]
    print("\n| main thread, self time by category (cProfile) | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    print("| profiled wall s | " + " | ".join(f"{p['wall_s']:.2f}" for p in profiled) + " |")
    for label in sorted({k for t in totals for k in t}, key=lambda k: -totals[-1].get(k, 0.0)):
        cells = [f"{t.get(label, 0.0):.2f} s ({t.get(label, 0.0) / w:.1%})"
                 for t, w in zip(totals, walls, strict=True)]
        print(f"| {label} | " + " | ".join(cells) + " |")
    python_only = [sum(row[2] for row in top_orchestra(s, limit=10_000)) for s in stats]
    print("| of Orchestra: Python functions in core/ | " + " | ".join(
        f"{p:.2f} s ({p / w:.1%})" for p, w in zip(python_only, walls, strict=True)) + " |")
    print("| of Orchestra: builtins called from core/ | " + " | ".join(
        f"{own_builtins(s):.2f} s" for s in stats) + " |")
    for label, one in zip(labels, stats, strict=True):
        print(f"\nTop 10 Orchestra functions by self time, {label}:\n\n"
              "| function | calls | self s | cumulative s |\n|---|---:|---:|---:|")
        for (filename, line, name), calls, self_s, cum_s in top_orchestra(one):
            where = filename.removeprefix(str(ROOT) + "/")
            print(f"| `{where}:{line}` {name} | {calls:,} | {self_s:.3f} | {cum_s:.3f} |")


async def main_async(args: argparse.Namespace) -> None:
    """Serve, warm up, the bare baseline, each variant unprofiled (and profiled), report."""
    plan = thousand_task_plan(args.tasks)
    plain, profiled, stats = [], [], []
    with served_sandbox(latency_scale=0) as url, tempfile.TemporaryDirectory() as tmp:
        ledger_dir = Path(tmp)
        captured = [await capture(url, model) for model in MODELS.values()]
        await run_once(url, thousand_task_plan(50, seed=99), ledger_dir, VARIANTS[0])  # warm-up
        bare = await bare_baseline(url, captured, args.tasks)
        for variant in VARIANTS:
            plain.append(await run_once(url, plan, ledger_dir, variant))
            print(f"  done: {variant.label}", file=sys.stderr)
            if variant.profile:
                profiler = cProfile.Profile()
                profiled.append(await run_once(url, plan, ledger_dir, variant, profiler))
                stats.append(pstats.Stats(profiler))
    if args.dump:
        stats[0].dump_stats(args.dump)
    report_runs(args.tasks, plain, bare)
    report_profiles(profiled, stats)


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--dump", help="also write the real run's cProfile stats to this file")
    args = parser.parse_args()
    print(machine_line())
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\nbench wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
