"""The call stack: the one way Orchestra calls a model.

``CallStack.call`` takes a request and returns a ``CallOutcome`` (or raises), composing the
same behaviours for every caller — run tasks, patterns, the judge, planners, scorers, ``ask``
and the dashboard — in one place, outermost first:

1. **route**: the router (an optional ranker such as the learned one, then the heuristic)
   picks a primary model and its fallback chain, unless the caller pinned one;
   ``fallback=False`` keeps a pinned model alone.
2. **fallback**: each model of the chain in turn; a context-length failure reroutes to bigger
   windows; when all fail, ``AllModelsFailed`` keeps every cause (``BudgetExceeded`` when
   budgets ruled every model out).
3. **cache** (``core.calls.cache``, when enabled) answers an exact repeat at $0, else
   **admission** (``core.calls.admission``): availability, budget reservation, breaker,
   concentration-cap share. Settled to the actual cost afterwards, released on failure.
4. **retry**: retryable failures are tried again with full-jitter backoff, within the task's
   deadline; a stream that fails after its first token restarts on the next model instead.
5. **trace** (``core.calls.tracing``): one span per HTTP attempt.
6. **record** (``core.calls.records``): one ``AttemptRecord`` per HTTP attempt to
   ``on_attempt`` (the ledger's sink); the breaker and latency average are fed.
7. **gateway**: one HTTP attempt through the adapter of the model's wire protocol.

A caller may pin a model, but it cannot skip a step. ``validate`` checks an answer inside its
attempt (e.g. structured output): a rejected answer is recorded as a failed, paid attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from opentelemetry.trace import Span

from core.calls.admission import Admission, Refusal
from core.calls.cache import ResponseCache
from core.calls.context import (CallContext, CallOutcome, DeadlineReached, GatewayLike,
                                Validator, all_failed, passes)
from core.calls.records import AttemptOutcome, attempt_record, first_line
from core.calls.resilience import RetryPolicy
from core.calls.tracing import attempt_span, fail_attempt, finish_attempt, span_ids
from core.catalog import ModelSpec
from core.errors import (AuthFailed, ContextLengthExceeded, InvalidOutput, MalformedResponse,
                         OrchestraError, ProviderError, ProviderUnavailable)
from core.execution.events import (AttemptFailed, BudgetWarned, FellBack, Payload, RestartedOn,
                                   Retrying, RunEvent)
from core.policy import Policy
from core.routing.budget import BudgetWarning, Reservation
from core.routing.candidates import RouteRequest, route_request_for
from core.routing.rankers import Ranker
from core.routing.router import RouteDecision, Router
from core.routing.state import RoutingState
from core.types import AttemptRecord, ChatRequest, ChatResult, Mode, StreamDone, TextDelta


class _MidStream(Exception):
    """Carries a provider error raised after a stream had produced text."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Call:
    """One call's running state, as it walks its chain."""

    request: ChatRequest
    route: RouteRequest
    decision: RouteDecision
    context: CallContext
    listener: Callable[[RunEvent], None] | None
    deadline: float
    on_delta: Callable[[str], None] | None
    validate: Validator | None
    attempts: list[AttemptRecord] = field(default_factory=list)
    errors: list[OrchestraError] = field(default_factory=list)
    fallback_from: str = ""
    why: str = ""
    restart_pending: bool = False
    restarted: bool = False
    paid: Decimal = Decimal(0)  # rejected answers of the current model: paid, not used

    def emit(self, payload: Payload) -> None:
        if self.listener is not None:
            ctx = self.context
            self.listener(RunEvent(run_id=ctx.run_id, task_id=ctx.task_id, wave=ctx.wave,
                                   payload=payload))


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("call", default=None)


