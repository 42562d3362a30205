"""Runs: a plan executed through the call stack and the ledger, and resumed after a crash.

``RunSession`` wires the pieces for one run: a gateway, a call stack (routing, budgets,
retries, breakers, records, traces) built from the ledger, the executor, and the ledger itself.
Every attempt is written as it ends (an answered one at once), every task row as its status
changes, so a run killed even with ``kill -9`` loses nothing already paid for, and
``RunSession.resume`` continues it without calling for answers the ledger already holds. A
run's budget belongs to the run: a resumed run starts from what it already spent, and the
cost it reports is what the ledger holds for it (planner and scorer calls included).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from core.calls.context import CallContext
from core.calls.factory import open_stack
from core.calls.gateway import Gateway
from core.calls.resilience import BreakerBoard
from core.calls.structured import call_structured
from core.calls.stack import CallStack
from core.routing.candidates import route_request_for
from core.calls.tracing import run_span, task_span
from core.catalog import Catalog, default_catalog
from core.errors import ConfigError
from core.execution.events import RunDone, RunEvent, TaskStarted, TaskStatus
from core.execution.executor import Executor, TaskContext, TaskOutput
from core.execution.resume import claim, completed_tasks, this_process
from core.execution.rows import TaskRowWriter
from core.execution.summary import RunSummary, summarize
from core.ledger import Ledger, TaskRow
from core.ledger.records import from_unix
from core.ledger.sink import AttemptSink
from core.local.only import gateway_type
from core.patterns import run_pattern_task
from core.patterns.common import PatternRecord
from core.planning.choose import PlannerChoice, cheapest_json_model, make_plan
from core.planning.planner import PlanResult
from core.planning.plan import PATTERN_KINDS, Plan, Task
from core.policy import Policy, load_policy
from core.routing.candidates import RouteRequest
from core.routing.complexity import ComplexityScore, classify_with_llm
from core.settings import Settings
from core.tools.loop import tools_route
from core.tools.session import call_with_tools
from core.types import ChatRequest, ChatResult, Message

_TASK_STATUSES: dict[str, TaskStatus] = {"task_started": "running", "task_done": "done", "task_failed": "failed",
                  "task_skipped": "skipped", "task_cancelled": "cancelled"}


def new_run_id() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex[:12]


def with_run_budget(policy: Policy, budget_usd: Decimal | None) -> Policy:
    """``policy`` with its per-run budget set to ``budget_usd`` (unchanged when None)."""
    if budget_usd is None:
        return policy
    if budget_usd <= 0:
        raise ConfigError("a run's budget must be a positive amount of USD, e.g. 0.50")
    budget = policy.budget.model_copy(update={"per_run_usd": budget_usd})
    return policy.model_copy(update={"budget": budget})


async def plan_run(demand: str, *, run_id: str, settings: Settings,
                   planner: PlannerChoice = "offline", plan_file: Path | str | None = None,
                   budget_usd: Decimal | None = None,
                   gateway: Gateway | None = None) -> PlanResult:
    """Plan a run before it starts. The LLM planner's calls go through a call stack held to
    the run's budget and are recorded under ``run_id``, so the run counts them as spent."""
    if planner == "offline" or plan_file is not None:
        return await make_plan(demand, planner=planner, plan_file=plan_file)
    policy = with_run_budget(settings.policy, budget_usd)
    ledger = settings.ledger()
    owned = gateway is None
    gateway = gateway or settings.gateway()
    try:
        with ledger.attempt_sink() as sink:
            stack = open_stack(gateway, policy, ledger, on_attempt=sink.add, run_id=run_id)
            return await make_plan(demand, planner=planner, stack=stack, run_id=run_id)
    finally:
        if owned:
            await gateway.aclose()


