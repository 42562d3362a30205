"""The OpenAI Chat Completions wire protocol: OpenAI, Groq, xAI, DeepSeek, Perplexity, Ollama…

``POST chat/completions`` relative to the provider's base URL (``…/v1`` for most, the bare host for
Perplexity). Streams are SSE ``data:`` chunks ending in ``data: [DONE]``; with
``stream_options.include_usage`` the last chunk before it carries the usage with empty ``choices``.

Failures are classified in ``classify`` by status and the structured ``error`` object
(``code``/``type``). Known limit: OpenAI and Groq mark an over-long prompt with
``error.code = "context_length_exceeded"``; OpenAI-compatible servers that only say so in the
message text (vLLM, DeepSeek, llama.cpp) surface as plain ``BadRequest``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from core.catalog import ModelSpec
from core.errors import (
    AuthFailed,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
)
from core.providers.common import (
    Stopwatch,
    build_result,
    count,
    dedupe,
    event_json,
    expect_shape,
    post_json,
    sse_events,
)
from core.providers.http_errors import CallContext, Verdict, error_from_payload, error_object
from core.types import ChatRequest, ChatResult, Mode, StreamEvent, StreamDone, TextDelta, Usage

PATH = "chat/completions"
_FILTER_CODES = {"content_filter", "content_policy_violation"}


def classify(status: int | None, payload: Any) -> Verdict:
    """The exception an OpenAI-style error object names, when its code or type is specific."""
    error = error_object(payload)
    code, kind = error.get("code"), error.get("type")
    if code == "context_length_exceeded":
        return Verdict(ContextLengthExceeded)
    if code in _FILTER_CODES:
        return Verdict(ContentFiltered)
    if "insufficient_quota" in (code, kind):
        return Verdict(AuthFailed)  # out of credit: a 429 that waiting does not cure
    if status is None and "rate_limit_exceeded" in (code, kind):
        return Verdict(RateLimited)
    if status is None and kind == "server_error":
        return Verdict(ServerError)
    return Verdict()


def build_body(model: ModelSpec, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of a chat completion request."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.text} for m in request.messages]
    reasoning_openai = model.provider == "openai" and model.supports("reasoning")
    body: dict[str, Any] = {
        "model": model.name,
        "messages": messages,
        ("max_completion_tokens" if reasoning_openai else "max_tokens"): request.max_tokens,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name, "schema": request.json_schema, "strict": True,
            },
        }
    if request.live_search and model.supports("live_search"):
        if model.provider == "xai":
            body["search_parameters"] = {"mode": "auto", **request.search_options}
        elif model.provider == "perplexity":
            for key, value in request.search_options.items():
                body.setdefault(key, value)  # vendor options never replace the core fields
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def read_usage(raw: Any) -> Usage:
    """Our Usage from an OpenAI ``usage`` object (prompt_tokens already includes cached ones)."""
    if not raw:
        return Usage()
    cached = count(raw, "prompt_tokens_details", "cached_tokens")
    return Usage(
        input_tokens=count(raw, "prompt_tokens"),
        output_tokens=count(raw, "completion_tokens"),
        cached_input_tokens=cached or count(raw, "prompt_cache_hit_tokens"),  # DeepSeek's name
        reasoning_tokens=count(raw, "completion_tokens_details", "reasoning_tokens"),
    )


def read_citations(payload: dict[str, Any]) -> list[str]:
    """Perplexity's source URLs: top-level ``citations`` and ``search_results[].url``."""
    urls = [str(url) for url in payload.get("citations") or []]
    urls += [str(hit.get("url") or "") for hit in payload.get("search_results") or []]
    return dedupe(urls)


def _check_finish(ctx: CallContext, finish: str | None, refusal: str | None, body: str) -> None:
    if finish == "content_filter" or refusal:
        reason = f"refused: {refusal}" if refusal else "finish_reason content_filter"
        raise ctx.error(ContentFiltered, reason, status_code=200, body=body)


def _raise_if_error(ctx: CallContext, payload: Any) -> None:
    """An ``{"error": ...}`` object inside a 200 answer or a stream (no HTTP status to go by)."""
    if isinstance(payload, dict) and "error" in payload and "choices" not in payload:
        raise error_from_payload(ctx, payload, classify)


class _StreamState:
    """What a stream has said so far: text, finish reason, usage, citations."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.refusal: list[str] = []
        self.usage = Usage()
        self.citations: list[str] = []
        self.done = False

    def absorb(self, chunk: dict[str, Any]) -> str:
        """Take one chunk in; return the text it adds."""
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            self.usage = read_usage(usage)
        self.citations = read_citations(chunk) or self.citations
        text = ""
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            self.refusal.append(delta.get("refusal") or "")
            self.finish = choice.get("finish_reason") or self.finish
        self.parts.append(text)
        return text


class OpenAIChat:
    """Adapter for the OpenAI Chat Completions protocol and its compatible servers."""

    protocol = "openai_chat"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """``Authorization: Bearer <key>``; nothing without a key (local servers)."""
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def complete(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> ChatResult:
        """One non-streaming chat completion."""
        ctx, watch = CallContext.of(client, model), Stopwatch()
        body = build_body(model, request, stream=False)
        payload = await post_json(client, ctx, PATH, body, classify)
        _raise_if_error(ctx, payload)
        with expect_shape(ctx, payload):
            choice = payload["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            finish = choice.get("finish_reason")
            refusal = message.get("refusal")
            usage = read_usage(payload.get("usage"))
            citations = read_citations(payload)
        _check_finish(ctx, finish, refusal, text[:500])
        return build_result(ctx, mode=mode, text=text, usage=usage, watch=watch,
                            finish_reason=finish, citations=citations)

    async def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming chat completion: TextDelta events, then one StreamDone."""
        ctx, watch, state = CallContext.of(client, model), Stopwatch(), _StreamState()
        body = build_body(model, request, stream=True)
        async with aclosing(sse_events(client, ctx, PATH, body, classify)) as events:
            async for event in events:
                if event.data.strip() == "[DONE]":
                    state.done = True
                    break
                chunk = event_json(ctx, event)
                _raise_if_error(ctx, chunk)
                with expect_shape(ctx, chunk):
                    text = state.absorb(chunk)
                if text:
                    watch.first_token()
                    yield TextDelta(text=text)
        if not (state.done or state.finish):
            raise ctx.error(ConnectionFailed, "stream cut before [DONE] or a finish_reason")
        text = "".join(state.parts)
        _check_finish(ctx, state.finish, "".join(state.refusal), text[:500])
        yield StreamDone(result=build_result(
            ctx, mode=mode, text=text, usage=state.usage, watch=watch,
            finish_reason=state.finish, citations=state.citations,
        ))