class CallStack:
    """Calls models for one session: its gateway, policy and routing state.

    Args:
        gateway: one HTTP attempt per call (``core.calls.gateway.Gateway``).
        policy: the routing policy (retries, deadline, tiers, cap, budgets).
        state: the session's routing state (budgets, breakers, shares, latency, ratings).
        ranker: an optional ranker consulted before the heuristic (e.g. the learned one).
        on_attempt: receives every ``AttemptRecord`` as it ends (the ledger's sink).
        on_event: receives every ``RunEvent`` of calls that give no listener of their own.
        sleep: awaited between retries (tests may inject a fake).
    """

    def __init__(self, gateway: GatewayLike, policy: Policy, state: RoutingState, *,
                 ranker: Ranker | None = None,
                 on_attempt: Callable[[AttemptRecord], None] | None = None,
                 on_event: Callable[[RunEvent], None] | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep,
                 cache: ResponseCache | None = None) -> None:
        self.gateway = gateway
        self.cache = cache
        self.catalog = gateway.catalog
        self.policy = policy
        self.state = state
        self.router = Router(self.catalog, policy, state, ranker=ranker)
        self.admission = Admission(self.catalog, state)
        self.retry = RetryPolicy.from_settings(policy.retry)
        self.deadline_s = policy.task.deadline_s
        self.on_attempt = on_attempt
        self.on_event = on_event
        self._sleep = sleep
        if state.budget is not None:
            state.budget.subscribe(self._budget_warning)

    def mode(self, provider: str) -> Mode:
        """``live`` or ``sandbox`` for a provider, as the gateway will call it."""
        return self.gateway.mode(provider)

    def available(self, provider: str) -> bool:
        """Whether routing may choose ``provider`` (a local server only when configured)."""
        return self.gateway.available(provider)

    def route(self, route: RouteRequest) -> RouteDecision:
        """Where a call would go now (nothing is called)."""
        return self.router.route(route)

    async def call(self, request: ChatRequest, route: RouteRequest | None = None, *,
                   decision: RouteDecision | None = None, context: CallContext = CallContext(),
                   stream: bool = False, on_delta: Callable[[str], None] | None = None,
                   on_event: Callable[[RunEvent], None] | None = None, fallback: bool = True,
                   validate: Validator | None = None) -> CallOutcome:
        """Make one call: route it (unless ``decision`` is given), then walk its chain.

        ``request.model`` pins the model when ``route`` is not given (empty: routed).
        ``fallback=False`` tries only the decision's primary model.
        """
        if route is None:
            route = route_request_for(request, stream=stream, model=request.model or None)
        if decision is None:
            alone = not fallback and bool(route.model)
            decision = self.router.pinned_alone(route) if alone else self.router.route(route)
        call = _Call(request, route, decision, context, on_event or self.on_event,
                     time.monotonic() + self.deadline_s, on_delta, validate, why=decision.reason)
        chain = decision.chain() if fallback else [decision.model]
        token = _CURRENT.set(call)
        try:
            return await self._run_chain(call, deque(chain), stream, fallback)
        finally:
            _CURRENT.reset(token)

    async def _run_chain(self, call: _Call, chain: deque[str], stream: bool,
                         fallback: bool) -> CallOutcome:
        tried: list[str] = []
        while chain:
            model_id = chain.popleft()
            if model_id in tried:
                continue
            if call.deadline - time.monotonic() <= 0:
                call.errors.append(DeadlineReached(
                    f"task deadline of {self.deadline_s:g}s reached before trying {model_id}",
                    model=model_id))
                break
            spec = self.catalog.model(model_id)
            hit = self._from_cache(call, spec)
            if hit is not None:
                return hit
            reservation = self._admit(call, spec)
            if reservation is None:
                continue
            tried.append(model_id)
            call.paid = Decimal(0)
            try:
                result = await self._try_model(call, spec, stream)
            except (ProviderError, _MidStream) as exc:
                self._settle_paid(reservation, call.paid)
                chain = self._after_failure(call, spec, exc, chain, tried)
                if not fallback:
                    chain.clear()
                continue
            except BaseException:
                self._settle_paid(reservation, call.paid)
                raise
            return self._succeed(call, spec, reservation, result)
        raise all_failed(call.errors, tried, call.why, call.attempts)

    def _from_cache(self, call: _Call, spec: ModelSpec) -> CallOutcome | None:
        """A cached answer that passes the call's check, as one recorded $0 attempt; None
        when there is none (then the model is admitted and called)."""
        if self.cache is None:
            return None
        request = call.request.model_copy(update={"model": spec.id})
        result = self.cache.answer(request)
        if result is None or not passes(call.validate, result):
            return None
        with attempt_span(spec, request, call.context, result.mode) as span:
            if call.on_delta is not None:
                call.on_delta(result.text)
            self._record(call, spec, span, time.time(), time.monotonic(), AttemptOutcome(result))
        return CallOutcome(result, spec.id, call.attempts, call.decision, Decimal(0))

    # ── admission ────────────────────────────────────────────────────────────────────────
    def _admit(self, call: _Call, spec: ModelSpec) -> Reservation | None:
        """Book a call to ``spec``, or note why it was passed over (None)."""
        booked = self.admission.admit(spec, call.request)
        if isinstance(booked, Refusal):
            call.errors.append(booked.error or ProviderUnavailable(
                booked.reason, provider=spec.provider, model=spec.id))
            self._pass_over(call, spec, booked.reason)
            return None
        if call.fallback_from:
            call.emit(FellBack(from_model=call.fallback_from, to_model=spec.id,
                               reason=call.why))
        if call.restart_pending:
            call.restart_pending, call.restarted = False, True
            call.emit(RestartedOn(model=spec.id, reason=call.why))
        return booked

    @staticmethod
    def _pass_over(call: _Call, spec: ModelSpec, why: str) -> None:
        """Skip a model without calling it; the next model's fallback event says why."""
        if not call.fallback_from:
            call.fallback_from, call.why = spec.id, why
        elif why not in call.why:
            call.why = f"{call.why}; {why}"

    def _settle_paid(self, reservation: Reservation, paid: Decimal) -> None:
        if paid > 0:
            self.admission.settle(reservation, paid)
        else:
            self.admission.release(reservation)

    # ── one model, with retries ──────────────────────────────────────────────────────────
    async def _try_model(self, call: _Call, spec: ModelSpec, stream: bool) -> ChatResult:
        request = call.request.model_copy(update={"model": spec.id})
        attempt = 0
        while True:
            attempt += 1
            delay = await self._one_attempt(call, spec, request, stream, attempt)
            if isinstance(delay, ChatResult):
                return delay
            await self._sleep(delay)

    async def _one_attempt(self, call: _Call, spec: ModelSpec, request: ChatRequest,
                           stream: bool, attempt: int) -> ChatResult | float:
        """One traced, recorded HTTP attempt: its result, or how long to wait before the next
        (raises when this model is done for)."""
        got_text = [False]
        with attempt_span(spec, request, call.context, self.mode(spec.provider)) as span:
            started, t0 = time.time(), time.monotonic()
            try:
                result = await self._attempt(call, request, stream, got_text)
                if call.validate is not None:
                    call.validate(result)
            except InvalidOutput as err:
                self._record(call, spec, span, started, t0, AttemptOutcome(err.result, err))
                if err.result is not None and err.result.cost_usd is not None:
                    call.paid += err.result.cost_usd
                self.state.breakers.record(spec.provider, None)  # it answered: it is healthy
                raise
            except ProviderError as err:
                self._record(call, spec, span, started, t0, AttemptOutcome(error=err))
                if got_text[0]:
                    raise _MidStream(err) from err
                delay = self._retry_delay(call, spec, err, attempt)
                if delay is None:
                    raise
                call.emit(Retrying(model=spec.id, delay_s=delay, attempt=attempt + 1,
                                   error_class=err.error_class))
                return delay
            except asyncio.CancelledError:
                self._record(call, spec, span, started, t0, AttemptOutcome(cancelled=True))
                self.state.breakers.get(spec.provider).release_probe()
                raise
            self._record(call, spec, span, started, t0, AttemptOutcome(result))
            self.state.breakers.record(spec.provider, None)
            if self.cache is not None:
                self.cache.keep(request, result)
            return result

    async def _attempt(self, call: _Call, request: ChatRequest, stream: bool,
                       got_text: list[bool]) -> ChatResult:
        """One HTTP attempt, bounded by the call's deadline."""
        left = call.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(left, 0.0)):
                if not stream:
                    return await self.gateway.complete(request)
                return await self._consume_stream(call, request, got_text)
        except TimeoutError as exc:
            raise DeadlineReached(f"task deadline of {self.deadline_s:g}s reached",
                                  model=request.model) from exc

    async def _consume_stream(self, call: _Call, request: ChatRequest,
                              got_text: list[bool]) -> ChatResult:
        events: Any = self.gateway.stream(request)
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, TextDelta):
                    got_text[0] = True
                    if call.on_delta is not None:
                        call.on_delta(event.text)
                elif isinstance(event, StreamDone):
                    return event.result
        raise MalformedResponse("stream ended without its final event", model=request.model)

    def _retry_delay(self, call: _Call, spec: ModelSpec, err: ProviderError,
                     attempt: int) -> float | None:
        """Feed the breaker, tell the failure, and say how long to wait (None: stop)."""
        breakers = self.state.breakers
        if isinstance(err, DeadlineReached):
            breakers.get(spec.provider).release_probe()
        else:
            breakers.record(spec.provider, err)
        call.emit(AttemptFailed(model=spec.id, error_class=err.error_class,
                                message=first_line(err)[:200], http_status=err.status_code,
                                attempt=attempt))
        if breakers.blocking(spec.provider):
            return None
        return self.retry.delay_for(err, attempt, call.deadline - time.monotonic())

    # ── outcomes ─────────────────────────────────────────────────────────────────────────
    def _after_failure(self, call: _Call, spec: ModelSpec, exc: Exception,
                       chain: deque[str], tried: list[str]) -> deque[str]:
        """Note the cause and return the chain to continue with."""
        err = exc.error if isinstance(exc, _MidStream) else exc
        assert isinstance(err, ProviderError)
        if isinstance(exc, _MidStream):
            self.state.breakers.record(spec.provider, err)
            call.emit(AttemptFailed(model=spec.id, error_class=err.error_class,
                                    message=first_line(err)[:200], http_status=err.status_code,
                                    attempt=0))
            call.restart_pending = True
        call.errors.append(err)
        call.fallback_from = spec.id
        call.why = err.error_class + (f" (HTTP {err.status_code})" if err.status_code else "")
        if isinstance(err, AuthFailed):
            self.state.mark_unavailable(spec.provider, "key refused (HTTP 401/403)")
        if isinstance(err, ContextLengthExceeded):
            return deque(self.router.bigger_context(call.route, spec.id, exclude=tried))
        return chain

    def _succeed(self, call: _Call, spec: ModelSpec, reservation: Reservation,
                 result: ChatResult) -> CallOutcome:
        cost = None if result.cost_usd is None else result.cost_usd + call.paid
        charged = self.admission.settle(reservation, cost)
        self.state.latency.observe(spec.id, result.latency_ms)
        return CallOutcome(result, spec.id, call.attempts, call.decision, charged,
                           call.restarted)

    def _record(self, call: _Call, spec: ModelSpec, span: Span, started: float, t0: float,
                outcome: AttemptOutcome) -> None:
        if outcome.result is not None and outcome.error is None:
            finish_attempt(span, outcome.result)
        elif outcome.error is not None:
            fail_attempt(span, outcome.error.error_class, first_line(outcome.error),
                         outcome.error.status_code)
        record = attempt_record(spec, self.mode(spec.provider), call.context,
                                attempt_no=len(call.attempts) + 1, started=started,
                                latency_ms=(time.monotonic() - t0) * 1000, outcome=outcome,
                                fallback_from=call.fallback_from, reason=call.why,
                                trace_ids=span_ids(span))
        call.attempts.append(record)
        if self.on_attempt is not None:
            self.on_attempt(record)

    def _budget_warning(self, warning: BudgetWarning) -> None:
        payload = BudgetWarned(message=warning.message, budget=warning.budget,
                               provider=warning.provider)
        call = _CURRENT.get()
        if call is not None:
            call.emit(payload)
        elif self.on_event is not None:
            self.on_event(RunEvent(run_id="", payload=payload))
