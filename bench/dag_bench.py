"""DAG benchmark: the executor's makespan against the critical path, beside a wave-by-wave schedule.

Goal: for random DAGs of 200 tasks with sandbox latencies, the makespan is within 5% of the
critical path (and the level-by-level wave schedule is measured beside it).

Random plans (seeded) of 200 tasks in three shapes — *wide* (4 levels of 20/80/80/20), *deep*
(25 levels of 8) and *mixed* (each task depends on 0–3 of the 30 tasks before it) — are built as
``core.planning.plan.Plan`` objects, every task pinned to one of 11 models of the three wire protocols and
all three tiers, with a random output limit, so durations differ. Each plan runs through
``core.execution.executor.Executor`` with a runner that calls ``Gateway.complete`` on the sandbox (in
process through ``StreamingASGITransport`` by default, ``--served`` for a sandbox in its own
process), with ``--latency-scale`` shrinking the catalog's simulated latencies so that a run
takes a few seconds.

* critical path = the longest dependency chain, each task weighing its own measured duration
  (``TaskState.ended_at - started_at``); the makespan cannot be shorter;
* makespan = ``executor.ended_at - executor.started_at``;
* simulated critical path = the same chain weighed by what the sandbox slept for each task (time
  to first token + per-token time × output tokens): the floor with zero HTTP and CPU cost;
* with a concurrency limit c the floor is max(critical path, total work ÷ c);
* the wave baseline runs the same plan with the same runner and prompts, level by level: all of
  wave k ends before wave k+1 starts. Its ideal (sum over waves of the longest task, with the
  executor's durations) is printed too.

Run: ``.venv/bin/python bench/dag_bench.py [--latency-scale 0.1] [--concurrency 200 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import machine_line, served_sandbox  # noqa: E402
from core.catalog import default_catalog  # noqa: E402
from core.execution.executor import Executor, TaskContext, TaskOutput, build_prompt  # noqa: E402
from core.calls.gateway import Gateway  # noqa: E402
from core.planning.plan import Plan, Task  # noqa: E402
from core.sandbox.app import Sandbox  # noqa: E402
from core.sandbox.config import SandboxConfig  # noqa: E402
from core.types import ChatRequest  # noqa: E402

TASKS = 200
MODELS = (  # economy / balanced / premium over the three wire protocols (+ groq's 3x speed-up)
    "openai:gpt-4o-mini", "openai:gpt-4o", "openai:o3",
    "anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-5", "anthropic:claude-opus-4-5",
    "google:gemini-2.0-flash", "google:gemini-2.5-flash", "google:gemini-2.5-pro",
    "groq:llama-3.3-70b-versatile", "deepseek:deepseek-chat",
)
CONTEXT_BUDGET_TOKENS = 6000  # the executor's default
TOPICS = ("caching", "replication", "indexing", "sharding", "queues", "backpressure", "retries")


# ── random plans ─────────────────────────────────────────────────────────────────────────────
def _task(rng: random.Random, index: int, deps: list[int]) -> Task:
    return Task(
        id=f"t{index:03d}", title=f"step {index}", kind="analysis",
        prompt=f"Step {index}: explain {rng.choice(TOPICS)} for service {rng.randint(1, 99)}.",
        depends_on=[f"t{d:03d}" for d in sorted(set(deps))],
        model=rng.choice(MODELS), max_output_tokens=rng.randint(40, 300),
    )


def layered_plan(rng: random.Random, levels: list[int], name: str) -> Plan:
    """Tasks in levels; each depends on 1–3 tasks of the level before (and sometimes one older)."""
    tasks: list[Task] = []
    previous: list[int] = []
    older: list[int] = []
    for size in levels:
        current = list(range(len(tasks), len(tasks) + size))
        for index in current:
            deps = rng.sample(previous, min(len(previous), rng.randint(1, 3))) if previous else []
            if older and rng.random() < 0.2:
                deps.append(rng.choice(older))
            tasks.append(_task(rng, index, deps))
        older += previous
        previous = current
    return Plan(demand=f"random {name} DAG", tasks=tasks)


def mixed_plan(rng: random.Random) -> Plan:
    """Each task depends on 0–3 of the 30 tasks just before it (depth emerges at random)."""
    tasks = []
    for index in range(TASKS):
        window = list(range(max(0, index - 30), index))
        count = min(len(window), rng.choice((0, 1, 1, 2, 2, 3)))
        tasks.append(_task(rng, index, rng.sample(window, count)))
    return Plan(demand="random mixed DAG", tasks=tasks)


def random_plans(seed: int) -> dict[str, Plan]:
    """The three shapes, 200 tasks each, from one seed."""
    rng = random.Random(seed)
    return {
        "wide": layered_plan(rng, [20, 80, 80, 20], "wide"),
        "deep": layered_plan(rng, [8] * 25, "deep"),
        "mixed": mixed_plan(rng),
    }


# ── running ──────────────────────────────────────────────────────────────────────────────────
def make_runner(gateway: Gateway):  # noqa: ANN201 - a TaskRunner
    """A task runner that makes one ``Gateway.complete`` call with the task's pinned model."""

    async def run(task: Task, prompt: str, ctx: TaskContext) -> TaskOutput:
        request = ChatRequest.of(str(task.model), prompt, max_tokens=task.max_output_tokens)
        result = await gateway.complete(request)
        return TaskOutput(text=result.text, model=result.model, cost_usd=result.cost_usd,
                          usage=result.usage)

    return run


