"""The dispatcher: run one task through its route — primary, retries, fallbacks — and account.

For each model of ``[primary] + fallbacks`` it reserves the worst-case cost, calls the gateway
(one HTTP attempt per call) with retries, records every attempt (``on_attempt``, where the ledger
writer plugs in) and tells what happens (``on_event``: attempt_failed, retrying, fallback,
restarted_on, budget_warning as ``core.execution.events.RunEvent``). It settles the budget and feeds the
share tracker, the breakers and the latency average. A stream that fails before its first token
falls back quietly; one that fails mid-way restarts on the next model with a visible
``restarted_on`` event. When every model fails, ``AllModelsFailed`` keeps each cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from core.routing.budget import BudgetManager, BudgetWarning, Reservation, worst_case_for
from core.catalog import Catalog, ModelSpec
from core.errors import (AllModelsFailed, AuthFailed, BudgetExceeded, ContextLengthExceeded,
                         MalformedResponse, OrchestraError, ProviderError, ProviderTimeout)
from core.execution.events import RunEvent
from core.policy import Policy
from core.calls.resilience import BreakerBoard, RetryPolicy
from core.routing.candidates import RouteRequest
from core.routing.rankers import Ranker
from core.routing.router import RouteDecision, Router, ShareTracker
from core.types import AttemptRecord, ChatRequest, ChatResult, Mode, StreamDone, TextDelta


class GatewayLike(Protocol):
    """What the dispatcher needs from ``core.calls.gateway.Gateway``."""

    catalog: Catalog

    def mode(self, provider: str) -> Mode: ...
    async def complete(self, request: ChatRequest) -> ChatResult: ...
    def stream(self, request: ChatRequest) -> Any: ...


@dataclass(frozen=True, slots=True)
class CallContext:
    """Where a task runs, copied into every attempt record and event."""

    run_id: str = ""
    task_id: str = ""
    wave: int = 0


@dataclass
class TaskOutcome:
    """A finished task: the result, the model that gave it, every attempt and the decision."""

    result: ChatResult
    model: str
    attempts: list[AttemptRecord]
    decision: RouteDecision
    charged_usd: Decimal
    restarted: bool = False


@dataclass
class _Task:
    """One task's running state."""

    request: ChatRequest
    route: RouteRequest
    decision: RouteDecision
    context: CallContext
    emit: Callable[..., None]
    deadline: float
    on_delta: Callable[[str], None] | None
    attempts: list[AttemptRecord] = field(default_factory=list)
    errors: list[OrchestraError] = field(default_factory=list)
    fallback_from: str = ""
    why: str = ""
    restart_pending: bool = False
    restarted: bool = False


class DeadlineReached(ProviderTimeout):
    """The task's deadline passed during an attempt: not the provider's fault, not retried."""

    retryable_default = False


class _MidStream(Exception):
    """Carries a provider error raised after a stream had produced text."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


_CURRENT: contextvars.ContextVar[_Task | None] = contextvars.ContextVar("dispatch_task", default=None)


def route_request_for(request: ChatRequest, *, stream: bool = False, **overrides: Any) -> RouteRequest:
    """A RouteRequest read off a ChatRequest: its text, output limit and needed capabilities."""
    caps = [c for c, needed in (("json_schema", request.json_schema is not None),
                                ("live_search", request.live_search), ("stream", stream)) if needed]
    values: dict[str, Any] = {
        "text": "\n".join(m.text for m in request.messages),
        "capabilities": tuple(caps),
        "max_output_tokens": request.max_tokens,
    }
    values.update(overrides)
    return RouteRequest(**values)


def prompt_token_bound(request: ChatRequest) -> int:
    """An upper bound of the prompt's tokens (one per character), so reservations stay safe."""
    chars = sum(len(m.text) for m in request.messages) + len(request.system or "")
    if request.json_schema is not None:
        chars += len(json.dumps(request.json_schema))
    return chars + 16 * (len(request.messages) + 1)


