"""The tool loop through the real call stack, with a model scripted at the HTTP level.

The scripted model speaks OpenAI Chat Completions through ``httpx.MockTransport``, so the real
adapter maps tools, tool calls and tool results both ways. It asks for the tools it is told to,
and answers from the tool results once they arrive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from opentelemetry import trace

from core.calls.gateway import Gateway
from core.calls.stack import CallStack
from core.routing.candidates import route_request_for
from core.routing.state import routing_state
from core.ledger import Ledger
from core.errors import BudgetExceeded
from core.policy import BudgetSettings, Policy, RetrySettings
from core.tools.builtins import builtin_tools
from core.tools.functions import function_tool
from core.tools.loop import run_tool_loop, tools_route
from core.tools.settings import ToolSettings
from tests.fixtures.spans import PROVIDER, last_span
from core.types import AttemptRecord, ChatRequest

MODEL = "openai:gpt-4o-mini"
KEY = "sk-test-LOOP-0123456789abcdef"
POLICY = Policy(retry=RetrySettings(base_s=0.0, cap_s=0.0, max_attempts=1))
Script = Callable[[dict[str, Any]], list[dict[str, Any]] | str]


def completion(body: dict[str, Any], turn: list[dict[str, Any]] | str) -> dict[str, Any]:
    """An OpenAI chat completion: tool calls (a list of (name, arguments)) or a text answer."""
    n = len(body["messages"])
    if isinstance(turn, str):
        message: dict[str, Any] = {"role": "assistant", "content": turn}
        finish = "stop"
    else:
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{n}_{i}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for i, c in enumerate(turn)]}
        finish = "tool_calls"
    return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1,
            "model": body["model"], "choices": [{"index": 0, "message": message,
                                                 "finish_reason": finish}],
            "usage": {"prompt_tokens": 20 * n, "completion_tokens": 10, "total_tokens": 20 * n + 10}}


class ScriptedModel:
    """Answers each request with ``script(body)``; keeps every request body."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        return httpx.Response(200, json=completion(body, self.script(body)))


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def calculator_then_answer(body: dict[str, Any]) -> list[dict[str, Any]] | str:
    results = tool_messages(body)
    if results:
        return f"1234 * 5678 = {results[-1]['content']}"
    return [{"name": "calculator", "arguments": {"expression": "1234 * 5678"}}]


async def loop_with(script: Script, tools: list[Any], *, prompt: str = "What is 1234 * 5678?",
                    max_turns: int = 4, timeout_s: float = 2.0, ledger: Ledger | None = None,
                    secrets: tuple[str, ...] = ()) -> tuple[Any, ScriptedModel, list[AttemptRecord]]:
    model = ScriptedModel(script)
    attempts: list[AttemptRecord] = []
    async with Gateway(transport=httpx.MockTransport(model), keys={"openai": KEY}) as gateway:
        stack = CallStack(gateway, POLICY, routing_state(POLICY, configured=gateway.available),
                          on_attempt=attempts.append)
        request = ChatRequest.of(MODEL, prompt)
        out = await run_tool_loop(
            lambda r, route: stack.call(r, route, fallback=False), request,
            route_request_for(request, model=MODEL), tools, max_turns=max_turns,
            timeout_s=timeout_s, run_id="run1", task_id="t1",
            record=ledger.record_tool_calls if ledger else None, secrets=secrets,
            tracer_provider=PROVIDER)
    return out, model, attempts


async def test_calculator_round_trip_is_recorded() -> None:
    ledger = Ledger()
    out, model, attempts = await loop_with(calculator_then_answer,
                                           builtin_tools(ToolSettings()), ledger=ledger)
    assert out.stopped == "answered" and "7006652" in out.result.text
    assert len(model.bodies) == 2 and len(out.calls) == 2 and len(attempts) == 2
    offered = [t["function"]["name"] for t in model.bodies[0]["tools"]]
    assert offered == ["calculator", "clock", "http_get"]
    back = tool_messages(model.bodies[1])
    assert back == [{"role": "tool", "tool_call_id": "call_1_0", "content": "7006652"}]
    assert model.bodies[1]["messages"][1]["tool_calls"][0]["function"]["name"] == "calculator"
    [executed] = out.tool_calls
    assert executed.result.content == "7006652" and not executed.result.is_error
    [row] = ledger.get_tool_calls(run_id="run1")
    assert (row.tool, row.status, row.task_id, row.source) == ("calculator", "ok", "t1", "builtin")
    assert row.attempt_id == attempts[0].attempt_id and row.call_id == "call_1_0"
    assert json.loads(row.arguments_json) == {"expression": "1234 * 5678"}
    assert out.usage.input_tokens == 20 + 60 and out.cost_usd is not None
    span = last_span("execute_tool calculator")
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == "calculator"
    assert span.attributes["gen_ai.tool.call.id"] == "call_1_0"


