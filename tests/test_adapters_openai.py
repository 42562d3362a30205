"""The OpenAI Chat Completions adapter on scripted transcripts (OpenAI, Groq, xAI, Perplexity)."""

from __future__ import annotations

import json
from email.utils import format_datetime
from datetime import datetime, timezone

import httpx
import pytest

from core.catalog import ModelSpec
from core.errors import (
    AuthFailed,
    BadRequest,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    MalformedResponse,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from core.pricing import cost_of
from core.providers.http_errors import retry_after_seconds
from core.providers.openai_chat import OpenAIChat
from core.types import ChatRequest, Message, Usage
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

OPENAI = "https://api.openai.com/v1"
adapter = OpenAIChat()


async def complete(handler: Scripted, model: ModelSpec, request: ChatRequest, base: str = OPENAI):
    async with client_for(adapter, handler, base) as client:
        return await adapter.complete(client, model, request, mode="live")


async def stream(handler: Scripted, model: ModelSpec, request: ChatRequest, base: str = OPENAI):
    async with client_for(adapter, handler, base) as client:
        return await collect(adapter.stream(client, model, request, mode="live"))


def ask(model: ModelSpec, prompt: str = "Hello", **kwargs) -> ChatRequest:
    return ChatRequest.of(model.id, prompt, **kwargs)


async def test_complete_maps_request_and_result(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    handler = Scripted(json_response("openai_completion.json"))
    request = ChatRequest(
        model=model.id, system="Be brief.", max_tokens=300, temperature=0.2,
        messages=[Message(role="user", content="Hi"), Message(role="assistant", content="Yo"),
                  Message(role="user", content="Again")],
    )
    result = await complete(handler, model, request)

    sent = handler.request
    assert sent.method == "POST" and sent.url.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = handler.body()
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "Again"},
    ]
    assert body["max_tokens"] == 300 and body["temperature"] == 0.2
    assert not {"stream", "response_format", "max_completion_tokens"} & body.keys()

    assert result.text == "Hello! How can I assist you today?"
    assert result.usage == Usage(input_tokens=2006, output_tokens=300, cached_input_tokens=1920)
    assert result.cost_usd is not None and result.cost_usd == cost_of(model, result.usage)
    assert (result.model, result.provider, result.mode) == ("openai:gpt-4o-mini", "openai", "live")
    assert result.finish_reason == "stop"
    assert result.ttft_ms == result.latency_ms and result.latency_ms > 0


async def test_reasoning_model_uses_max_completion_tokens(catalog) -> None:
    model = catalog.model("openai:o3")
    handler = Scripted(json_response("openai_reasoning_completion.json"))
    result = await complete(handler, model, ask(model, max_tokens=5000))
    body = handler.body()
    assert body["max_completion_tokens"] == 5000 and "max_tokens" not in body
    assert "temperature" not in body
    assert result.usage.reasoning_tokens == 1024 and result.usage.output_tokens == 1186


@pytest.mark.parametrize(("model_id", "base", "path"), [
    ("groq:llama-3.3-70b-versatile", "https://api.groq.com/openai/v1",
     "/openai/v1/chat/completions"),
    ("perplexity:sonar", "https://api.perplexity.ai", "/chat/completions"),
    ("deepseek:deepseek-chat", "https://api.deepseek.com/v1", "/v1/chat/completions"),
])
async def test_base_url_joining(catalog, model_id: str, base: str, path: str) -> None:
    model = catalog.model(model_id)
    handler = Scripted(json_response("openai_completion.json"))
    await complete(handler, model, ask(model), base=base)
    assert handler.request.url.path == path
    assert handler.request.url.host == httpx.URL(base).host


async def test_json_schema_uses_strict_response_format(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    handler = Scripted(json_response("openai_completion.json"))
    await complete(handler, model, ask(model, json_schema=schema, schema_name="weather"))
    assert handler.body()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": schema, "strict": True},
    }


async def test_xai_live_search_parameters(catalog) -> None:
    model = catalog.model("xai:grok-4")
    handler = Scripted(*[json_response("openai_completion.json")] * 2)
    await complete(handler, model, ask(model, live_search=True,
                                      search_options={"sources": [{"type": "x"}]}),
                   base="https://api.x.ai/v1")
    assert handler.body()["search_parameters"] == {"mode": "auto", "sources": [{"type": "x"}]}
    await complete(handler, model, ask(model), base="https://api.x.ai/v1")
    assert "search_parameters" not in handler.body()


