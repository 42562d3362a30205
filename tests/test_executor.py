"""The executor's scheduling: eager starts, trimming, skipping, cancellation, resume, summary."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from core.execution.executor import TRIM_MARKER, Executor, TaskOutput, build_prompt
from core.planning.plan import Plan, Task
from core.policy import Policy
from core.execution.summary import summarize
from core.types import Usage


def _plan(edges: dict[str, list[str]]) -> Plan:
    tasks = [Task(id=t, title=f"Task {t}", kind="analysis", prompt=f"do {t}", depends_on=deps)
             for t, deps in edges.items()]
    return Plan(demand="test demand", tasks=tasks)


class ScriptedRunner:
    """Runs each task by waiting on a per-task gate; records start and finish order."""

    def __init__(self, delays: dict[str, float] | None = None, fail: set[str] = frozenset()):
        self.delays = delays or {}
        self.fail = fail
        self.log: list[str] = []
        self.prompts: dict[str, str] = {}

    async def __call__(self, task, prompt, ctx):
        self.log.append(f"start {task.id}")
        self.prompts[task.id] = prompt
        await asyncio.sleep(self.delays.get(task.id, 0))
        if task.id in self.fail:
            self.log.append(f"fail {task.id}")
            raise RuntimeError(f"{task.id} broke")
        self.log.append(f"end {task.id}")
        return TaskOutput(text=f"output of {task.id}", model="openai:gpt-4o-mini",
                          tier="economy", cost_usd=Decimal("0.001"),
                          usage=Usage(input_tokens=100, output_tokens=50))


async def test_a_task_starts_when_its_own_dependencies_finish_not_the_whole_wave():
    plan = _plan({"slow": [], "fast": [], "after_fast": ["fast"], "after_slow": ["slow"]})
    runner = ScriptedRunner(delays={"slow": 0.3})
    states = await Executor(plan, runner).run()
    assert runner.log.index("start after_fast") < runner.log.index("end slow")
    assert all(s.status == "done" for s in states.values())
    assert [states[t].wave for t in ("slow", "fast", "after_fast", "after_slow")] == [0, 0, 1, 1]


async def test_dependency_outputs_reach_the_prompt():
    plan = _plan({"a": [], "b": ["a"]})
    runner = ScriptedRunner()
    await Executor(plan, runner).run()
    assert "output of a" in runner.prompts["b"] and "Task a" in runner.prompts["b"]


def test_long_inputs_are_trimmed_with_a_visible_marker():
    task = Task(id="t", title="T", kind="writing", prompt="write")
    prompt = build_prompt(task, [("A", "x" * 50_000), ("B", "short")], budget_tokens=1000)
    assert TRIM_MARKER.format(cut=50_000 - 2000).strip() in prompt
    assert "short" in prompt and len(prompt) < 3000


async def test_a_failed_task_skips_its_dependents_but_not_others():
    plan = _plan({"a": [], "b": ["a"], "c": []})
    states = await Executor(plan, ScriptedRunner(fail={"a"})).run()
    assert states["a"].status == "failed" and "a broke" in states["a"].error
    assert states["b"].status == "skipped" and states["c"].status == "done"


async def test_cancel_stops_new_calls_and_interrupts_running_ones():
    plan = _plan({"a": [], "b": ["a"], "c": ["b"]})
    runner = ScriptedRunner(delays={"a": 5})
    executor = Executor(plan, runner)
    events = []
    executor.on_event(events.append)
    job = asyncio.create_task(executor.run())
    await asyncio.sleep(0.05)
    executor.cancel()
    states = await asyncio.wait_for(job, 2)
    assert [states[t].status for t in "abc"] == ["cancelled"] * 3
    assert runner.log == ["start a"]
    assert [e.task_id for e in events if e.type == "task_cancelled"] == ["a", "b", "c"]


async def test_resume_does_not_call_completed_tasks_again():
    plan = _plan({"a": [], "b": ["a"]})
    runner = ScriptedRunner()
    done = {"a": TaskOutput(text="stored a", model="groq:llama-3.3-70b-versatile")}
    states = await Executor(plan, runner, completed=done).run()
    assert runner.log == ["start b", "end b"]
    assert states["a"].resumed and "stored a" in runner.prompts["b"]


async def test_stream_yields_events_in_order():
    plan = _plan({"a": [], "b": ["a"]})
    types = [e.type async for e in Executor(plan, ScriptedRunner()).stream()]
    assert types[0] == "run_started" and types.count("task_done") == 2
    assert types.index("task_queued") < types.index("task_done")


async def test_summary_counts_cost_waves_and_saving(catalog):
    plan = _plan({"a": [], "b": [], "c": ["a", "b"]})
    executor = Executor(plan, ScriptedRunner(fail={"b"}))
    await executor.run()
    summary = summarize(executor, catalog)
    assert (summary.tasks, summary.waves, summary.done, summary.failures, summary.skipped) == (
        3, 2, 1, 1, 1)
    assert summary.cost_usd == Decimal("0.001") and summary.status == "failed"
    baseline = catalog.model(Policy().baseline_model(catalog))
    expected = (100 * baseline.price.input_per_mtok + 50 * baseline.price.output_per_mtok) / 10**6
    assert summary.baseline_cost_usd == expected
    assert summary.saving_usd == expected - Decimal("0.001")
    assert summary.providers_used == ["openai"]


async def test_a_freed_slot_goes_to_the_task_with_the_longest_chain_after_it():
    # one slot; "side" tasks are listed first, but "head" starts a chain of three.
    plan = _plan({"busy": [], "side1": ["busy"], "side2": ["busy"], "head": ["busy"],
                  "mid": ["head"], "tail": ["mid"]})
    runner = ScriptedRunner(delays={"busy": 0.05})
    await Executor(plan, runner, max_concurrency=1).run()
    starts = [line.split()[1] for line in runner.log if line.startswith("start")]
    assert starts[:2] == ["busy", "head"]


async def test_priority_slots_respect_the_limit_and_survive_cancelled_waiters():
    from core.execution.slots import PrioritySlots

    slots, running, peak = PrioritySlots(2), 0, 0

    async def job(priority: float) -> None:
        nonlocal running, peak
        async with slots.slot(priority):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    jobs = [asyncio.create_task(job(i % 3)) for i in range(12)]
    await asyncio.sleep(0)
    jobs[5].cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    assert peak == 2 and running == 0
    async with slots.slot():  # every slot came back
        async with slots.slot():
            pass
