"""The call stack through the real HTTP path: gateway → adapters → sandbox (in process and served)."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest
from sandbox_server import serve_sandbox

from core.catalog import default_catalog
from core.calls.stack import CallStack
from core.routing.state import routing_state
from core.routing.candidates import route_request_for
from core.errors import AllModelsFailed, ProviderError
from core.calls.gateway import Gateway
from core.policy import Policy
from core.calls.resilience import RetryPolicy
from core.routing.candidates import RouteRequest
from core.sandbox.app import INVALID_KEY, build_app
from core.sandbox.config import FaultSpec, SandboxConfig
from core.sandbox.transport import StreamingASGITransport
from core.types import ChatRequest

GROQ = "groq:llama-3.3-70b-versatile"
SCOUT = "groq:meta-llama/llama-4-scout-17b-16e-instruct"


def _policy(**retry: float) -> Policy:
    policy = Policy()
    policy.retry.base_s = 0.001
    policy.retry.cap_s = 0.01
    for key, value in retry.items():
        setattr(policy.retry, key, value)
    return policy


class Recorder:
    """Collects attempts, events and the delays the stack slept."""

    def __init__(self) -> None:
        self.attempts: list = []
        self.events: list = []
        self.sleeps: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        await asyncio.sleep(0)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def _stack(gateway: Gateway, policy: Policy, rec: Recorder | None = None,
           **state: object) -> CallStack:
    return CallStack(gateway, policy, routing_state(policy, configured=gateway.available, **state),
                     on_attempt=rec.attempts.append if rec else None,
                     on_event=rec.events.append if rec else None,
                     sleep=rec.sleep if rec else asyncio.sleep)


def _dispatcher(config: SandboxConfig, rec: Recorder, policy: Policy | None = None,
                deadline_s: float | None = None) -> CallStack:
    policy = policy or _policy()
    if deadline_s is not None:
        policy.task.deadline_s = deadline_s
    return _stack(Gateway(default_catalog(), sandbox=config, timeout_s=5.0), policy, rec)


def _faulty(target: str, *kinds: str, **spec: float) -> SandboxConfig:
    return SandboxConfig(latency_scale=0, faults={target: FaultSpec(kinds=kinds, **spec)})


async def test_retries_then_falls_back_recording_every_attempt():
    rec = Recorder()
    stack = _dispatcher(_faulty(GROQ, "server_error"), rec)
    outcome = await stack.call(ChatRequest.of("x", "Hello"), RouteRequest("Hello", model=GROQ))
    assert outcome.model != GROQ and outcome.result.text
    failed = [a for a in rec.attempts if a.status == "error"]
    assert [(a.model, a.error_class, a.http_status) for a in failed] == [(GROQ, "ServerError", 500)] * 3
    assert rec.attempts[-1].status == "ok" and rec.attempts[-1].fallback_from == GROQ
    assert rec.attempts == outcome.attempts
    assert [a.attempt_no for a in rec.attempts] == [1, 2, 3, 4]
    assert rec.types() == ["attempt_failed", "retrying", "attempt_failed", "retrying",
                           "attempt_failed", "fallback"]
    fallback = rec.events[-1]
    assert fallback.data["from"] == GROQ and fallback.data["to"] == outcome.model
    assert "ServerError" in fallback.line()


async def test_retry_after_is_honoured():
    rec = Recorder()
    config = SandboxConfig(latency_scale=0.001, faults={GROQ: FaultSpec(
        kinds=("rate_limit",), failure_rate=1.0, retry_after_seconds=50)})
    stack = _dispatcher(config, rec, _policy(max_attempts=2))
    await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ))
    assert rec.sleeps == [pytest.approx(0.05)]
    assert rec.attempts[0].error_class == "RateLimited" and rec.attempts[0].http_status == 429


async def test_retry_after_beyond_the_deadline_falls_back_at_once():
    rec = Recorder()
    config = SandboxConfig(latency_scale=0.001, faults={GROQ: FaultSpec(
        kinds=("rate_limit",), retry_after_seconds=60_000)})  # asks for 60 s
    stack = _dispatcher(config, rec, deadline_s=20)
    outcome = await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ))
    assert rec.sleeps == []
    assert rec.types() == ["attempt_failed", "fallback"]
    assert outcome.model != GROQ


async def test_breaker_opens_and_the_providers_other_models_are_skipped():
    rec = Recorder()
    policy = _policy(max_attempts=5)
    policy.breaker.failure_threshold = 2
    stack = _dispatcher(_faulty("groq", "unavailable"), rec, policy)
    outcome = await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ))
    assert [a.model for a in rec.attempts if a.status == "error"] == [GROQ, GROQ]
    assert SCOUT not in [a.model for a in rec.attempts]
    assert stack.state.breakers.state()["groq"]["state"] == "open"
    assert outcome.result.provider != "groq"


async def test_auth_failure_marks_the_provider_unavailable():
    catalog = default_catalog()
    transport = StreamingASGITransport(build_app(catalog, SandboxConfig(latency_scale=0)))
    gateway = Gateway(catalog, transport=transport, keys={"groq": INVALID_KEY})
    rec = Recorder()
    stack = _stack(gateway, _policy(), rec)
    outcome = await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ))
    assert (rec.attempts[0].error_class, rec.attempts[0].http_status) == ("AuthFailed", 401)
    assert "groq" in stack.state.unavailable and outcome.result.provider != "groq"
    assert INVALID_KEY not in " ".join(a.error_message for a in rec.attempts)
    later = stack.route(RouteRequest("Hi", complexity=1))
    assert all(not m.startswith("groq:") for m in later.chain())


async def test_context_length_exceeded_reroutes_to_a_bigger_window():
    rec = Recorder()
    stack = _dispatcher(SandboxConfig(latency_scale=0), rec)
    text = "word " * 140_000  # more than groq's 131,072-token window, by the sandbox's count
    route = RouteRequest(text, model=GROQ, prompt_tokens=1000, max_output_tokens=64)
    outcome = await stack.call(ChatRequest.of("x", text, max_tokens=64), route)
    assert rec.attempts[0].error_class == "ContextLengthExceeded"
    assert default_catalog().model(outcome.model).context_window > 140_064
    assert len(rec.attempts) == 2


async def test_stream_failure_before_first_token_falls_back_without_restart():
    rec = Recorder()
    deltas: list[str] = []
    stack = _dispatcher(_faulty(GROQ, "server_error"), rec, _policy(max_attempts=1))
    outcome = await stack.call(ChatRequest.of("x", "Tell me"), RouteRequest("Tell me", model=GROQ),
                                   stream=True, on_delta=deltas.append)
    assert "restarted_on" not in rec.types() and not outcome.restarted
    assert "".join(deltas) == outcome.result.text


async def test_stream_cut_mid_way_restarts_on_the_next_model_visibly():
    rec = Recorder()
    deltas: list[str] = []
    stack = _dispatcher(_faulty(GROQ, "reset"), rec)
    outcome = await stack.call(ChatRequest.of("x", "Tell me a story", max_tokens=60),
                                   RouteRequest("Tell me a story", model=GROQ),
                                   stream=True, on_delta=deltas.append)
    assert outcome.restarted and outcome.model != GROQ
    assert [a.error_class for a in rec.attempts] == ["ConnectionFailed", ""]  # no retry mid-stream
    restart = next(e for e in rec.events if e.type == "restarted_on")
    assert restart.data["model"] == outcome.model
    assert "".join(deltas).endswith(outcome.result.text)
    assert len("".join(deltas)) > len(outcome.result.text)  # the cut model's text came first


async def test_everything_failing_raises_all_models_failed_with_each_cause():
    rec = Recorder()
    config = SandboxConfig(latency_scale=0, failure_rate=1.0, fault_kinds=("server_error",))
    stack = _dispatcher(config, rec, _policy(max_attempts=1))
    with pytest.raises(AllModelsFailed) as info:
        await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", complexity=1))
    errors = info.value.errors
    assert errors and all(isinstance(e, ProviderError) and e.status_code == 500 for e in errors)
    assert len(errors) == len({a.model for a in rec.attempts}) == len(rec.attempts)
    assert stack.state.budget.spent()["run"] == 0


async def test_budget_is_settled_and_a_warning_becomes_an_event():
    rec = Recorder()
    policy = _policy()
    policy.budget.global_per_day_usd = Decimal("1")
    gateway = Gateway(default_catalog(), sandbox=SandboxConfig(latency_scale=0))
    stack = _stack(gateway, policy, rec, spent_today={"elsewhere": Decimal("0.79999")})
    request = ChatRequest.of("x", "Write a haiku", max_tokens=50)
    outcome = await stack.call(request, RouteRequest("Write a haiku", model="openai:gpt-4o"))
    assert outcome.charged_usd == outcome.result.cost_usd > 0
    assert stack.state.budget.spent()["run"] == outcome.charged_usd
    warning = next(e for e in rec.events if e.type == "budget_warning")
    assert warning.data["budget"] == "global-per-day" and "80%" in warning.line()


def test_route_request_reads_the_chat_request():
    request = ChatRequest.of("x", "Find news", json_schema={"type": "object"}, live_search=True,
                             max_tokens=300)
    route = route_request_for(request, stream=True, kind="research")
    assert route.capabilities == ("json_schema", "live_search", "stream")
    assert (route.max_output_tokens, route.kind, route.text) == (300, "research", "Find news")


SERVED_FAULTS = ("rate_limit", "server_error", "overloaded", "hang", "reset")


async def _run_many(stack: CallStack, count: int, limit: int) -> list:
    gate = asyncio.Semaphore(limit)
    pins = [None, None, None, "anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-5"]

    async def one(i: int):
        text = f"Task {i}: summarise item {i} of the list."
        route = RouteRequest(text, complexity=1 + i % 5, model=pins[i % len(pins)],
                             max_output_tokens=80)
        async with gate:
            return await stack.call(ChatRequest.of("x", text, max_tokens=80), route,
                                        stream=i % 2 == 0)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def test_two_hundred_tasks_against_the_served_sandbox_with_thirty_percent_faults():
    config = SandboxConfig(latency_scale=0, failure_rate=0.3, seed=7, fault_kinds=SERVED_FAULTS,
                           hang_seconds=1.0)
    policy = _policy(max_attempts=3)
    policy.breaker.cooldown_s = 0.05
    policy.budget.per_run_usd = Decimal("2")
    rec = Recorder()
    with serve_sandbox(config) as url:
        gateway = Gateway.for_served_sandbox(url, timeout_s=0.25)
        stack = _stack(gateway, policy, rec)
        stack.retry = RetryPolicy(base_s=0.001, cap_s=0.01, max_attempts=3)
        try:
            outcomes = await _run_many(stack, 200, limit=24)
        finally:
            await gateway.aclose()
    assert len(outcomes) == 200 and all(o.result.text for o in outcomes)
    failed = [a for a in rec.attempts if a.status == "error"]
    assert all(a.error_class and a.mode == "sandbox" for a in failed)
    classes = Counter(a.error_class for a in failed)
    assert {"RateLimited", "ServerError", "Overloaded", "ProviderTimeout", "ConnectionFailed"} <= set(classes)
    assert len(rec.attempts) == 200 + len(failed)
    assert sum(e.type == "attempt_failed" for e in rec.events) == len(failed)
    spent = stack.state.budget.spent()["run"]
    assert spent == sum(o.charged_usd for o in outcomes) <= policy.budget.per_run_usd


async def test_the_task_deadline_stops_a_hanging_call_and_the_chain():
    rec = Recorder()
    config = SandboxConfig(latency_scale=0, failure_rate=1.0, fault_kinds=("hang",),
                           hang_seconds=5.0)
    stack = _dispatcher(config, rec, deadline_s=0.2)
    with pytest.raises(AllModelsFailed) as info:
        await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ))
    assert [a.error_class for a in rec.attempts] == ["DeadlineReached"]
    assert "deadline" in str(info.value.errors[-1])
    assert stack.state.breakers.state()["groq"]["failures"] == 0  # not the provider's fault


async def test_cancelling_a_task_records_the_attempt_and_frees_the_budget():
    rec = Recorder()
    config = SandboxConfig(latency_scale=0, failure_rate=1.0, fault_kinds=("hang",),
                           hang_seconds=5.0)
    stack = _dispatcher(config, rec)
    before = stack.state.budget.headroom("groq")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ)), 0.1)
    assert [a.status for a in rec.attempts] == ["cancelled"]
    assert stack.state.budget.headroom("groq") == before


async def test_a_pinned_model_behind_an_open_breaker_is_passed_over_visibly():
    rec = Recorder()
    stack = _dispatcher(SandboxConfig(latency_scale=0), rec)
    for _ in range(stack.policy.breaker.failure_threshold):
        stack.state.breakers.get("groq").record_failure()
    outcome = await stack.call(ChatRequest.of("x", "Hi"), RouteRequest("Hi", model=GROQ))
    assert GROQ not in [a.model for a in rec.attempts]
    assert rec.events[0].type == "fallback" and rec.events[0].data["reason"] == "groq breaker open"
    assert outcome.result.provider != "groq"
