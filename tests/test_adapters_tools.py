"""Function calling in the three adapters, on scripted wire transcripts.

Each protocol: the conversation (tool calls and results, an error result included) mapped to the
vendor's request shape, tool choice, a plain answer with two parallel calls, a streamed one whose
argument deltas are split mid-token, and the tool failures mapped to Orchestra's errors.
"""

from __future__ import annotations

import json

import httpx
import pytest

from core.errors import MalformedResponse
from core.providers.anthropic_messages import AnthropicMessages
from core.providers.gemini_generate import GeminiGenerate
from core.providers.openai_chat import OpenAIChat
from core.types import (
    ChatRequest,
    Message,
    StreamDone,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    UsageEvent,
)
from fixtures.scripted import Scripted, client_for, json_response, sse_transcript, transcript

CALC = ToolSpec(name="calculator", description="Evaluate an arithmetic expression.",
                parameters={"type": "object", "properties": {"expression": {"type": "string"}},
                            "required": ["expression"]})
CLOCK = ToolSpec(name="clock", description="The current time in a time zone.",
                 parameters={"type": "object", "properties": {"timezone": {"type": "string"}}})
TOOLS = [CALC, CLOCK]
QUESTION = "What is 1234 * 5678, and what time is it in Paris?"
CALLS = [ToolCallPart(id="c1", name="calculator", arguments={"expression": "1234 * 5678"}),
         ToolCallPart(id="c2", name="clock", arguments={"timezone": "Europe/Paris"})]
CONVERSATION = [
    Message(role="user", content=QUESTION),
    Message(role="assistant", parts=[TextPart(text="Checking."), *CALLS]),
    Message(role="tool", parts=[
        ToolResultPart(call_id="c1", name="calculator", content="7006652"),
        ToolResultPart(call_id="c2", name="clock", content="unknown zone", is_error=True)]),
]
EXPECTED = [("calculator", {"expression": "1234 * 5678"}), ("clock", {"timezone": "Europe/Paris"})]

OPENAI = ("openai:gpt-4o-mini", OpenAIChat(), "https://api.openai.com/v1")
ANTHROPIC = ("anthropic:claude-haiku-4-5", AnthropicMessages(), "https://api.anthropic.com")
GEMINI = ("google:gemini-2.0-flash", GeminiGenerate(), "https://generativelanguage.googleapis.com")


def conversation(model: str, **kwargs) -> ChatRequest:
    return ChatRequest(model=model, messages=CONVERSATION, tools=TOOLS, **kwargs)


async def complete(target, handler: Scripted, request: ChatRequest):
    model_id, adapter, base = target
    async with client_for(adapter, handler, base) as client:
        return await adapter.complete(client, _model(model_id), request, mode="live")


async def stream(target, handler: Scripted, request: ChatRequest) -> list:
    model_id, adapter, base = target
    async with client_for(adapter, handler, base) as client:
        return [e async for e in adapter.stream(client, _model(model_id), request, mode="live")]


def _model(model_id: str):
    from core.catalog import default_catalog

    return default_catalog().model(model_id)


def calls_of(result) -> list[tuple[str, dict]]:
    return [(c.name, c.arguments) for c in result.tool_calls]


# --- OpenAI chat -------------------------------------------------------------------------------

async def test_openai_maps_tools_calls_and_results() -> None:
    handler = Scripted(json_response("openai_tool_calls.json"))
    await complete(OPENAI, handler, conversation(OPENAI[0]))
    body = handler.body()
    assert body["tools"] == [
        {"type": "function", "function": {"name": t.name, "description": t.description,
                                          "parameters": t.parameters}} for t in TOOLS]
    assert body["tool_choice"] == "auto"
    assert body["messages"] == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "calculator", "arguments": '{"expression": "1234 * 5678"}'}},
            {"id": "c2", "type": "function",
             "function": {"name": "clock", "arguments": '{"timezone": "Europe/Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "7006652"},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: unknown zone"},
    ]


@pytest.mark.parametrize(("choice", "wire"), [
    ("none", "none"), ("required", "required"),
    ("clock", {"type": "function", "function": {"name": "clock"}}),
])
async def test_openai_tool_choice(choice, wire) -> None:
    handler = Scripted(json_response("openai_tool_calls.json"))
    await complete(OPENAI, handler, conversation(OPENAI[0], tool_choice=choice))
    assert handler.body()["tool_choice"] == wire


async def test_openai_plain_answer_with_two_parallel_calls() -> None:
    result = await complete(OPENAI, Scripted(json_response("openai_tool_calls.json")),
                            ChatRequest.of(OPENAI[0], QUESTION, tools=TOOLS))
    assert calls_of(result) == EXPECTED
    assert [c.id for c in result.tool_calls] == ["call_DdmO9pD3xa9XTPNJ32zg2hcA",
                                                 "call_ABCD9pD3xa9XTPNJ32zg2hcB"]
    assert result.finish_reason == "tool_calls" and result.text == ""
    assert result.usage.output_tokens == 45


async def test_openai_stream_assembles_split_argument_deltas() -> None:
    events = await stream(OPENAI, Scripted(sse_transcript("openai_stream_tool_calls.sse", size=5)),
                          ChatRequest.of(OPENAI[0], QUESTION, tools=TOOLS))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(deltas) == 10
    assert "".join(d.arguments for d in deltas if d.index == 0) == '{"expression":"1234 * 5678"}'
    assert [d.name for d in deltas if d.name] == ["calculator", "clock"]
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert [u.usage.output_tokens for u in usage] == [45]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert calls_of(done.result) == EXPECTED and done.result.finish_reason == "tool_calls"


# --- Anthropic Messages ------------------------------------------------------------------------

async def test_anthropic_maps_tools_calls_and_results() -> None:
    handler = Scripted(json_response("anthropic_parallel_tools.json"))
    await complete(ANTHROPIC, handler, conversation(ANTHROPIC[0]))
    body = handler.body()
    assert body["tools"] == [{"name": t.name, "description": t.description,
                              "input_schema": t.parameters} for t in TOOLS]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["messages"] == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "c1", "name": "calculator",
             "input": {"expression": "1234 * 5678"}},
            {"type": "tool_use", "id": "c2", "name": "clock",
             "input": {"timezone": "Europe/Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "7006652"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "unknown zone",
             "is_error": True}]},
    ]


