"""The plan executor: runs a Plan as a DAG, eagerly, and reports every step as an event.

Waves (dependency levels) are what the user sees; execution does not wait for a whole wave: a
task starts the moment its own dependencies are done. A task whose dependency failed is skipped.
Each task's prompt receives its dependencies' outputs, trimmed to a context budget with a visible
marker. ``cancel()`` stops new calls, interrupts running ones and records them as cancelled.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.errors import (AllModelsFailed, BudgetExceeded, ConfigError, InvalidOutput,
                         PatternFailed)
from core.execution.events import (FailureKind, Payload, RunEvent, RunStarted, TaskCancelled,
                                   TaskDone, TaskFailed, TaskQueued, TaskSkipped, TaskStatus)
from core.planning.plan import Plan, Task
from core.execution.slots import PrioritySlots
from core.types import Usage

CHARS_PER_TOKEN = 4
TRIM_MARKER = "\n[… {cut:,} characters trimmed to fit the context budget …]\n"


class TaskOutput(BaseModel):
    """What running one task produced: the final text and what all its attempts cost."""

    model_config = ConfigDict(extra="forbid")

    text: str
    model: str
    tier: str = ""
    cost_usd: Decimal | None = None
    usage: Usage = Usage()
    cached: bool = False  # answered by the response cache ($0, no HTTP request)


@dataclass
class TaskContext:
    """Where a task runs: its run, wave, and how it reports progress."""

    run_id: str
    task_id: str
    wave: int
    emit: Callable[[Payload], None]

    def forward(self, event: RunEvent) -> None:
        """Report an event of the task's calls (retries, fallbacks, budget warnings)."""
        self.emit(event.payload)


TaskRunner = Callable[[Task, str, TaskContext], Coroutine[Any, Any, TaskOutput]]


@dataclass
class TaskState:
    """The state of one task as the run goes on."""

    task_id: str
    wave: int
    status: TaskStatus = "queued"
    output: TaskOutput | None = None
    error: str = ""
    failure: FailureKind | None = None
    started_at: float | None = None
    ended_at: float | None = None
    resumed: bool = False
    done_event: asyncio.Event = field(default_factory=asyncio.Event)


def _remaining_chain_lengths(plan: Plan) -> dict[str, int]:
    """For each task, the number of tasks on its longest chain of dependents (itself included)."""
    dependents: dict[str, list[str]] = {t.id: [] for t in plan.tasks}
    for task in plan.tasks:
        for dep in task.depends_on:
            dependents[dep].append(task.id)
    lengths: dict[str, int] = {}
    for task_id in reversed(plan.topological_order()):
        lengths[task_id] = 1 + max((lengths[d] for d in dependents[task_id]), default=0)
    return lengths


