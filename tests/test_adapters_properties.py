"""Property tests: whatever a provider sends back, the three adapters raise only Orchestra errors.

Bodies, SSE streams, error bodies and headers are drawn by hypothesis — mostly real transcripts
with one value replaced by something hostile (NaN, Infinity, -10**6, a list where a string
goes...), through ``httpx.MockTransport`` so the real adapter code runs, plain and streamed. A call
either fails with a ``ProviderError`` (carrying the HTTP status) or returns a result whose token
counts are non-negative ints and whose cost is None or a finite, non-negative Decimal. The issue's
own findings are pinned as explicit cases first.
"""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalog import default_catalog
from core.errors import MalformedResponse, ProviderError
from core.providers.anthropic_messages import AnthropicMessages
from core.providers.gemini_generate import GeminiGenerate
from core.providers.http_errors import retry_after_seconds
from core.providers.openai_chat import OpenAIChat
from core.providers.sse import SSEDecoder
from core.types import ChatRequest, ChatResult, StreamDone, ToolSpec, UsageEvent
from fixtures.scripted import KEY, assert_no_key, transcript

CALC = ToolSpec(name="calculator", parameters={
    "type": "object", "properties": {"expression": {"type": "string"}}})
CLOCK = ToolSpec(name="clock")
ADAPTERS = {
    "openai": ("openai:gpt-4o-mini", OpenAIChat(), "https://api.openai.com/v1",
               ["openai_completion.json", "openai_tool_calls.json",
                "openai_reasoning_completion.json", "perplexity_completion.json"],
               ["openai_stream_usage.sse", "openai_stream_tool_calls.sse"],
               ["openai_error_rate_limit.json", "openai_error_context_length.json"]),
    "anthropic": ("anthropic:claude-haiku-4-5", AnthropicMessages(), "https://api.anthropic.com",
                  ["anthropic_message.json", "anthropic_parallel_tools.json"],
                  ["anthropic_stream.sse", "anthropic_stream_tools.sse",
                   "anthropic_stream_thinking.sse"],
                  ["anthropic_error_overloaded.json", "anthropic_error_rate_limit.json"]),
    "gemini": ("google:gemini-2.0-flash", GeminiGenerate(),
               "https://generativelanguage.googleapis.com",
               ["gemini_generate.json", "gemini_function_calls.json"],
               ["gemini_stream.sse", "gemini_stream_function_calls.sse"],
               ["gemini_error_rate_limit.json", "gemini_error_key_invalid.json"]),
}
NAMES = list(ADAPTERS)
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

