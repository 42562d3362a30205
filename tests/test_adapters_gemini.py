"""The Gemini generateContent adapter against scripted wire transcripts."""

from __future__ import annotations

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
from core.providers.gemini_generate import GeminiGenerate
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

BASE = "https://generativelanguage.googleapis.com"
MODEL_ID = "google:gemini-2.5-flash"
adapter = GeminiGenerate()


async def complete(handler: Scripted, model: ModelSpec, request: ChatRequest):
    async with client_for(adapter, handler, BASE) as client:
        return await adapter.complete(client, model, request, mode="live")


async def stream(handler: Scripted, model: ModelSpec, request: ChatRequest):
    async with client_for(adapter, handler, BASE) as client:
        return await collect(adapter.stream(client, model, request, mode="live"))


def ask(model: ModelSpec, prompt: str = "Hello", **kwargs) -> ChatRequest:
    return ChatRequest.of(model.id, prompt, **kwargs)


def test_auth_headers() -> None:
    assert adapter.auth_headers("g-key") == {"x-goog-api-key": "g-key"}
    assert adapter.auth_headers(None) == {}


async def test_complete_maps_request_and_result(catalog) -> None:
    model = catalog.model(MODEL_ID)
    handler = Scripted(json_response("gemini_generate.json"))
    request = ChatRequest(
        model=model.id, system="Be brief.", max_tokens=256, temperature=0.7,
        messages=[Message(role="user", content="Hi"), Message(role="assistant", content="Hello"),
                  Message(role="user", content="Explain AI")],
    )
    result = await complete(handler, model, request)

    sent = handler.request
    assert sent.url.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY and "key" not in sent.url.params
    assert handler.body() == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "Explain AI"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 256, "temperature": 0.7},
    }
    # the thought part is reasoning, not answer
    assert result.text == "AI learns patterns from data to make predictions."
    assert result.usage == Usage(input_tokens=1200, output_tokens=111, cached_input_tokens=1024,
                                 reasoning_tokens=100)
    assert result.cost_usd is not None and result.cost_usd == cost_of(model, result.usage)
    assert (result.model, result.provider, result.finish_reason) == (MODEL_ID, "google", "STOP")
    assert result.ttft_ms == result.latency_ms


async def test_structured_output_config(catalog) -> None:
    model = catalog.model(MODEL_ID)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    handler = Scripted(json_response("gemini_generate.json"))
    await complete(handler, model, ask(model, json_schema=schema))
    config = handler.body()["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert "systemInstruction" not in handler.body()


async def test_stream_in_crlf_sse(catalog) -> None:
    model = catalog.model(MODEL_ID)
    handler = Scripted(sse_transcript("gemini_stream.sse", size=11))
    texts, result = await stream(handler, model, ask(model))
    sent = handler.request
    assert sent.url.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.url.params["alt"] == "sse"
    assert texts == ["Once upon a time, ", "a tiny robot ", "dreamed. 🤖"]
    assert result.text == "".join(texts)
    assert result.usage == Usage(input_tokens=8, output_tokens=64, reasoning_tokens=50)
    assert result.cost_usd == cost_of(model, result.usage)
    assert result.finish_reason == "STOP"
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms


async def test_stream_cut_without_finish_reason(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ConnectionFailed, match="stream cut"):
        await stream(Scripted(sse_transcript("gemini_stream_cut.sse")), model, ask(model))


async def test_stream_dropped_connection(catalog) -> None:
    model = catalog.model(MODEL_ID)
    reply = sse_transcript("gemini_stream_cut.sse",
                         fail_with=httpx.RemoteProtocolError("incomplete chunked read"))
    with pytest.raises(ConnectionFailed):
        await stream(Scripted(reply), model, ask(model))


async def test_error_inside_stream(catalog) -> None:
    model = catalog.model(MODEL_ID)
    text = transcript("gemini_stream_cut.sse") + "data: " + transcript(
        "gemini_error_overloaded.json").strip() + "\r\n\r\n"
    with pytest.raises(Overloaded):
        await stream(Scripted(sse_response(text)), model, ask(model))


@pytest.mark.parametrize("name", ["gemini_prompt_blocked.json", "gemini_finish_safety.json"])
async def test_safety_blocks_are_content_filtered(catalog, name: str) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ContentFiltered) as caught:
        await complete(Scripted(json_response(name)), model, ask(model))
    assert not caught.value.retryable


async def test_safety_finish_in_stream(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ContentFiltered, match="SAFETY"):
        await stream(Scripted(sse_transcript("gemini_stream_safety.sse")), model, ask(model))


@pytest.mark.parametrize("reply", [
    httpx.Response(200, text="{truncated"),
    httpx.Response(200, json={"modelVersion": "gemini-2.5-flash"}),
    httpx.Response(200, json={"candidates": [{"content": {"parts": "oops"}}]}),
    httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": "x"}]},
                                              "finishReason": "STOP"}],
                              "usageMetadata": {"promptTokenCount": [1]}}),
])
async def test_malformed_bodies(catalog, reply: httpx.Response) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(MalformedResponse):
        await complete(Scripted(reply), model, ask(model))


async def test_malformed_stream_event(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(MalformedResponse):
        await stream(Scripted(sse_response("data: [{\"candidates\"\r\n\r\n")), model, ask(model))


@pytest.mark.parametrize(("status", "name", "headers", "kind", "retry_after"), [
    (429, "gemini_error_rate_limit.json", {}, RateLimited, 58.0),
    (429, "gemini_error_rate_limit.json", {"retry-after": "5"}, RateLimited, 5.0),
    (400, "gemini_error_key_invalid.json", {}, AuthFailed, None),
    (400, "gemini_error_too_long.json", {}, BadRequest, None),
    (503, "gemini_error_overloaded.json", {}, Overloaded, None),
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
        assert (error.provider, error.model) == ("google", MODEL_ID)
        assert '"error"' in error.body


@pytest.mark.parametrize(("status", "body", "kind"), [
    (500, {"error": {"code": 500, "message": "An internal error has occurred.",
                     "status": "INTERNAL"}}, ServerError),
    (504, {"error": {"code": 504, "message": "Deadline exceeded.",
                     "status": "DEADLINE_EXCEEDED"}}, ProviderTimeout),
    (403, {"error": {"code": 403, "message": "Permission denied.",
                     "status": "PERMISSION_DENIED"}}, AuthFailed),
    (404, {"error": {"code": 404, "message": "models/x is not found.",
                     "status": "NOT_FOUND"}}, BadRequest),
])
async def test_google_rpc_statuses(catalog, status: int, body: dict, kind: type) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(kind):
        await complete(Scripted(httpx.Response(status, json=body)), model, ask(model))


async def test_connect_error(catalog) -> None:
    model = catalog.model(MODEL_ID)
    with pytest.raises(ConnectionFailed):
        await complete(Scripted(httpx.ConnectError("refused")), model, ask(model))


async def test_key_never_appears_in_errors(catalog) -> None:
    model = catalog.model(MODEL_ID)
    echo = {"error": {"code": 400, "message": f"API key not valid: {KEY}",
                      "status": "INVALID_ARGUMENT",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                   "reason": "API_KEY_INVALID"}]}}
    for call in (complete, stream):
        with pytest.raises(AuthFailed) as caught:
            await call(Scripted(httpx.Response(400, json=echo)), model, ask(model))
        assert_no_key(caught.value)
