"""The Anthropic Messages adapter against scripted wire transcripts."""

from __future__ import annotations

import json

import httpx
import pytest

from core.catalog import ModelSpec
from core.errors import (
    AuthFailed,
    BadRequest,
    ConnectionFailed,
    ContentFiltered,
    MalformedResponse,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from core.pricing import cost_of
from core.providers.anthropic_messages import AnthropicMessages
from core.types import ChatRequest, Message, TextDelta, Usage
from fixtures.scripted import (
    KEY,
    Scripted,
    assert_no_key,
    client_for,
    collect,
    json_response,
    sse_response,
    sse_transcript,
    transcript,
)

BASE = "https://api.anthropic.com"
MODEL_ID = "anthropic:claude-sonnet-4-5"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
}
adapter = AnthropicMessages()


async def complete(handler: Scripted, model: ModelSpec, request: ChatRequest):
    async with client_for(adapter, handler, BASE) as client:
        return await adapter.complete(client, model, request, mode="live")


async def stream(handler: Scripted, model: ModelSpec, request: ChatRequest):
    async with client_for(adapter, handler, BASE) as client:
        return await collect(adapter.stream(client, model, request, mode="live"))


def ask(model: ModelSpec, prompt: str = "Hello", **kwargs) -> ChatRequest:
    return ChatRequest.of(model.id, prompt, **kwargs)


def test_auth_headers() -> None:
    assert adapter.auth_headers("k-123") == {
        "x-api-key": "k-123", "anthropic-version": "2023-06-01"}
    assert adapter.auth_headers(None) == {"anthropic-version": "2023-06-01"}


async def test_complete_maps_request_and_result(catalog) -> None:
    model = catalog.model(MODEL_ID)
    handler = Scripted(json_response("anthropic_message.json"))
    request = ChatRequest(
        model=model.id, system="Be brief.", max_tokens=777, temperature=0.5,
        messages=[Message(role="system", content="Answer in English."),
                  Message(role="user", content="Hi")],
    )
    result = await complete(handler, model, request)

    sent = handler.request
    assert sent.url.path == "/v1/messages" and sent.url.host == "api.anthropic.com"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = handler.body()
    assert body == {
        "model": "claude-sonnet-4-5", "max_tokens": 777, "temperature": 0.5,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    assert result.text == "Hi! My name is Claude."  # the thinking block is not the answer
    assert result.usage == Usage(input_tokens=50 + 1000 + 2051, output_tokens=503,
                                 cached_input_tokens=1000, cache_write_tokens=2051)
    assert result.cost_usd is not None and result.cost_usd == cost_of(model, result.usage)
    assert (result.model, result.provider) == (MODEL_ID, "anthropic")
    assert result.finish_reason == "end_turn"
    assert result.ttft_ms == result.latency_ms


async def test_structured_output_is_a_forced_tool(catalog) -> None:
    model = catalog.model("anthropic:claude-haiku-4-5")
    handler = Scripted(json_response("anthropic_tool_message.json"))
    result = await complete(handler, model, ask(model, json_schema=SCHEMA, schema_name="weather"))
    body = handler.body()
    assert body["tools"][0]["name"] == "weather"
    assert body["tools"][0]["input_schema"] == SCHEMA and body["tools"][0]["description"]
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}
    assert json.loads(result.text) == {"city": "Paris", "celsius": 21}
    assert result.text == json.dumps({"city": "Paris", "celsius": 21})