async def test_anthropic_merges_a_user_turn_after_tool_results() -> None:
    messages = [*CONVERSATION, Message(role="user", content="Keep it short.")]
    handler = Scripted(json_response("anthropic_parallel_tools.json"))
    request = ChatRequest(model=ANTHROPIC[0], messages=messages, tools=TOOLS)
    await complete(ANTHROPIC, handler, request)
    last = handler.body()["messages"][-1]
    assert last["role"] == "user" and len(handler.body()["messages"]) == 3
    assert [b["type"] for b in last["content"]] == ["tool_result", "tool_result", "text"]


@pytest.mark.parametrize(("choice", "wire"), [
    ("none", {"type": "none"}), ("required", {"type": "any"}),
    ("clock", {"type": "tool", "name": "clock"}),
])
async def test_anthropic_tool_choice(choice, wire) -> None:
    handler = Scripted(json_response("anthropic_parallel_tools.json"))
    await complete(ANTHROPIC, handler, conversation(ANTHROPIC[0], tool_choice=choice))
    assert handler.body()["tool_choice"] == wire


async def test_anthropic_plain_answer_with_text_and_two_calls() -> None:
    result = await complete(ANTHROPIC, Scripted(json_response("anthropic_parallel_tools.json")),
                            ChatRequest.of(ANTHROPIC[0], QUESTION, tools=TOOLS))
    assert result.text == "I'll work that out and check the time."
    assert calls_of(result) == EXPECTED
    assert [c.id for c in result.tool_calls] == ["toolu_01Calc", "toolu_01Clock"]
    assert result.finish_reason == "tool_use"


async def test_anthropic_stream_assembles_split_input_json() -> None:
    events = await stream(ANTHROPIC, Scripted(sse_transcript("anthropic_stream_tools.sse", size=3)),
                          ChatRequest.of(ANTHROPIC[0], QUESTION, tools=TOOLS))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["I'll work that out", " and check the time."]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.id, d.name) for d in deltas if d.name] == [
        (0, "toolu_01Calc", "calculator"), (1, "toolu_01Clock", "clock")]
    assert "".join(d.arguments for d in deltas if d.index == 1) == '{"timezone": "Europe/Paris"}'
    assert [e.usage.output_tokens for e in events if isinstance(e, UsageEvent)] == [1, 96]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert calls_of(done.result) == EXPECTED and done.result.text == "".join(texts)


async def test_anthropic_schema_tool_beside_user_tools_is_the_answer_not_a_call() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"},
                                               "celsius": {"type": "number"}}}
    request = ChatRequest.of(ANTHROPIC[0], "Weather?", tools=TOOLS, json_schema=schema,
                             schema_name="weather")
    handler = Scripted(json_response("anthropic_tool_message.json"))
    result = await complete(ANTHROPIC, handler, request)
    assert json.loads(result.text) == {"city": "Paris", "celsius": 21}
    assert result.tool_calls == []
    assert handler.body()["tool_choice"] == {"type": "tool", "name": "weather"}
    assert [t["name"] for t in handler.body()["tools"]] == ["calculator", "clock", "weather"]


# --- Gemini generateContent --------------------------------------------------------------------

async def test_gemini_maps_tools_calls_and_results() -> None:
    handler = Scripted(json_response("gemini_function_calls.json"))
    await complete(GEMINI, handler, conversation(GEMINI[0]))
    body = handler.body()
    assert body["tools"] == [{"functionDeclarations": [
        {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}
        for t in TOOLS]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": QUESTION}]},
        {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "calculator", "args": {"expression": "1234 * 5678"}}},
            {"functionCall": {"name": "clock", "args": {"timezone": "Europe/Paris"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "calculator", "response": {"output": "7006652"}}},
            {"functionResponse": {"name": "clock", "response": {"error": "unknown zone"}}}]},
    ]