def build_prompt(task: Task, inputs: list[tuple[str, str]], budget_tokens: int) -> str:
    """The task prompt followed by its dependencies' outputs, trimmed to ``budget_tokens``.

    Each input gets an equal share of the budget; an input that does not fit is cut with a
    visible marker saying how much was trimmed.
    """
    if not inputs:
        return task.prompt
    share = max(budget_tokens * CHARS_PER_TOKEN // len(inputs), 200)
    parts = [task.prompt, "", "## Results of earlier steps"]
    for title, text in inputs:
        if len(text) > share:
            text = text[:share] + TRIM_MARKER.format(cut=len(text) - share)
        parts += [f"### {title}", text]
    return "\n".join(parts)


class Executor:
    """Runs one plan. Subscribe to events with ``on_event`` or iterate ``stream()``.

    Args:
        plan: the validated plan.
        runner: runs one task (routing, retries, fallback) and returns its output.
        run_id: the run's id (a new one by default).
        max_concurrency: tasks running at once across the run; when tasks wait for a slot, the
            one with the longest chain of dependents after it goes first.
        context_budget_tokens: room for dependency outputs in a task's prompt.
        completed: outputs of tasks already done (resume): they are not run again.
    """

    def __init__(
        self,
        plan: Plan,
        runner: TaskRunner,
        *,
        run_id: str | None = None,
        max_concurrency: int = 8,
        context_budget_tokens: int = 6000,
        completed: dict[str, TaskOutput] | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._runner = runner
        self._slots = PrioritySlots(max_concurrency)
        self._chain_after = _remaining_chain_lengths(plan)
        self._context_budget = context_budget_tokens
        self._completed = completed or {}
        self._listeners: list[Callable[[RunEvent], None]] = []
        self._cancelled = False
        self._running: dict[str, asyncio.Task[Any]] = {}
        waves = plan.waves()
        self.waves = waves
        self.states = {
            tid: TaskState(task_id=tid, wave=w) for w, ids in enumerate(waves) for tid in ids
        }
        self.started_at = 0.0
        self.ended_at = 0.0

    # ── events ───────────────────────────────────────────────────────────────────────────
    def on_event(self, listener: Callable[[RunEvent], None]) -> None:
        """Call ``listener`` with every event, in order."""
        self._listeners.append(listener)

    def emit(self, payload: Payload, task_id: str = "") -> None:
        """Send one event to every listener."""
        wave = self.states[task_id].wave if task_id else None
        event = RunEvent(run_id=self.run_id, task_id=task_id, wave=wave, payload=payload)
        for listener in self._listeners:
            listener(event)

    async def stream(self) -> AsyncIterator[RunEvent]:
        """Run the plan, yielding each event as it happens."""
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self.on_event(queue.put_nowait)
        runner = asyncio.create_task(self.run())
        runner.add_done_callback(lambda _: queue.put_nowait(None))
        while (event := await queue.get()) is not None:
            yield event
        await runner

    # ── running ──────────────────────────────────────────────────────────────────────────
    def cancel(self) -> None:
        """Stop starting tasks and interrupt the running ones."""
        self._cancelled = True
        for task in self._running.values():
            task.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self._cancelled

    async def run(self) -> dict[str, TaskState]:
        """Run every task; returns the final state of each."""
        self.started_at = time.time()
        self.emit(RunStarted(tasks=len(self.plan.tasks), waves=len(self.waves),
                             wave_ids=self.waves))
        for task in self.plan.tasks:
            self.emit(TaskQueued(title=task.title, kind=task.kind), task.id)
        jobs = [asyncio.create_task(self._run_task(task)) for task in self.plan.tasks]
        await asyncio.gather(*jobs)
        self.ended_at = time.time()
        return self.states

    async def _run_task(self, task: Task) -> None:
        state = self.states[task.id]
        if task.id in self._completed:
            self._finish(state, "done", output=self._completed[task.id], resumed=True)
            return
        for dep in task.depends_on:
            await self.states[dep].done_event.wait()
        failed = [d for d in task.depends_on if self.states[d].status != "done"]
        if self._cancelled:
            self._finish(state, "cancelled")
            return
        if failed:
            self._finish(state, "skipped", error=f"dependency {', '.join(failed)} did not finish",
                         failure="dependency_failed")
            return
        async with self._slots.slot(priority=self._chain_after[task.id]):
            if self._cancelled:
                self._finish(state, "cancelled")
                return
            await self._call_runner(task, state)

    async def _call_runner(self, task: Task, state: TaskState) -> None:
        inputs = [(self.plan.task(d).title, self.states[d].output.text)  # type: ignore[union-attr]
                  for d in task.depends_on]
        prompt = build_prompt(task, inputs, self._context_budget)
        context = TaskContext(self.run_id, task.id, state.wave,
                              lambda payload: self.emit(payload, task.id))
        state.status, state.started_at = "running", time.time()
        job = asyncio.create_task(self._runner(task, prompt, context))
        self._running[task.id] = job
        try:
            output = await job
        except asyncio.CancelledError:
            self._finish(state, "cancelled")
        except Exception as exc:  # noqa: BLE001 - any failure of one task is reported, not raised
            self._finish(state, "failed", error=f"{type(exc).__name__}: {exc}",
                         failure=failure_kind(exc))
        else:
            self._finish(state, "done", output=output)
        finally:
            self._running.pop(task.id, None)

    def _finish(self, state: TaskState, status: TaskStatus, *,
                output: TaskOutput | None = None, error: str = "", resumed: bool = False,
                failure: FailureKind | None = None) -> None:
        state.status, state.output, state.error, state.resumed = status, output, error, resumed
        state.failure = failure
        state.ended_at = time.time()
        if status == "done" and output is not None:
            self.emit(TaskDone(model=output.model, tier=output.tier, cost_usd=output.cost_usd,
                               resumed=resumed, cached=output.cached, text=output.text),
                      state.task_id)
        elif status == "failed":
            self.emit(TaskFailed(kind=failure or "error", reason=error), state.task_id)
        elif status == "skipped":
            self.emit(TaskSkipped(kind=failure or "dependency_failed", reason=error),
                      state.task_id)
        else:
            self.emit(TaskCancelled(), state.task_id)
        state.done_event.set()


def failure_kind(exc: Exception) -> FailureKind:
    """The typed kind of a task's failure, read off its exception's type."""
    if isinstance(exc, BudgetExceeded):
        return "budget_exceeded"
    if isinstance(exc, AllModelsFailed):
        causes = exc.errors
        if causes and all(isinstance(c, InvalidOutput) for c in causes):
            return "invalid_output"
        return "all_models_failed"
    if isinstance(exc, PatternFailed):
        return "pattern_failed"
    if isinstance(exc, ConfigError):
        return "config_error"
    return "error"