async def test_structured_output_without_tool_use_is_malformed(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(MalformedResponse, match="tool_use"):
        await complete(Scripted(json_response("anthropic_message.json")), model,
                       ask(model, json_schema=SCHEMA))


async def test_stream_with_pings_and_cache_usage(catalog) -> None:
    model = catalog.model(MODEL_ID)
    handler = Scripted(sse_transcript("anthropic_stream.sse"))
    texts, result = await stream(handler, model, ask(model))
    assert handler.body()["stream"] is True
    assert texts == ["Hello", "!"]
    assert result.text == "Hello!"
    assert result.usage == Usage(input_tokens=25 + 2000 + 100, output_tokens=15,
                                 cached_input_tokens=2000, cache_write_tokens=100)
    assert result.cost_usd == cost_of(model, result.usage)
    assert result.finish_reason == "end_turn"
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms


async def test_stream_skips_thinking_and_takes_cumulative_usage(catalog) -> None:
    model = catalog.model(MODEL_ID)
    texts, result = await stream(Scripted(sse_transcript("anthropic_stream_thinking.sse")),
                                 model, ask(model))
    assert texts == ["12231"]
    assert result.usage == Usage(input_tokens=12, output_tokens=200)


async def test_stream_structured_output_concatenates_partial_json(catalog) -> None:
    model = catalog.model("anthropic:claude-haiku-4-5")
    handler = Scripted(sse_transcript("anthropic_stream_tool.sse", size=5))
    request = ask(model, json_schema=SCHEMA, schema_name="weather")
    texts, result = await stream(handler, model, request)
    assert "".join(texts) == result.text
    assert json.loads(result.text) == {"city": "Paris", "celsius": 21}
    assert result.usage == Usage(input_tokens=472, output_tokens=89)
    assert result.finish_reason == "tool_use"


async def test_stream_structured_output_must_be_json(catalog) -> None:
    model = catalog.model("anthropic:claude-haiku-4-5")
    broken = transcript("anthropic_stream_tool.sse").replace('21}"}}', '21"}}')
    with pytest.raises(MalformedResponse, match="not JSON"):
        await stream(Scripted(sse_response(broken)), model, ask(model, json_schema=SCHEMA,
                                                                 schema_name="weather"))


async def test_error_event_mid_stream(catalog) -> None:
    model = catalog.model(MODEL_ID)
    seen: list[str] = []
    with pytest.raises(Overloaded) as caught:
        async with client_for(adapter, Scripted(sse_transcript("anthropic_stream_error.sse")),
                              BASE) as client:
            async for event in adapter.stream(client, model, ask(model), mode="live"):
                if isinstance(event, TextDelta):
                    seen.append(event.text)
    assert seen == ["Hel"]
    assert caught.value.retryable and caught.value.status_code is None
    assert "overloaded_error" in caught.value.body


async def test_stream_cut_before_message_stop(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ConnectionFailed, match="stream cut"):
        await stream(Scripted(sse_transcript("anthropic_stream_cut.sse")), model, ask(model))


async def test_stream_dropped_connection(catalog) -> None:
    model = catalog.model(MODEL_ID)
    reply = sse_transcript("anthropic_stream_cut.sse", fail_with=httpx.ReadError("reset"))
    with pytest.raises(ConnectionFailed, match="ReadError"):
        await stream(Scripted(reply), model, ask(model))


async def test_malformed_stream_event(catalog) -> None:
    model = catalog.model(MODEL_ID)
    bad = "event: message_start\ndata: {\"type\": \"message_start\"}\n\n"  # no message object
    with pytest.raises(MalformedResponse, match="shape"):
        await stream(Scripted(sse_response(bad)), model, ask(model))


@pytest.mark.parametrize("reply", [
    httpx.Response(200, text="not json at all"),
    httpx.Response(200, json={"type": "message", "content": "a string"}),
    httpx.Response(200, json=["a", "list"]),
])
async def test_malformed_bodies(catalog, reply: httpx.Response) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(MalformedResponse):
        await complete(Scripted(reply), model, ask(model))


async def test_refusal_is_content_filtered(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ContentFiltered, match="refusal"):
        await complete(Scripted(json_response("anthropic_refusal.json")), model, ask(model))
    refusing = transcript("anthropic_stream.sse").replace('"end_turn"', '"refusal"')
    with pytest.raises(ContentFiltered):
        await stream(Scripted(sse_response(refusing)), model, ask(model))


@pytest.mark.parametrize(("status", "name", "headers", "kind", "retry_after"), [
    (529, "anthropic_error_overloaded.json", {}, Overloaded, None),
    (429, "anthropic_error_rate_limit.json", {"retry-after": "17"}, RateLimited, 17.0),
    (400, "anthropic_error_prompt_too_long.json", {}, BadRequest, None),
    (401, "anthropic_error_auth.json", {}, AuthFailed, None),
    (500, "anthropic_error_overloaded.json", {}, Overloaded, None),  # the body type wins
])
async def test_error_bodies(catalog, status: int, name: str, headers: dict, kind: type,
                            retry_after: float | None) -> None:
    model = catalog.model(MODEL_ID)
    for call in (complete, stream):
        with pytest.raises(ProviderError) as caught:
            await call(Scripted(json_response(name, status, headers)), model, ask(model))
        error = caught.value
        assert type(error) is kind and error.status_code == status
        assert error.retry_after == retry_after
        assert (error.provider, error.model) == ("anthropic", MODEL_ID)
        assert error.body.startswith('{"type": "error"')


@pytest.mark.parametrize(("status", "kind"), [
    (529, Overloaded), (503, Overloaded), (500, ServerError), (403, AuthFailed), (413, BadRequest),
])
async def test_status_without_a_known_body(catalog, status: int, kind: type) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(kind):
        reply = httpx.Response(status, text="<html>oops</html>")
        await complete(Scripted(reply), model, ask(model))


async def test_timeout(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ProviderTimeout):
        await stream(Scripted(httpx.ReadTimeout("slow")), model, ask(model))


async def test_key_never_appears_in_errors(catalog) -> None:
    model = catalog.model(MODEL_ID)
    echo = {"type": "error", "error": {"type": "authentication_error",
                                        "message": f"invalid x-api-key {KEY}"}}
    for call in (complete, stream):
        with pytest.raises(AuthFailed) as caught:
            await call(Scripted(httpx.Response(401, json=echo)), model, ask(model))
        assert_no_key(caught.value)