@dataclass
class Schedule:
    """One run's makespan and each task's measured (start, end) in seconds."""

    makespan: float
    spans: dict[str, tuple[float, float]]
    output_tokens: dict[str, int]

    def durations(self) -> dict[str, float]:
        """Each task's own duration."""
        return {tid: end - start for tid, (start, end) in self.spans.items()}


async def run_executor(plan: Plan, gateway: Gateway, concurrency: int) -> Schedule:
    """The plan through ``core.execution.executor.Executor``."""
    executor = Executor(plan, make_runner(gateway), max_concurrency=concurrency,
                        context_budget_tokens=CONTEXT_BUDGET_TOKENS)
    states = await executor.run()
    failed = [s.task_id for s in states.values() if s.status != "done"]
    if failed:
        raise RuntimeError(f"tasks did not finish: {failed[:5]} ({states[failed[0]].error})")
    spans = {tid: (s.started_at or 0.0, s.ended_at or 0.0) for tid, s in states.items()}
    tokens = {tid: s.output.usage.output_tokens for tid, s in states.items() if s.output}
    return Schedule(executor.ended_at - executor.started_at, spans, tokens)


async def run_waves(plan: Plan, gateway: Gateway, concurrency: int) -> Schedule:
    """The baseline: wave by wave, each wave waiting for the whole previous one."""
    runner, semaphore = make_runner(gateway), asyncio.Semaphore(concurrency)
    outputs: dict[str, str] = {}
    spans: dict[str, tuple[float, float]] = {}
    tokens: dict[str, int] = {}

    async def one(task: Task, wave: int) -> None:
        inputs = [(plan.task(d).title, outputs[d]) for d in task.depends_on]
        prompt = build_prompt(task, inputs, CONTEXT_BUDGET_TOKENS)
        async with semaphore:
            started = time.time()
            output = await runner(task, prompt, TaskContext("waves", task.id, wave, _ignore))
            spans[task.id] = (started, time.time())
        outputs[task.id], tokens[task.id] = output.text, output.usage.output_tokens

    started = time.time()
    for wave, ids in enumerate(plan.waves()):
        await asyncio.gather(*(one(plan.task(tid), wave) for tid in ids))
    return Schedule(time.time() - started, spans, tokens)


def _ignore(*_: object, **__: object) -> None:
    """Events of the wave baseline go nowhere."""


# ── figures ──────────────────────────────────────────────────────────────────────────────────
def critical_path(plan: Plan, durations: dict[str, float]) -> tuple[float, int]:
    """Length (s) and task count of the longest chain, each task weighing its duration."""
    finish: dict[str, tuple[float, int]] = {}
    for tid in plan.topological_order():
        deps = plan.task(tid).depends_on
        before = max((finish[d] for d in deps), default=(0.0, 0))
        finish[tid] = (before[0] + durations[tid], before[1] + 1)
    return max(finish.values())


def simulated_durations(schedule: Schedule, plan: Plan, latency_scale: float) -> dict[str, float]:
    """What the sandbox slept for each task: time to first token plus per-token time, no CPU."""
    catalog = default_catalog()
    sandbox = Sandbox(catalog, SandboxConfig(latency_scale=latency_scale))
    durations = {}
    for task in plan.tasks:
        ttft, per_token = sandbox.timing(catalog.model(str(task.model)))
        durations[task.id] = ttft + per_token * schedule.output_tokens[task.id]
    return durations