async def test_live_search_needs_the_capability(catalog) -> None:
    model = catalog.model("openai:gpt-4o")
    handler = Scripted(json_response("openai_completion.json"))
    await complete(handler, model, ask(model, live_search=True, search_options={"mode": "on"}))
    assert "search_parameters" not in handler.body() and "mode" not in handler.body()


async def test_perplexity_options_and_citations(catalog) -> None:
    model = catalog.model("perplexity:sonar")
    handler = Scripted(json_response("perplexity_completion.json"))
    options = {"search_recency_filter": "week", "model": "must-not-override"}
    result = await complete(handler, model, ask(model, live_search=True, search_options=options),
                            base="https://api.perplexity.ai")
    body = handler.body()
    assert body["search_recency_filter"] == "week" and body["model"] == "sonar"
    assert result.citations == [
        "https://www.toureiffel.paris/en",
        "https://en.wikipedia.org/wiki/Eiffel_Tower",
        "https://www.britannica.com/topic/Eiffel-Tower-Paris-France",
    ]


async def test_stream_with_usage_in_last_chunk(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    handler = Scripted(sse_transcript("openai_stream_usage.sse"))
    texts, result = await stream(handler, model, ask(model, system="Be kind."))
    body = handler.body()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be kind."}
    assert handler.request.headers["accept"] == "text/event-stream"
    assert texts == ["Hello", ", wörld ✓"]
    assert result.text == "Hello, wörld ✓"
    assert result.usage == Usage(input_tokens=1200, output_tokens=4, cached_input_tokens=1024)
    assert result.cost_usd == cost_of(model, result.usage)
    assert result.finish_reason == "stop"
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms


async def test_stream_in_crlf_framing(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    crlf = transcript("openai_stream_usage.sse").replace("\n", "\r\n")
    texts, result = await stream(Scripted(sse_response(crlf, size=3)), model, ask(model))
    assert result.text == "Hello, wörld ✓" and result.usage.input_tokens == 1200


async def test_stream_cut_is_connection_failed(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    with pytest.raises(ConnectionFailed, match="stream cut") as caught:
        await stream(Scripted(sse_transcript("openai_stream_cut.sse")), model, ask(model))
    assert caught.value.retryable and caught.value.model == model.id


async def test_stream_read_error_midway_is_connection_failed(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    reply = sse_transcript("openai_stream_cut.sse",
                         fail_with=httpx.RemoteProtocolError("peer closed connection"))
    with pytest.raises(ConnectionFailed, match="RemoteProtocolError"):
        await stream(Scripted(reply), model, ask(model))


async def test_error_object_inside_stream(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    with pytest.raises(ServerError) as caught:
        await stream(Scripted(sse_transcript("openai_stream_error.sse")), model, ask(model))
    assert caught.value.status_code is None and "server_error" in str(caught.value)


async def test_malformed_stream_event(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    with pytest.raises(MalformedResponse, match="not JSON"):
        await stream(Scripted(sse_response("data: {not json\n\n")), model, ask(model))


@pytest.mark.parametrize("reply", [
    httpx.Response(200, text="<html>gateway</html>"),
    httpx.Response(200, json={"choices": []}),
    httpx.Response(200, json={"choices": [{"message": "text, not an object"}]}),
    httpx.Response(200, json={"choices": [{"message": {"content": "x"}}],
                              "usage": {"prompt_tokens": "many"}}),
])
async def test_malformed_bodies(catalog, reply: httpx.Response) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    with pytest.raises(MalformedResponse) as caught:
        await complete(Scripted(reply), model, ask(model))
    assert caught.value.status_code == 200 and caught.value.body


def _error(status: int, name: str | None = None, headers: dict[str, str] | None = None,
           body: dict | None = None) -> httpx.Response:
    if name:
        return json_response(name, status, headers)
    return httpx.Response(status, json=body or {"error": {"message": "x", "type": "y"}},
                          headers=headers)


@pytest.mark.parametrize(("reply", "kind", "retry_after"), [
    (_error(429, "openai_error_rate_limit.json", {"retry-after-ms": "249"}), RateLimited, 0.249),
    (_error(429, "openai_error_rate_limit.json", {"retry-after": "3"}), RateLimited, 3.0),
    (_error(429, "openai_error_rate_limit.json",
            {"retry-after-ms": "1500", "retry-after": "2"}), RateLimited, 1.5),
    (_error(429, "openai_error_quota.json"), AuthFailed, None),
    (_error(400, "openai_error_context_length.json"), ContextLengthExceeded, None),
    (_error(400, body={"error": {"message": "bad", "type": "invalid_request_error",
                                 "code": "content_policy_violation"}}), ContentFiltered, None),
    (_error(400), BadRequest, None),
    (_error(404), BadRequest, None),
    (_error(422), BadRequest, None),
    (_error(401), AuthFailed, None),
    (_error(403), AuthFailed, None),
    (_error(500), ServerError, None),
    (_error(502), ServerError, None),
    (_error(503), Overloaded, None),
    (httpx.Response(500, text="upstream exploded"), ServerError, None),
])
async def test_status_mapping(catalog, reply: httpx.Response, kind: type, retry_after) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    with pytest.raises(ProviderError) as caught:
        await complete(Scripted(reply), model, ask(model))
    error = caught.value
    assert type(error) is kind
    assert error.status_code == reply.status_code
    assert error.retry_after == (pytest.approx(retry_after) if retry_after else None)
    assert (error.provider, error.model) == ("openai", "openai:gpt-4o-mini")
    assert error.body


async def test_status_mapping_when_streaming(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    reply = _error(400, "openai_error_context_length.json")
    with pytest.raises(ContextLengthExceeded) as caught:
        await stream(Scripted(reply), model, ask(model))
    assert "context_length_exceeded" in caught.value.body


def test_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2025, 1, 1, 12, 0, 30, tzinfo=timezone.utc), usegmt=True)
    assert retry_after_seconds(httpx.Headers({"retry-after": later}), now=now.timestamp()) == 30
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


async def test_content_filter_finish_reason(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    with pytest.raises(ContentFiltered) as caught:
        await complete(Scripted(json_response("openai_content_filter.json")), model, ask(model))
    assert not caught.value.retryable and caught.value.status_code == 200


async def test_refusal_is_content_filtered(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    payload = json.loads(transcript("openai_completion.json"))
    payload["choices"][0]["message"].update(content=None, refusal="I can't help with that.")
    with pytest.raises(ContentFiltered, match="can't help"):
        await complete(Scripted(httpx.Response(200, json=payload)), model, ask(model))


@pytest.mark.parametrize(("exc", "kind"), [
    (httpx.ReadTimeout("timed out"), ProviderTimeout),
    (httpx.ConnectTimeout("timed out"), ProviderTimeout),
    (httpx.ConnectError("[Errno 111] Connection refused"), ConnectionFailed),
    (httpx.RemoteProtocolError("Server disconnected"), ConnectionFailed),
    (httpx.ReadError("reset by peer"), ConnectionFailed),
])
async def test_transport_failures(catalog, exc: Exception, kind: type) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    for call in (complete, stream):
        with pytest.raises(kind) as caught:
            await call(Scripted(exc), model, ask(model))
        assert caught.value.status_code is None and caught.value.retryable
        assert caught.value.__cause__ is exc


async def test_key_never_appears_in_errors(catalog) -> None:
    model = catalog.model("openai:gpt-4o-mini")
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}.",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}
    with pytest.raises(AuthFailed) as caught:
        await complete(Scripted(httpx.Response(401, json=echo)), model, ask(model))
    assert_no_key(caught.value)
    assert "[redacted]" in caught.value.body
    with pytest.raises(ConnectionFailed) as caught:
        await stream(Scripted(httpx.ConnectError(f"proxy said Bearer {KEY}")), model, ask(model))
    assert_no_key(caught.value)


async def test_no_key_sends_no_authorization(catalog) -> None:
    model = catalog.model("ollama:llama3.2")
    handler = Scripted(json_response("openai_completion.json"))
    async with client_for(adapter, handler, "http://127.0.0.1:11434/v1", key=None) as client:
        result = await adapter.complete(client, model, ask(model), mode="sandbox")
    assert "authorization" not in handler.request.headers
    assert adapter.auth_headers(None) == {}
    assert result.cost_usd == 0 and result.mode == "sandbox"


async def test_unpriced_model_has_no_cost() -> None:
    model = ModelSpec(id="openai:mystery", provider="openai", name="mystery", label="Mystery",
                      tier="economy", context_window=8000, max_output_tokens=1000)
    result = await complete(Scripted(json_response("openai_completion.json")), model, ask(model))
    assert result.cost_usd is None and result.usage.input_tokens == 2006
