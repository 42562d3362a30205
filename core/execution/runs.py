"""Runs: a plan executed through routing, dispatch and the ledger, and resumed after a crash.

``RunSession`` wires the pieces for one run: a gateway, a dispatcher (router, budgets,
retries, breakers), the executor, and the ledger — every attempt is written as it ends, every
task row as its status changes (a done task's output included), so a run killed even with
``kill -9`` loses nothing already paid for and ``RunSession.resume`` continues it without
calling finished tasks again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from core.calls.budgeted import BudgetedGateway
from core.catalog import Catalog, default_catalog
from core.calls.stack import CallContext, Dispatcher, create_dispatcher, route_request_for
from core.errors import ConfigError
from core.execution.events import RunEvent
from core.execution.executor import Executor, TaskContext, TaskOutput
from core.calls.gateway import Gateway
from core.ledger import HistoryFilter, Ledger, TaskRow, grouped_history, model_ratings
from core.ledger.records import RunRecord, from_unix
from core.routing.complexity import ComplexityScore, classify_with_llm
from core.patterns import run_pattern_task
from core.patterns.common import PatternRecord
from core.planning.plan import PATTERN_KINDS, Plan, Task
from core.planning.choose import calls_as_attempts, cheapest_json_model
from core.policy import Policy, load_policy
from core.routing.router import DAY_S
from core.calls.resilience import BreakerBoard
from core.execution.summary import RunSummary, summarize
from core.types import ChatRequest, ChatResult, Message, Usage

SCORING_REASON = "complexity scoring"  # the ledger reason of an LLM complexity-scoring call
TASK_FLUSH_INTERVAL_S = 0.1  # task rows are written at most this often (attempts: 0.2 s)
_TASK_EVENTS = {"task_started": "running", "task_done": "done", "task_failed": "failed",
                "task_skipped": "skipped", "task_cancelled": "cancelled"}


def spent_today(ledger: Ledger | None = None) -> dict[str, Decimal]:
    """Today's (UTC) spend per provider, from the ledger (seeds the daily budgets)."""
    today = datetime.now(UTC).date()
    frame = grouped_history(HistoryFilter(since=today, until=today), by="provider",
                            ledger=ledger or Ledger())
    return {row.provider: Decimal(str(row.spend_usd)) for row in frame.itertuples()}


def poorly_rated(ledger: Ledger, policy: Policy) -> dict[str, str]:
    """Models rated (by people or a judge) below the policy's ``[quality]`` bar, and why."""
    frame = model_ratings(ledger=ledger)
    bar = policy.quality
    return {
        str(row.model): f"rated {row.mean_rating:.1f}/5 over {row.ratings} ratings"
        for row in frame.itertuples()
        if row.ratings >= bar.min_ratings and row.mean_rating < bar.min_mean
    }


def this_process() -> str:
    """``host:pid`` of this process, as stored in a run's ``owner``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_gone(owner: str) -> bool:
    """True when ``owner`` is a process on this host that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run, or unknown: leave it alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def reconcile_interrupted(ledger: Ledger, runs: list[RunRecord]) -> list[RunRecord]:
    """Runs as listed, with those left ``running`` by a process that is gone (killed, crashed)
    marked ``interrupted`` in the ledger, so `orchestra resume` is the obvious next step."""
    out = []
    for run in runs:
        if run.status == "running" and run.owner and _owner_gone(run.owner):
            ledger.mark_interrupted(run.run_id)
            run = run.model_copy(update={"status": "interrupted"})
        out.append(run)
    return out