class Dispatcher:
    """Runs tasks through the router's decisions over a gateway.

    Args:
        gateway: ``core.calls.gateway.Gateway`` (or anything with ``complete``/``stream``/``mode``).
        router: the router whose budget, breakers, shares and latency this dispatcher feeds.
        retry: retry policy (default: the router policy's ``[retry]``).
        on_attempt: called with every ``AttemptRecord`` as it ends (the ledger writer).
        on_event: called with every ``RunEvent``.
        deadline_s: per-task deadline (default: the policy's ``[task] deadline_s``).
        sleep: awaited between retries (tests may inject a fake).
    """

    def __init__(
        self,
        gateway: GatewayLike,
        router: Router,
        *,
        retry: RetryPolicy | None = None,
        on_attempt: Callable[[AttemptRecord], None] | None = None,
        on_event: Callable[[RunEvent], None] | None = None,
        deadline_s: float | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.gateway = gateway
        self.router = router
        self.retry = retry or RetryPolicy.from_settings(router.policy.retry)
        self.on_attempt = on_attempt
        self.on_event = on_event
        self.deadline_s = deadline_s if deadline_s is not None else router.policy.task.deadline_s
        self._sleep = sleep
        if router.budget is not None:
            router.budget.subscribe(self._budget_warning)

    async def run(
        self,
        request: ChatRequest,
        route: RouteRequest | None = None,
        *,
        decision: RouteDecision | None = None,
        context: CallContext = CallContext(),
        stream: bool = False,
        on_delta: Callable[[str], None] | None = None,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> TaskOutcome:
        """Run one task: route it (unless ``decision`` is given), then try its chain in order."""
        route = route or route_request_for(request, stream=stream)
        decision = decision or self.router.route(route)
        listener = on_event or self.on_event

        def emit(type_: str, **data: Any) -> None:
            if listener is not None:
                listener(RunEvent(type=type_, run_id=context.run_id, task_id=context.task_id,
                                  wave=context.wave, data=data))  # type: ignore[arg-type]

        task = _Task(request, route, decision, context, emit,
                     time.monotonic() + self.deadline_s, on_delta, why=decision.reason)
        token = _CURRENT.set(task)
        try:
            return await self._run_chain(task, stream)
        finally:
            _CURRENT.reset(token)

    async def _run_chain(self, task: _Task, stream: bool) -> TaskOutcome:
        chain = deque(task.decision.chain())
        tried: list[str] = []
        while chain:
            model_id = chain.popleft()
            if model_id in tried:
                continue
            if task.deadline - time.monotonic() <= 0:
                task.errors.append(DeadlineReached(
                    f"task deadline of {self.deadline_s:g}s reached before trying {model_id}",
                    model=model_id))
                break
            spec = self.router.catalog.model(model_id)
            reservation = self._admit(task, spec)
            if reservation is None:
                continue
            tried.append(model_id)
            try:
                result = await self._try_model(task, spec, stream)
            except (ProviderError, _MidStream) as exc:
                self._release(reservation)
                chain = self._after_failure(task, spec, exc, chain, tried)
                continue
            except BaseException:
                self._release(reservation)
                raise
            return self._succeed(task, spec, reservation, result)
        raise self._all_failed(task, tried)

    # ── admission: budget, breaker, share ────────────────────────────────────────────────
    def _admit(self, task: _Task, spec: ModelSpec) -> Reservation | None:
        """Reserve budget and a breaker slot for ``spec``, or note why it was passed over."""
        provider = spec.provider
        if provider in self.router.unavailable:
            return self._pass_over(task, spec, f"{provider} unavailable")
        reservation = None
        budget = self.router.budget
        if budget is not None:
            worst, unpriced = worst_case_for(self.router.catalog, spec,
                                             prompt_token_bound(task.request), task.request.max_tokens)
            try:
                reservation = budget.reserve(provider, worst, unpriced=unpriced)
            except BudgetExceeded as exc:
                task.errors.append(exc)
                return self._pass_over(task, spec, f"{spec.id} over budget")
        if not self.router.breakers.get(provider).allow():
            self._release(reservation)
            return self._pass_over(task, spec, f"{provider} breaker open")
        self.router.shares.record(provider)
        if task.fallback_from:
            task.emit("fallback", **{"from": task.fallback_from, "to": spec.id, "reason": task.why})
        if task.restart_pending:
            task.restart_pending = False
            task.restarted = True
            task.emit("restarted_on", model=spec.id, reason=task.why)
        return reservation or Reservation(0, provider, Decimal(0))

    @staticmethod
    def _pass_over(task: _Task, spec: ModelSpec, why: str) -> None:
        """Skip a model without calling it; the next model's fallback event says why."""
        if not task.fallback_from:
            task.fallback_from, task.why = spec.id, why
        elif why not in task.why:
            task.why = f"{task.why}; {why}"
        return None

    def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None and self.router.budget is not None:
            self.router.budget.release(reservation)

    # ── one model, with retries ──────────────────────────────────────────────────────────
    async def _try_model(self, task: _Task, spec: ModelSpec, stream: bool) -> ChatResult:
        request = task.request.model_copy(update={"model": spec.id})
        attempt = 0
        while True:
            attempt += 1
            started, t0 = time.time(), time.monotonic()
            got_text = [False]
            try:
                result = await self._call(task, request, stream, got_text)
            except ProviderError as err:
                self._record(task, spec, started, t0, error=err)
                if got_text[0]:
                    raise _MidStream(err) from err
                delay = self._retry_delay(task, spec, err, attempt)
                if delay is None:
                    raise
                task.emit("retrying", model=spec.id, delay_s=delay, attempt=attempt + 1,
                          error_class=err.error_class)
                await self._sleep(delay)
                continue
            except asyncio.CancelledError:
                self._record(task, spec, started, t0, cancelled=True)
                self.router.breakers.get(spec.provider).release_probe()
                raise
            self._record(task, spec, started, t0, result=result)
            self.router.breakers.record(spec.provider, None)
            return result

    async def _call(self, task: _Task, request: ChatRequest, stream: bool,
                    got_text: list[bool]) -> ChatResult:
        """One HTTP attempt, bounded by the task deadline."""
        left = task.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(left, 0.0)):
                if not stream:
                    return await self.gateway.complete(request)
                return await self._consume_stream(task, request, got_text)
        except TimeoutError as exc:
            raise DeadlineReached(f"task deadline of {self.deadline_s:g}s reached",
                                  model=request.model) from exc

    async def _consume_stream(self, task: _Task, request: ChatRequest,
                              got_text: list[bool]) -> ChatResult:
        async with contextlib.aclosing(self.gateway.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    got_text[0] = True
                    if task.on_delta is not None:
                        task.on_delta(event.text)
                elif isinstance(event, StreamDone):
                    return event.result
        raise MalformedResponse("stream ended without its final event", model=request.model)

    def _retry_delay(self, task: _Task, spec: ModelSpec, err: ProviderError,
                     attempt: int) -> float | None:
        """Feed the breaker, tell the failure, and say how long to wait (None: stop)."""
        if not isinstance(err, DeadlineReached):
            self.router.breakers.record(spec.provider, err)
        else:
            self.router.breakers.get(spec.provider).release_probe()
        task.emit("attempt_failed", model=spec.id, error_class=err.error_class,
                  message=str(err)[:200], http_status=err.status_code, attempt=attempt)
        if self.router.breakers.blocking(spec.provider):
            return None
        return self.retry.delay_for(err, attempt, task.deadline - time.monotonic())

    # ── outcomes ─────────────────────────────────────────────────────────────────────────
    def _after_failure(self, task: _Task, spec: ModelSpec, exc: Exception,
                       chain: deque[str], tried: list[str]) -> deque[str]:
        """Note the cause and return the chain to continue with."""
        err = exc.error if isinstance(exc, _MidStream) else exc
        assert isinstance(err, ProviderError)
        if isinstance(exc, _MidStream):
            self.router.breakers.record(spec.provider, err)
            task.emit("attempt_failed", model=spec.id, error_class=err.error_class,
                      message=str(err)[:200], http_status=err.status_code, attempt=0)
            task.restart_pending = True
        task.errors.append(err)
        task.fallback_from = spec.id
        task.why = f"{err.error_class}" + (f" (HTTP {err.status_code})" if err.status_code else "")
        if isinstance(err, AuthFailed):
            self.router.mark_unavailable(spec.provider, "key refused (HTTP 401/403)")
        if isinstance(err, ContextLengthExceeded):
            return deque(self.router.bigger_context(task.route, spec.id, exclude=tried))
        return chain

    def _succeed(self, task: _Task, spec: ModelSpec, reservation: Reservation,
                 result: ChatResult) -> TaskOutcome:
        charged = Decimal(0)
        if self.router.budget is not None and reservation.id:
            charged = self.router.budget.settle(reservation, result.cost_usd)
        self.router.latency.observe(spec.id, result.latency_ms)
        return TaskOutcome(result, spec.id, task.attempts, task.decision, charged, task.restarted)

    def _all_failed(self, task: _Task, tried: list[str]) -> AllModelsFailed:
        causes = "; ".join(f"{getattr(e, 'model', '') or '?'}: {type(e).__name__}"
                           for e in task.errors) or task.why
        return AllModelsFailed(
            f"every model failed for this task (tried {', '.join(tried) or 'none'}): {causes}",
            list(task.errors))

    def _record(self, task: _Task, spec: ModelSpec, started: float, t0: float, *,
                result: ChatResult | None = None, error: ProviderError | None = None,
                cancelled: bool = False) -> None:
        record = _attempt_record(task, spec, self.gateway.mode(spec.provider), started,
                                 (time.monotonic() - t0) * 1000, result, error, cancelled)
        task.attempts.append(record)
        if self.on_attempt is not None:
            self.on_attempt(record)

    def _budget_warning(self, warning: BudgetWarning) -> None:
        task = _CURRENT.get()
        if task is not None:
            task.emit("budget_warning", message=warning.message, budget=warning.budget,
                      provider=warning.provider)
        elif self.on_event is not None:
            self.on_event(RunEvent(type="budget_warning", run_id="",
                                   data={"message": warning.message, "budget": warning.budget}))


def _attempt_record(task: _Task, spec: ModelSpec, mode: Mode, started: float, latency_ms: float,
                    result: ChatResult | None, error: ProviderError | None,
                    cancelled: bool) -> AttemptRecord:
    ctx = task.context
    usage = result.usage if result is not None else None
    return AttemptRecord(
        attempt_id=uuid.uuid4().hex, run_id=ctx.run_id, task_id=ctx.task_id, wave=ctx.wave,
        attempt_no=len(task.attempts) + 1, provider=spec.provider, model=spec.id, tier=spec.tier,
        mode=result.mode if result is not None else mode,
        status="cancelled" if cancelled else ("error" if error is not None else "ok"),
        error_class=error.error_class if error is not None else "",
        error_message=str(error)[:300] if error is not None else "",
        http_status=error.status_code if error is not None else None,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_input_tokens=usage.cached_input_tokens if usage else 0,
        reasoning_tokens=usage.reasoning_tokens if usage else 0,
        cost_usd=result.cost_usd if result is not None else Decimal(0),
        latency_ms=result.latency_ms if result is not None and result.latency_ms else latency_ms,
        ttft_ms=result.ttft_ms if result is not None else None,
        fallback_from=task.fallback_from, reason=task.why,
        started_at=started, ended_at=time.time(),
    )


def create_dispatcher(
    gateway: GatewayLike,
    policy: Policy | None = None,
    *,
    spent_today: Mapping[str, Decimal] | None = None,
    on_attempt: Callable[[AttemptRecord], None] | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    breakers: BreakerBoard | None = None,
    call_history: Iterable[tuple[float, str]] = (),
    poorly_rated: Mapping[str, str] | None = None,
    ranker: Ranker | None = None,
    **dispatcher_options: Any,
) -> Dispatcher:
    """A dispatcher with a fresh router and budget built from ``policy``; breakers are fresh too
    unless a shared ``breakers`` board is given (the dashboard keeps one per process).
    ``call_history`` — (unix time, provider) of earlier calls today — seeds the rolling-day
    concentration cap; ``poorly_rated`` (model → why) ranks those models last."""
    policy = policy or Policy()
    available = getattr(gateway, "available", None)
    router = Router(gateway.catalog, policy, available=available,
                    budget=BudgetManager(policy.budget, spent_today=spent_today),
                    breakers=breakers or BreakerBoard(policy.breaker),
                    shares=ShareTracker(policy.concentration, history=call_history),
                    poorly_rated=poorly_rated, ranker=ranker)
    return Dispatcher(gateway, router, on_attempt=on_attempt, on_event=on_event,
                      **dispatcher_options)