HOSTILE = st.one_of(
    st.sampled_from([None, True, False, 0, -1, -1_000_000, 10**30, 1.5, -0.5, float("nan"),
                     float("inf"), float("-inf"), "", "NaN", [], {}, [[]], {"code": []}]),
    st.integers(), st.floats(), st.text(max_size=12),
)
JSON = st.recursive(HOSTILE, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
HEADER = st.sampled_from(["nan", "NaN", "inf", "-inf", "-3", "1e400", "0", "2", "soon", "",
                          "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"])


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else []
    for key, child in items:
        paths += _paths(child, (*prefix, key))
    return paths


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@st.composite
def mutated(draw, doc: Any) -> Any:
    """``doc`` with one value somewhere (maybe the whole) replaced by a hostile one."""
    return _replace(doc, draw(st.sampled_from(_paths(doc))), draw(JSON))


def _events(name: str) -> list[tuple[str, str]]:
    return [(e.event, e.data) for e in SSEDecoder().feed(transcript(name))]


@st.composite
def stream_text(draw, name: str) -> str:
    """A transcript with one event's JSON mutated (or made garbage) and maybe cut short."""
    events = _events(name)
    index = draw(st.integers(0, len(events) - 1))
    kind, data = events[index]
    if draw(st.booleans()) and data != "[DONE]":
        data = json.dumps(draw(mutated(json.loads(data))))
    else:
        data = draw(st.sampled_from(['{"choices": [', "NaN", "[]", "null", '{"type": 7}', data]))
    events[index] = (kind, data)
    events = events[:draw(st.integers(index, len(events)))]
    return "".join(f"event: {k}\ndata: {d}\n\n" for k, d in events)


def _request(name: str, schema: bool) -> ChatRequest:
    model_id = ADAPTERS[name][0]
    extra: dict[str, Any] = {"json_schema": {"type": "object"}} if schema else {}
    return ChatRequest.of(model_id, "What is 2 + 2?", tools=[CALC, CLOCK], **extra)


def _run(name: str, response: httpx.Response, *, stream: bool, schema: bool = False):
    model_id, adapter, base = ADAPTERS[name][:3]
    model = default_catalog().model(model_id)

    async def go():
        transport = httpx.MockTransport(lambda request: response)
        async with httpx.AsyncClient(base_url=base, headers=adapter.auth_headers(KEY),
                                     transport=transport) as client:
            if not stream:
                return await adapter.complete(client, model, _request(name, schema),
                                              mode="live")
            result = None
            async for event in adapter.stream(client, model, _request(name, schema),
                                              mode="live"):
                if isinstance(event, UsageEvent):
                    _check_usage(event.usage)
                if isinstance(event, StreamDone):
                    result = event.result
            return result

    return asyncio.run(go())


def _check_usage(usage) -> None:
    for value in usage.model_dump().values():
        assert type(value) is int and value >= 0


def _check(name: str, response: httpx.Response, *, stream: bool, schema: bool = False) -> None:
    try:
        result = _run(name, response, stream=stream, schema=schema)
    except ProviderError as exc:
        assert_no_key(exc)
        if exc.retry_after is not None:
            assert exc.retry_after >= 0 and exc.retry_after == exc.retry_after
            assert exc.retry_after != float("inf")
        return
    assert isinstance(result, ChatResult)
    _check_usage(result.usage)
    if result.cost_usd is not None:
        assert isinstance(result.cost_usd, Decimal)
        assert result.cost_usd.is_finite() and result.cost_usd >= 0


def _json_response(doc: Any, status: int = 200, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(doc).encode(),
                          headers={"content-type": "application/json", **(headers or {})})


def _sse_response(text: str) -> httpx.Response:
    return httpx.Response(200, content=text.encode(),
                          headers={"content-type": "text/event-stream"})


# --- the findings of issue 10, pinned --------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
async def test_an_error_code_that_is_a_list_is_a_provider_error(name) -> None:
    with pytest.raises(ProviderError) as caught:
        await asyncio.to_thread(_run, name, _json_response({"error": {"code": [], "type": []}},
                                                           400), stream=False)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(("name", "doc"), [
    ("openai", {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": 7}]}),
    ("anthropic", {"type": "message", "content": [{"type": "text", "text": "hi"}],
                   "stop_reason": ["end_turn"]}),
    ("gemini", {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": 1}]}),
])
def test_a_finish_reason_that_is_not_text_is_malformed(name, doc) -> None:
    with pytest.raises(MalformedResponse) as caught:
        _run(name, _json_response(doc), stream=False)
    assert caught.value.status_code == 200


@pytest.mark.parametrize("tokens", ["Infinity", "NaN", "-1000000", "1e30", "12.5", "true"])
def test_token_counts_must_be_sane_whole_numbers(tokens) -> None:
    body = ('{"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}],'
            f' "usage": {{"prompt_tokens": 3, "completion_tokens": {tokens}}}}}')
    response = httpx.Response(200, content=body.encode())
    with pytest.raises(MalformedResponse):
        _run("openai", response, stream=False)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5", "1e400", "soon"])
def test_retry_after_values_that_are_not_finite_and_non_negative_are_ignored(value) -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": value})) is None
    assert retry_after_seconds(httpx.Headers({"retry-after": value})) is None
    headers = httpx.Headers({"retry-after-ms": value, "retry-after": "2"})
    assert retry_after_seconds(headers) == 2.0


# --- properties ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_any_body_gives_a_sane_result_or_a_provider_error(name, data) -> None:
    doc = json.loads(transcript(data.draw(st.sampled_from(ADAPTERS[name][3]))))
    _check(name, _json_response(data.draw(mutated(doc))), stream=False,
           schema=data.draw(st.booleans()))


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_any_stream_gives_a_sane_result_or_a_provider_error(name, data) -> None:
    text = data.draw(stream_text(data.draw(st.sampled_from(ADAPTERS[name][4]))))
    _check(name, _sse_response(text), stream=True, schema=data.draw(st.booleans()))


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_any_error_body_status_and_headers_give_a_provider_error(name, data) -> None:
    doc = json.loads(transcript(data.draw(st.sampled_from(ADAPTERS[name][5]))))
    status = data.draw(st.sampled_from([200, 301, 400, 401, 404, 408, 418, 429, 500, 503, 529]))
    headers = {key: data.draw(HEADER) for key in
               data.draw(st.sets(st.sampled_from(["retry-after", "retry-after-ms"])))}
    body = data.draw(st.one_of(mutated(doc), st.just(doc)))
    response = _json_response(body, status, headers)
    _check(name, response, stream=data.draw(st.booleans()))