@pytest.mark.parametrize(("choice", "wire"), [
    ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
    ("clock", {"mode": "ANY", "allowedFunctionNames": ["clock"]}),
])
async def test_gemini_tool_config(choice, wire) -> None:
    handler = Scripted(json_response("gemini_function_calls.json"))
    await complete(GEMINI, handler, conversation(GEMINI[0], tool_choice=choice))
    assert handler.body()["toolConfig"] == {"functionCallingConfig": wire}


async def test_gemini_plain_answer_with_two_parallel_calls() -> None:
    result = await complete(GEMINI, Scripted(json_response("gemini_function_calls.json")),
                            ChatRequest.of(GEMINI[0], QUESTION, tools=TOOLS))
    assert calls_of(result) == EXPECTED
    assert [c.id for c in result.tool_calls] == ["call_0", "call_1"]


async def test_gemini_stream_yields_whole_calls_and_usage() -> None:
    events = await stream(GEMINI, Scripted(sse_transcript("gemini_stream_function_calls.sse")),
                          ChatRequest.of(GEMINI[0], QUESTION, tools=TOOLS))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.id, d.name) for d in deltas] == [(0, "fc-01", "calculator"),
                                                         (1, "fc-02", "clock")]
    assert [e.usage.output_tokens for e in events if isinstance(e, UsageEvent)] == [5, 24]
    done = events[-1]
    assert isinstance(done, StreamDone) and calls_of(done.result) == EXPECTED
    assert done.result.text == "Let me compute that."


# --- tool failures, each adapter's one mapping place -------------------------------------------

def _openai_call(name: str, arguments: str) -> httpx.Response:
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}
    return httpx.Response(200, json={"choices": [{"index": 0, "message": message,
                                                  "finish_reason": "tool_calls"}]})


def _anthropic_call(name: str, arguments) -> httpx.Response:
    return httpx.Response(200, json={"type": "message", "stop_reason": "tool_use", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}],
        "usage": {"input_tokens": 3, "output_tokens": 4}})


def _gemini_call(name: str, arguments) -> httpx.Response:
    return httpx.Response(200, json={"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": name, "args": arguments}}]}, "finishReason": "STOP"}]})


@pytest.mark.parametrize(("target", "reply"), [
    (OPENAI, _openai_call("weather", "{}")),
    (ANTHROPIC, _anthropic_call("weather", {})),
    (GEMINI, _gemini_call("weather", {})),
])
async def test_a_call_to_a_tool_not_offered_is_malformed(target, reply) -> None:
    with pytest.raises(MalformedResponse, match="did not offer") as caught:
        await complete(target, Scripted(reply), ChatRequest.of(target[0], QUESTION, tools=TOOLS))
    assert caught.value.retryable and caught.value.status_code == 200


@pytest.mark.parametrize(("target", "reply"), [
    (OPENAI, _openai_call("calculator", '{"expression": "1+')),
    (OPENAI, _openai_call("calculator", "[1, 2]")),
    (ANTHROPIC, _anthropic_call("calculator", ["1+1"])),
    (GEMINI, _gemini_call("calculator", "1+1")),
])
async def test_arguments_that_are_not_a_json_object_are_malformed(target, reply) -> None:
    with pytest.raises(MalformedResponse, match="calculator"):
        await complete(target, Scripted(reply), ChatRequest.of(target[0], QUESTION, tools=TOOLS))


async def test_streamed_arguments_that_never_close_are_malformed() -> None:
    broken = transcript("openai_stream_tool_calls.sse").replace('Paris\\"}"', 'Paris\\""')
    assert broken != transcript("openai_stream_tool_calls.sse")  # the clock call's JSON is open
    reply = httpx.Response(200, headers={"content-type": "text/event-stream"},
                           content=broken.encode())
    with pytest.raises(MalformedResponse, match="clock"):
        await stream(OPENAI, Scripted(reply), ChatRequest.of(OPENAI[0], QUESTION, tools=TOOLS))


async def test_groq_tool_use_failed_is_a_retryable_malformed_response() -> None:
    reply = httpx.Response(400, json={"error": {
        "message": "Failed to call a function. Please adjust your prompt.",
        "type": "invalid_request_error", "code": "tool_use_failed",
        "failed_generation": "<function=calculator>{\"expression\": 1+}"}})
    target = ("groq:llama-3.3-70b-versatile", OpenAIChat(), "https://api.groq.com/openai/v1")
    with pytest.raises(MalformedResponse) as caught:
        await complete(target, Scripted(reply), ChatRequest.of(target[0], QUESTION, tools=TOOLS))
    assert caught.value.status_code == 400 and caught.value.retryable


@pytest.mark.parametrize("reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"])
async def test_gemini_tool_failure_finish_reasons_are_malformed(reason) -> None:
    reply = httpx.Response(200, json={"candidates": [
        {"content": {"role": "model", "parts": []}, "finishReason": reason}]})
    with pytest.raises(MalformedResponse, match=reason):
        await complete(GEMINI, Scripted(reply), ChatRequest.of(GEMINI[0], QUESTION, tools=TOOLS))