def ideal_waves(plan: Plan, durations: dict[str, float]) -> float:
    """The wave schedule's makespan with unlimited concurrency: the longest task per wave, summed."""
    return sum(max(durations[tid] for tid in ids) for ids in plan.waves())


@contextmanager
def sandbox_gateway(served: bool, latency_scale: float) -> Iterator[Gateway]:
    """A gateway on the in-process sandbox, or on one served in its own process."""
    with served_sandbox(latency_scale) if served else nullcontext() as url:
        if url:
            yield Gateway.for_served_sandbox(url)
        else:
            yield Gateway(force_sandbox=True,
                          sandbox=SandboxConfig(latency_scale=latency_scale, seed=0))


async def measure(plan: Plan, gateway: Gateway, concurrency: int,
                  latency_scale: float) -> dict[str, float]:
    """Executor and wave baseline on one plan; ratios to each run's own critical path."""
    eager = await run_executor(plan, gateway, concurrency)
    waves = await run_waves(plan, gateway, concurrency)
    eager_cp, eager_len = critical_path(plan, eager.durations())
    waves_cp, _ = critical_path(plan, waves.durations())
    simulated_cp, _ = critical_path(plan, simulated_durations(eager, plan, latency_scale))
    durations = eager.durations().values()
    return {
        "waves": len(plan.waves()), "cp_tasks": eager_len,
        "task_min": min(durations), "task_max": max(durations), "simulated_cp": simulated_cp,
        "cp": eager_cp, "makespan": eager.makespan, "ratio": eager.makespan / eager_cp,
        "simulated_ratio": eager.makespan / simulated_cp,
        "bound_ratio": eager.makespan / max(eager_cp, sum(durations) / concurrency),
        "wave_makespan": waves.makespan, "wave_ratio": waves.makespan / waves_cp,
        "wave_ideal_ratio": ideal_waves(plan, eager.durations()) / eager_cp,
    }


def report(rows: list[tuple[str, int, dict[str, float]]]) -> None:
    """The Markdown table."""
    print("| shape | concurrency | waves | tasks on CP | task s (min–max) | critical path s "
          "| executor makespan s | **executor / CP** | executor / simulated CP "
          "| executor / max(CP, work ÷ concurrency) | wave makespan s | wave / CP "
          "| ideal wave / CP |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape, concurrency, f in rows:
        print(f"| {shape} | {concurrency} | {f['waves']:.0f} | {f['cp_tasks']:.0f} "
              f"| {f['task_min']:.2f}–{f['task_max']:.2f} | {f['cp']:.2f} | {f['makespan']:.2f} "
              f"| **{f['ratio']:.3f}** | {f['simulated_ratio']:.3f} | {f['bound_ratio']:.3f} "
              f"| {f['wave_makespan']:.2f} "
              f"| {f['wave_ratio']:.3f} | {f['wave_ideal_ratio']:.3f} |")


async def main_async(args: argparse.Namespace) -> list[tuple[str, int, dict[str, float]]]:
    """Every shape at every concurrency limit."""
    plans = random_plans(args.seed)
    rows = []
    with sandbox_gateway(args.served, args.latency_scale) as gateway:
        async with gateway:
            await make_runner(gateway)(plans["wide"].tasks[0], "warm up", _NO_CONTEXT)
            for concurrency in args.concurrency:
                for shape, plan in plans.items():
                    rows.append((shape, concurrency, await measure(plan, gateway, concurrency,
                                                                 args.latency_scale)))
                    print(f"  done: {shape}, concurrency {concurrency}", file=sys.stderr)
    return rows


_NO_CONTEXT = TaskContext("warm-up", "t000", 0, _ignore)


def main() -> None:
    """Parse the options, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="seed of the random plans")
    parser.add_argument("--latency-scale", type=float, default=0.1,
                        help="multiplier on the catalog's simulated latencies")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[200, 16],
                        help="executor max_concurrency values to measure")
    parser.add_argument("--served", action="store_true",
                        help="serve the sandbox in its own process instead of in process")
    args = parser.parse_args()
    print(machine_line())
    where = "served in its own process" if args.served else "in process"
    print(f"sandbox {where}, latency scale {args.latency_scale}, seed {args.seed}, "
          f"{TASKS} tasks per plan\n")
    started = time.perf_counter()
    report(asyncio.run(main_async(args)))
    print(f"\nbench wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
