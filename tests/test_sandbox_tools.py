"""The sandbox plays along with function calling, driven through the real adapters in process.

Per protocol, plain and streamed: an arithmetic ask calls the calculator with schema-valid
arguments, the follow-up turn answers from the result; two asks give two parallel calls; an
error result is acknowledged; tool choice none / required / named is honoured; answers repeat.
"""

from __future__ import annotations

import jsonschema
import pytest

from core.catalog import default_catalog
from core.errors import BadRequest
from core.providers.anthropic_messages import AnthropicMessages
from core.providers.gemini_generate import GeminiGenerate
from core.providers.openai_chat import OpenAIChat
from core.sandbox.config import SandboxConfig
from core.types import (
    ChatRequest,
    ChatResult,
    Message,
    StreamDone,
    ToolCallDelta,
    ToolResultPart,
    ToolSpec,
)
from sandbox_server import sandbox_client

CALC = ToolSpec(name="calculator", description="Evaluate an arithmetic expression safely.",
                parameters={"type": "object", "properties": {"expression": {"type": "string"}},
                            "required": ["expression"], "additionalProperties": False})
CLOCK = ToolSpec(name="clock", description="The current time in a time zone.",
                 parameters={"type": "object", "properties": {
                     "timezone": {"type": "string", "description": "IANA name"}},
                     "required": ["timezone"]})
NOTE = ToolSpec(name="save_note", description="Store a note.",
                parameters={"type": "object", "properties": {
                    "title": {"type": "string", "minLength": 3},
                    "priority": {"type": "integer", "minimum": 1, "maximum": 5}},
                    "required": ["title", "priority"]})
TOOLS = [CALC, CLOCK]
SPECS = {t.name: t for t in (CALC, CLOCK, NOTE)}

TARGETS = [
    ("openai:gpt-4o-mini", OpenAIChat(), "https://api.openai.com/v1"),
    ("anthropic:claude-haiku-4-5", AnthropicMessages(), "https://api.anthropic.com"),
    ("google:gemini-2.0-flash", GeminiGenerate(), "https://generativelanguage.googleapis.com"),
]
IDS = ["openai", "anthropic", "gemini"]


async def call(target, request: ChatRequest, stream: bool, config: SandboxConfig | None = None,
               deltas: list | None = None) -> ChatResult:
    model_id, adapter, base = target
    model = default_catalog().model(model_id)
    async with sandbox_client(base, config) as client:
        if not stream:
            return await adapter.complete(client, model, request, mode="sandbox")
        async for event in adapter.stream(client, model, request, mode="sandbox"):
            if isinstance(event, ToolCallDelta) and deltas is not None:
                deltas.append(event)
            if isinstance(event, StreamDone):
                return event.result
    raise AssertionError("no StreamDone")


def assert_valid(result: ChatResult) -> None:
    for tool_call in result.tool_calls:
        jsonschema.validate(tool_call.arguments, SPECS[tool_call.name].parameters)


def follow_up(request: ChatRequest, result: ChatResult, *outcomes: tuple[str, bool]) -> ChatRequest:
    results = [ToolResultPart(call_id=c.id, name=c.name, content=text, is_error=error)
               for c, (text, error) in zip(result.tool_calls, outcomes, strict=True)]
    messages = [*request.messages, Message(role="assistant", parts=result.tool_calls),
                Message(role="tool", parts=results)]
    return request.model_copy(update={"messages": messages})


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_arithmetic_calls_the_calculator_then_answers_from_the_result(target, stream):
    request = ChatRequest.of(target[0], "What is 1234 * 5678?", tools=TOOLS)
    first = await call(target, request, stream)
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("calculator", {"expression": "1234 * 5678"})]
    assert_valid(first)
    assert first.usage.output_tokens > 0 and first.usage.input_tokens > 0
    final = await call(target, follow_up(request, first, ("7006652", False)), stream)
    assert final.tool_calls == [] and "7006652" in final.text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_two_asks_give_two_parallel_calls_and_an_error_result_is_acknowledged(target, stream):
    prompt = "What is (2 + 3) * 4, and what time is it in Asia/Tokyo?"
    request = ChatRequest.of(target[0], prompt, tools=TOOLS)
    first = await call(target, request, stream)
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("calculator", {"expression": "(2 + 3) * 4"}), ("clock", {"timezone": "Asia/Tokyo"})]
    assert len({c.id for c in first.tool_calls}) == 2
    final = await call(target, follow_up(request, first, ("20", False),
                                         ("clock service unreachable", True)), stream)
    assert "20" in final.text and "clock service unreachable" in final.text
    assert "failed" in final.text or target[0].startswith("openai")


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_tool_choice_none_required_and_named(target):
    ask = "What is 7 * 6?"
    plain = await call(target, ChatRequest.of(target[0], ask, tools=TOOLS, tool_choice="none"),
                       False)
    assert plain.tool_calls == [] and "sandbox" in plain.text
    forced = await call(target, ChatRequest.of(target[0], "Remember the milk.", tools=[NOTE],
                                               tool_choice="required"), False)
    assert [c.name for c in forced.tool_calls] == ["save_note"]
    assert_valid(forced)
    named = await call(target, ChatRequest.of(target[0], ask, tools=TOOLS, tool_choice="calculator"),
                       True)
    assert [(c.name, c.arguments) for c in named.tool_calls] == [
        ("calculator", {"expression": "7 * 6"})]


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_a_prompt_that_asks_nothing_of_the_tools_gets_text(target):
    result = await call(target, ChatRequest.of(target[0], "Write a haiku about rivers.",
                                               tools=TOOLS), False)
    assert result.tool_calls == [] and result.text


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_the_same_request_and_seed_give_the_same_calls(target):
    request = ChatRequest.of(target[0], "Remember this.", tools=[NOTE], tool_choice="required")
    config = SandboxConfig(latency_scale=0, seed=11)
    one = await call(target, request, False, config)
    two = await call(target, request, False, config)
    assert one.tool_calls == two.tool_calls
    other = await call(target, request, False, SandboxConfig(latency_scale=0, seed=12))
    assert_valid(other)


@pytest.mark.parametrize("target", TARGETS[:2], ids=IDS[:2])
async def test_streamed_arguments_arrive_in_several_pieces(target):
    deltas: list[ToolCallDelta] = []
    prompt = "What is 1234 * 5678 + 91011 / 12?"
    result = await call(target, ChatRequest.of(target[0], prompt, tools=TOOLS), True,
                        deltas=deltas)
    pieces = [d.arguments for d in deltas if d.arguments]
    assert len(pieces) >= 3
    assert result.tool_calls[0].arguments == {"expression": "1234 * 5678 + 91011 / 12"}


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_a_bad_tool_schema_is_refused_like_the_vendor(target):
    bad = ToolSpec(name="broken", parameters={"type": "object", "properties": {"x": {"type": 7}}})
    with pytest.raises(BadRequest):
        await call(target, ChatRequest.of(target[0], "Hi", tools=[bad]), False)