async def test_parallel_calls_run_concurrently_and_failures_go_back_to_the_model() -> None:
    started = asyncio.Event()

    async def first(text: str) -> str:
        """Waits until the second tool has started (a sequential loop would time out)."""
        await asyncio.wait_for(started.wait(), 1.0)
        return text.upper()

    async def second(text: str) -> str:
        """Starts, then fails."""
        started.set()
        raise ValueError(f"cannot handle {text}")

    async def stuck(text: str) -> str:
        """Never finishes in time."""
        await asyncio.sleep(30)
        return text

    def script(body: dict[str, Any]) -> list[dict[str, Any]] | str:
        results = tool_messages(body)
        if results:
            return " | ".join(r["content"] for r in results)
        return [{"name": name, "arguments": {"text": "abc"}}
                for name in ("first", "second", "stuck")]

    ledger = Ledger()
    tools = [function_tool(first), function_tool(second), function_tool(stuck)]
    out, model, _ = await loop_with(script, tools, timeout_s=0.3, ledger=ledger)
    assert out.stopped == "answered"
    results = {e.call.name: e.result for e in out.tool_calls}
    assert results["first"].content == "ABC" and not results["first"].is_error
    assert results["second"].is_error and "ValueError: cannot handle abc" in results["second"].content
    assert results["stuck"].is_error and "did not finish within 0.3s" in results["stuck"].content
    sent = [m["content"] for m in tool_messages(model.bodies[1])]
    assert len(sent) == 3 and sent[0] == "ABC" and "ValueError" in sent[1]
    statuses = {r.tool: r.status for r in ledger.get_tool_calls(run_id="run1")}
    assert statuses == {"first": "ok", "second": "error", "stuck": "timeout"}
    failed = last_span("execute_tool stuck")
    assert failed.status.status_code == trace.StatusCode.ERROR


async def test_loop_stops_at_max_turns() -> None:
    def always_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "clock", "arguments": {"timezone": "UTC"}}]

    out, model, attempts = await loop_with(always_calls, builtin_tools(ToolSettings()),
                                           max_turns=3)
    assert out.stopped == "max_turns"
    assert len(model.bodies) == 3 and len(attempts) == 3
    assert len(out.tool_calls) == 2  # the last turn's calls are not run
    assert len(tool_messages(model.bodies[2])) == 2


async def test_secret_arguments_are_redacted_in_the_ledger() -> None:
    async def lookup(query: str, api_key: str) -> str:
        """Looks something up with a key."""
        return f"found {query}"

    def script(body: dict[str, Any]) -> list[dict[str, Any]] | str:
        if tool_messages(body):
            return "done"
        return [{"name": "lookup", "arguments": {"query": f"q with {KEY}", "api_key": "hunter2"}}]

    ledger = Ledger()
    out, _, _ = await loop_with(script, [function_tool(lookup)], ledger=ledger, secrets=(KEY,))
    [row] = ledger.get_tool_calls()
    assert json.loads(row.arguments_json) == {"query": "q with [redacted]",
                                              "api_key": "[redacted]"}
    assert KEY not in row.arguments_json and "hunter2" not in row.arguments_json
    assert out.tool_calls[0].result.content == f"found q with {KEY}"  # the tool itself got it


async def test_tool_tasks_route_only_to_models_with_tools(catalog) -> None:
    async with Gateway(force_sandbox=True) as gateway:
        stack = CallStack(gateway, POLICY, routing_state(POLICY, configured=gateway.available))
        request = ChatRequest.of("", "search the web for the latest news and summarize it")
        for tier in ("economy", "balanced", "premium"):
            route = tools_route(route_request_for(request, tier=tier))
            decision = stack.route(route)
            assert "tools" in route.capabilities
            for model_id in decision.chain():
                assert catalog.model(model_id).supports("tools"), model_id


async def test_every_turn_is_charged_to_the_run_budget_and_stops_when_it_is_spent() -> None:
    class Costly(ScriptedModel):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            response = super().__call__(request)
            payload = json.loads(response.content)
            payload["usage"]["completion_tokens"] = 2_000_000  # ≈ $1.20 at gpt-4o-mini's price
            return httpx.Response(200, json=payload)

    policy = Policy(retry=POLICY.retry, budget=BudgetSettings(per_run_usd=Decimal("1")))
    model = Costly(calculator_then_answer)
    ledger = Ledger()
    async with Gateway(transport=httpx.MockTransport(model), keys={"openai": KEY}) as gateway:
        stack = CallStack(gateway, policy, routing_state(policy, configured=gateway.available))
        request = ChatRequest.of(MODEL, "What is 1234 * 5678?")
        with pytest.raises(BudgetExceeded):
            await run_tool_loop(lambda r, route: stack.call(r, route, fallback=False), request,
                                route_request_for(request, model=MODEL),
                                builtin_tools(ToolSettings()), max_turns=4, timeout_s=2,
                                record=ledger.record_tool_calls)
        assert stack.state.budget is not None
        assert stack.state.budget.spent()["run"] > Decimal("1")  # the first turn was charged
    assert len(model.bodies) == 1  # the second turn was refused before any HTTP
    assert [r.tool for r in ledger.get_tool_calls()] == ["calculator"]