class RunSession:
    """One run of a plan. Call ``await run()``; ``cancel()`` stops it; events via ``on_event``.

    Args:
        plan: the validated plan.
        run_id: reuse an id (resume, or a run whose plan was made through the stack) or get
            a new one.
        budget_usd: this run's budget (default: the policy's ``per_run_usd``); what the run
            already spent under this id counts against it.
        db_path: the ledger file (default: ``ORCHESTRA_DB`` or ``data/orchestra.duckdb``).
        gateway: the gateway (default: a new one; sandbox for providers without a key).
        policy: routing policy (default: ``data/policy.toml``).
        completed: outputs of tasks already done (resume).
        breakers: a circuit-breaker board shared across runs (default: a fresh one).
        settings: what the entry point read from its environment (catalog, policy, ledger,
            keys, sandbox options); the arguments above win over it.
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
        settings: Settings | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id or new_run_id()
        self.settings = settings
        self.catalog = catalog or (settings.catalog if settings else default_catalog())
        policy = policy or (settings.policy if settings else load_policy())
        self.policy = with_run_budget(policy, budget_usd)
        plan.check_models(self.catalog)
        self.budget_usd = self.policy.budget.per_run_usd
        self.ledger = Ledger(db_path or (settings.db_path if settings else None))
        self._owns_gateway = gateway is None  # built here (so a config error shows at once)
        self._gateway = gateway or self._new_gateway()
        self._breakers = breakers
        self.executor = Executor(plan, self._run_task, run_id=self.run_id,
                                 max_concurrency=self.policy.concurrency.per_run,
                                 completed=completed)
        self._listeners: list[Callable[[RunEvent], None]] = []
        self.executor.on_event(self._on_event)
        self._sink: AttemptSink | None = None
        self._rows = TaskRowWriter(self.ledger, lambda: self._sink)
        self._stack: CallStack | None = None

    def on_event(self, listener: Callable[[RunEvent], None]) -> None:
        """Call ``listener`` with every event of the run, in order."""
        self._listeners.append(listener)

    def cancel(self) -> None:
        """Stop starting tasks and interrupt running ones (call on the run's event loop)."""
        self.executor.cancel()

    @property
    def stack(self) -> CallStack:
        """The run's call stack (while it runs)."""
        if self._stack is None:
            raise RuntimeError("the run's call stack exists only while it runs")
        return self._stack

    async def run(self) -> RunSummary:
        """Run the plan to the end (or until cancelled) and return its summary."""
        gateway = self._gateway
        modes = {gateway.mode(t) for t in self.catalog.providers}
        mode = "mixed" if len(modes) > 1 else modes.pop()
        self.ledger.start_run(self.run_id, self.plan.demand, mode, self.budget_usd,
                              self.plan.model_dump_json(), owner=this_process())
        self._sink = self.ledger.attempt_sink()
        self._stack = open_stack(gateway, self.policy, self.ledger, on_attempt=self._sink.add,
                                 run_id=self.run_id, breakers=self._breakers)
        try:
            with run_span(self.run_id, self.plan.demand, len(self.plan.tasks)):
                await self.executor.run()
        finally:
            self._sink.close()
            if self._owns_gateway:
                await gateway.aclose()
        available = sum(1 for p in self.catalog.providers if gateway.available(p))
        summary = summarize(self.executor, self.catalog, self.policy.baseline_model(self.catalog),
                            providers_available=available,
                            spent_usd=self.ledger.run_spend(self.run_id))
        self._rows.submit(self.ledger.update_run, self.run_id, status=summary.status,
                          summary_json=summary.model_dump_json(exclude={"task_results"}))
        self.executor.emit(RunDone(status=summary.status, cost_usd=summary.cost_usd))
        self._rows.close()
        return summary

    def _new_gateway(self) -> Gateway:
        in_flight, local_only = self.policy.concurrency.per_provider, self.policy.routing.local_only
        if self.settings is not None:  # the run's own policy decides local-only, as for the rest
            return self.settings.gateway(local_only=local_only,
                                         max_in_flight_per_provider=in_flight)
        return gateway_type(local_only)(self.catalog, max_in_flight_per_provider=in_flight)

    # ── one task ─────────────────────────────────────────────────────────────────────────
    async def _run_task(self, task: Task, prompt: str, ctx: TaskContext) -> TaskOutput:
        with task_span(self.run_id, task.id, ctx.wave, task.kind):
            if task.kind in PATTERN_KINDS:
                output = await self._run_pattern(task, prompt, ctx)
            else:
                output = await self._run_single(task, prompt, ctx)
        # the answer is durable before the task is done and its dependents start (what a
        # resume adopts); concurrent tasks' answers are written together
        if self._sink is not None:
            await asyncio.to_thread(self._sink.flush)
        return output

    async def _run_single(self, task: Task, prompt: str, ctx: TaskContext) -> TaskOutput:
        stack, where = self.stack, CallContext(self.run_id, task.id, ctx.wave)
        complexity, scored = task.complexity, ""
        if (complexity is None and not task.model and not task.tier
                and self.policy.complexity.mode == "llm"):
            score = await self._llm_complexity(task, where)
            complexity, scored = score.score, f"{score.reason}; "
        request = ChatRequest(model=task.model or "",
                              messages=[Message(role="user", content=prompt)],
                              max_tokens=task.max_output_tokens,
                              live_search="live_search" in task.capabilities,
                              json_schema=task.schema_)  # a schema routes to json_schema models
        route = route_request_for(
            request, kind=task.kind, complexity=complexity, tier=task.tier,
            model=task.model, capabilities=tuple(task.capabilities),
            dependencies=len(task.depends_on))
        if task.tools:  # routed only to models with the tools capability
            route = tools_route(route)
        decision = stack.route(route)
        ctx.emit(TaskStarted(model=decision.model, tier=decision.tier,
                             reason=scored + decision.reason, fallbacks=decision.fallbacks))
        if task.tools:
            return await self._run_tools(task, request, tools_route(route, decision.model),
                                         where, ctx)
        pinned = request.model_copy(update={"model": decision.model})
        if task.schema_ is not None:  # validated, repaired once (core/calls/structured.py)
            _, outcome = await call_structured(stack, pinned, task.schema_, route=route,
                                               decision=decision, context=where,
                                               on_event=ctx.forward)
        else:
            outcome = await stack.call(pinned, route, decision=decision, context=where,
                                       on_event=ctx.forward)
        spec = self.catalog.model(outcome.model)
        return TaskOutput(text=outcome.result.text, model=outcome.model, tier=spec.tier,
                          cached=outcome.result.cached,
                          cost_usd=None if outcome.result.cost_usd is None
                          else outcome.charged_usd,
                          usage=outcome.result.usage)

    async def _run_tools(self, task: Task, request: ChatRequest, route: RouteRequest,
                         where: CallContext, ctx: TaskContext) -> TaskOutput:
        """A task with ``tools:``: the tool loop (``core.tools``), each model call through the
        stack, each tool call written to the ledger."""
        out = await call_with_tools(
            lambda r, rt: self.stack.call(r, rt, context=where, on_event=ctx.forward),
            request.model_copy(update={"tool_choice": task.tool_choice}), route, task.tools,
            self.policy.tools, self.catalog, run_id=self.run_id, task_id=task.id,
            record=lambda rows: self._rows.submit(self.ledger.record_tool_calls, rows))
        return TaskOutput(text=out.result.text, model=out.model,
                          tier=self.catalog.model(out.model).tier,
                          cost_usd=None if out.cost_usd is None else out.charged_usd,
                          usage=out.usage)

    async def _llm_complexity(self, task: Task, where: CallContext) -> ComplexityScore:
        """Score a task with an economy model (heuristic on failure or when over budget)."""
        stack = self.stack
        model = self.policy.complexity.model or cheapest_json_model(stack, "economy")

        async def complete(request: ChatRequest) -> ChatResult:
            outcome = await stack.call(request, context=where.but(purpose="scorer"),
                                       fallback=False)
            return outcome.result

        return await classify_with_llm(task.prompt, complete, model, kind=task.kind,
                                       dependencies=len(task.depends_on),
                                       capabilities=task.capabilities)

    async def _run_pattern(self, task: Task, prompt: str, ctx: TaskContext) -> TaskOutput:
        ctx.emit(TaskStarted(model=f"{task.kind} pattern", tier=task.tier or "",
                             reason=f"{task.kind}: several models together"))

        def record(entry: PatternRecord) -> None:
            self._rows.submit(self.ledger.record_comparison, entry.comparison_id, entry.kind,
                              entry.prompt, entry.meta)

        models = [task.model] if task.model else None
        out = await run_pattern_task(task.kind, prompt, self.stack, models=models,
                                     on_record=record,
                                     context=CallContext(self.run_id, task.id, ctx.wave))
        return TaskOutput(text=out.text, model=f"{task.kind} pattern", tier=task.tier or "",
                          cost_usd=out.cost_usd, usage=out.usage)

    # ── ledger ───────────────────────────────────────────────────────────────────────────
    def _on_event(self, event: RunEvent) -> None:
        status = _TASK_STATUSES.get(event.type)
        if status is not None:
            self._rows.put(self._task_row(event.task_id, status, event))
        for listener in self._listeners:
            listener(event)

    def _task_row(self, task_id: str, status: TaskStatus, event: RunEvent) -> TaskRow:
        task, state = self.plan.task(task_id), self.executor.states[task_id]
        out = state.output
        started = event.payload if isinstance(event.payload, TaskStarted) else None
        return TaskRow(
            run_id=self.run_id, task_id=task_id, wave=state.wave, title=task.title,
            kind=task.kind, status=status,
            model=out.model if out else (started.model if started else ""),
            tier=out.tier if out else (started.tier if started else ""),
            output=out.text if out else None, cost_usd=out.cost_usd if out else None,
            started_at=from_unix(state.started_at) if state.started_at else None,
            ended_at=(from_unix(state.ended_at)
                      if state.ended_at and status != "running" else None),
            error=state.error,
        )

    # ── resume ───────────────────────────────────────────────────────────────────────────
    @classmethod
    def resume(cls, run_id: str, *, db_path: Path | str | None = None, force: bool = False,
               budget_usd: Decimal | None = None, **kwargs: object) -> "RunSession":
        """A session that continues a stored run: tasks it holds answers for are not called
        again, and its budget counts what it already spent. Refuses a run whose owner is still
        alive (``force`` takes over one owned by a process on another host)."""
        ledger = Ledger(db_path)
        record = ledger.get_run(run_id)
        if record is None:
            raise ConfigError(f"no run '{run_id}' in {ledger.path}; `orchestra runs` lists them")
        claim(record, force=force)
        plan = Plan.model_validate_json(record.plan_json)
        budget = budget_usd or record.budget_usd
        return cls(plan, run_id=run_id, db_path=db_path,
                   completed=completed_tasks(ledger, run_id, plan),
                   budget_usd=budget, **kwargs)  # type: ignore[arg-type]