class RunSession:
    """One run of a plan. Call ``await run()``; ``cancel()`` stops it; events via ``on_event``.

    Args:
        plan: the validated plan.
        run_id: reuse an id (resume) or get a new one.
        budget_usd: this run's budget (default: the policy's ``per_run_usd``).
        db_path: the ledger file (default: ``ORCHESTRA_DB`` or ``data/orchestra.duckdb``).
        gateway: the gateway (default: a new one; sandbox for providers without a key).
        policy: routing policy (default: ``data/policy.toml``).
        completed: outputs of tasks already done (resume).
        breakers: a circuit-breaker board shared across runs (default: a fresh one).
    """

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str | None = None,
        budget_usd: Decimal | None = None,
        db_path: Path | str | None = None,
        gateway: Gateway | None = None,
        policy: Policy | None = None,
        catalog: Catalog | None = None,
        completed: dict[str, TaskOutput] | None = None,
        breakers: BreakerBoard | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.catalog = catalog or default_catalog()
        self.policy = policy or load_policy()
        if budget_usd is not None:
            if budget_usd <= 0:
                raise ConfigError("a run's budget must be a positive amount of USD, e.g. 0.50")
            budget = self.policy.budget.model_copy(update={"per_run_usd": budget_usd})
            self.policy = self.policy.model_copy(update={"budget": budget})
        self.budget_usd = self.policy.budget.per_run_usd
        self.ledger = Ledger(db_path)
        self._gateway = gateway
        self._breakers = breakers
        self.executor = Executor(plan, self._run_task, run_id=self.run_id,
                                 max_concurrency=self.policy.concurrency.per_run,
                                 completed=completed)
        self._listeners: list[Callable[[RunEvent], None]] = []
        self.executor.on_event(self._on_event)
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._pending_rows: dict[str, TaskRow] = {}
        self._rows_lock = threading.Lock()
        self._last_flush = 0.0
        self._flush_scheduled = False
        self._dispatcher: Dispatcher | None = None
        self._sink = None

    def on_event(self, listener: Callable[[RunEvent], None]) -> None:
        """Call ``listener`` with every event of the run, in order."""
        self._listeners.append(listener)

    def cancel(self) -> None:
        """Stop starting tasks and interrupt running ones (call on the run's event loop)."""
        self.executor.cancel()

    async def run(self) -> RunSummary:
        """Run the plan to the end (or until cancelled) and return its summary."""
        gateway = self._gateway or Gateway(
            self.catalog, max_in_flight_per_provider=self.policy.concurrency.per_provider)
        modes = {gateway.mode(t) for t in self.catalog.providers}
        mode = "mixed" if len(modes) > 1 else modes.pop()
        self.ledger.start_run(self.run_id, self.plan.demand, mode, self.budget_usd,
                              self.plan.model_dump_json(), owner=this_process())
        self._sink = self.ledger.attempt_sink()
        self._dispatcher = create_dispatcher(gateway, self.policy,
                                             spent_today=spent_today(self.ledger),
                                             on_attempt=self._sink.add,
                                             breakers=self._breakers,
                                             call_history=self.ledger.calls_since(
                                                 time.time() - DAY_S),
                                             poorly_rated=poorly_rated(self.ledger, self.policy))
        self.gateway = gateway
        try:
            await self.executor.run()
        finally:
            self._sink.close()
            if self._gateway is None:
                await gateway.aclose()
        available = sum(1 for p in self.catalog.providers if gateway.available(p))
        summary = summarize(self.executor, self.catalog, self.policy.baseline_model(self.catalog),
                            providers_available=available)
        self._write(self.ledger.update_run, self.run_id, status=summary.status,
                    summary_json=summary.model_dump_json(exclude={"task_results"}))
        self.executor.emit("run_done", **summary.model_dump(exclude={"task_results"}))
        self._writes.shutdown(wait=True)
        return summary

    # ── one task ─────────────────────────────────────────────────────────────────────────
    async def _run_task(self, task: Task, prompt: str, ctx: TaskContext) -> TaskOutput:
        assert self._dispatcher is not None
        if task.kind in PATTERN_KINDS:
            return await self._run_pattern(task, prompt, ctx)
        complexity, scored = task.complexity, ""
        if (complexity is None and not task.model and not task.tier
                and self.policy.complexity.mode == "llm"):
            score = await self._llm_complexity(task, ctx)
            complexity, scored = score.score, f"{score.reason}; "
        request = ChatRequest(model=task.model or "",
                              messages=[Message(role="user", content=prompt)],
                              max_tokens=task.max_output_tokens,
                              live_search="live_search" in task.capabilities)
        route = route_request_for(
            request, kind=task.kind, complexity=complexity, tier=task.tier,
            model=task.model, capabilities=tuple(task.capabilities),
            dependencies=len(task.depends_on))
        decision = self._dispatcher.router.route(route)
        ctx.emit("task_started", model=decision.model, tier=decision.tier,
                 reason=scored + decision.reason, fallbacks=decision.fallbacks)
        outcome = await self._dispatcher.run(
            request.model_copy(update={"model": decision.model}), route, decision=decision,
            context=CallContext(self.run_id, task.id, ctx.wave),
            on_event=lambda e: ctx.emit(e.type, **e.data))
        spec = self.catalog.model(outcome.model)
        return TaskOutput(text=outcome.result.text, model=outcome.model, tier=spec.tier,
                          cost_usd=None if outcome.result.cost_usd is None
                          else outcome.charged_usd,
                          usage=outcome.result.usage)

    async def _llm_complexity(self, task: Task, ctx: TaskContext) -> ComplexityScore:
        """Score a task with an economy model (heuristic on failure); its call is recorded."""
        model = (self.policy.complexity.model
                 or cheapest_json_model(self.gateway, "economy"))  # type: ignore[arg-type]
        calls: list[ChatResult] = []

        async def complete(request: ChatRequest) -> ChatResult:
            result = await self.gateway.complete(request)
            calls.append(result)
            return result

        score = await classify_with_llm(task.prompt, complete, model, kind=task.kind,
                                        dependencies=len(task.depends_on),
                                        capabilities=task.capabilities)
        for attempt in calls_as_attempts(calls, run_id=self.run_id, task_id=task.id,
                                         wave=ctx.wave, reason=SCORING_REASON):
            self._sink.add(attempt)  # type: ignore[union-attr]
        return score

    async def _run_pattern(self, task: Task, prompt: str, ctx: TaskContext) -> TaskOutput:
        ctx.emit("task_started", model=f"{task.kind} pattern", tier=task.tier or "",
                 reason=f"{task.kind}: several models together")

        def record(entry: PatternRecord) -> None:
            tagged = [a.model_copy(update={"run_id": self.run_id, "task_id": task.id,
                                           "wave": ctx.wave}) for a in entry.attempts]
            self._write(self.ledger.record_comparison, entry.comparison_id, entry.kind,
                        entry.prompt, entry.meta)
            for attempt in tagged:
                self._sink.add(attempt)  # type: ignore[union-attr]

        models = [task.model] if task.model else None
        budget = self._dispatcher.router.budget  # type: ignore[union-attr]
        assert budget is not None  # create_dispatcher always gives the router a budget
        budgeted = BudgetedGateway(self.gateway, budget)
        out = await run_pattern_task(task.kind, prompt, budgeted,  # type: ignore[arg-type]
                                     models=models, on_record=record)
        return TaskOutput(text=out.text, model=f"{task.kind} pattern", tier=task.tier or "",
                          cost_usd=out.cost_usd, usage=out.usage)

    # ── ledger ───────────────────────────────────────────────────────────────────────────
    def _write(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Write to the ledger on the one writer thread, in order, without blocking the loop."""
        self._writes.submit(fn, *args, **kwargs)

    def _on_event(self, event: RunEvent) -> None:
        status = _TASK_EVENTS.get(event.type)
        if status is not None:
            row = self._task_row(event.task_id, status, event)
            with self._rows_lock:
                self._pending_rows[event.task_id] = row
                schedule, self._flush_scheduled = not self._flush_scheduled, True
            if schedule:
                self._write(self._persist_tasks)
        for listener in self._listeners:
            listener(event)

    def _persist_tasks(self) -> None:
        """Write the latest row of every task changed since the last write, in one transaction,
        after every attempt queued so far: a task is never stored as done while the attempts it
        paid for are not yet durable. Rows that change while a write is going on are coalesced
        into the next one, so a busy run costs a few writes, not one per status change."""
        pause = TASK_FLUSH_INTERVAL_S - (time.monotonic() - self._last_flush)
        if pause > 0:
            time.sleep(pause)  # on the writer thread: let more changes gather into one write
        self._last_flush = time.monotonic()
        with self._rows_lock:
            rows, self._pending_rows = list(self._pending_rows.values()), {}
            self._flush_scheduled = False
        if self._sink is not None:
            self._sink.flush()
        self.ledger.upsert_tasks(rows)

    def _task_row(self, task_id: str, status: str, event: RunEvent) -> TaskRow:
        task, state = self.plan.task(task_id), self.executor.states[task_id]
        out = state.output
        return TaskRow(
            run_id=self.run_id, task_id=task_id, wave=state.wave, title=task.title,
            kind=task.kind, status=status,  # type: ignore[arg-type]
            model=out.model if out else str(event.data.get("model", "")),
            tier=out.tier if out else str(event.data.get("tier", "")),
            output=out.text if out else None, cost_usd=out.cost_usd if out else None,
            started_at=from_unix(state.started_at) if state.started_at else None,
            ended_at=(from_unix(state.ended_at)
                      if state.ended_at and status != "running" else None),
            error=state.error,
        )

    # ── resume ───────────────────────────────────────────────────────────────────────────
    @classmethod
    def resume(cls, run_id: str, *, db_path: Path | str | None = None,
               **kwargs: object) -> "RunSession":
        """A session that continues a stored run: done tasks keep their outputs."""
        ledger = Ledger(db_path)
        record = ledger.get_run(run_id)
        if record is None:
            raise ConfigError(f"no run '{run_id}' in {ledger.path}; `orchestra runs` lists them")
        plan = Plan.model_validate_json(record.plan_json)
        usage: dict[str, Usage] = {}
        for attempt in ledger.get_attempts(run_id=run_id):
            if attempt.status == "ok" and attempt.reason != SCORING_REASON:  # the task's answer
                usage[attempt.task_id] = usage.get(attempt.task_id, Usage()) + Usage(
                    input_tokens=attempt.input_tokens, output_tokens=attempt.output_tokens,
                    cached_input_tokens=attempt.cached_input_tokens,
                    reasoning_tokens=attempt.reasoning_tokens)
        completed = {
            row.task_id: TaskOutput(text=row.output or "", model=row.model, tier=row.tier,
                                    cost_usd=row.cost_usd, usage=usage.get(row.task_id, Usage()))
            for row in ledger.get_tasks(run_id) if row.status == "done"
        }
        budget = kwargs.pop("budget_usd", None) or record.budget_usd
        return cls(plan, run_id=run_id, db_path=db_path, completed=completed,
                   budget_usd=budget, **kwargs)  # type: ignore[arg-type]
