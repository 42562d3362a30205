"""The Anthropic Messages wire protocol (``POST /v1/messages``).

A stream runs ``message_start`` (input usage) → content blocks (``content_block_start`` /
``content_block_delta`` / ``content_block_stop``) → ``message_delta`` (stop reason, cumulative
usage) → ``message_stop``, with ``ping`` events anywhere and possibly an ``error`` event
(``overloaded_error``…) after the 200 status was sent.

Structured output is a forced tool whose ``input_schema`` is the requested schema; the answer is
the tool call's input as JSON text.

Failures are classified in ``classify`` by ``error.type``. Known limit: an over-long prompt comes
back as a plain ``invalid_request_error`` (only the message text says "prompt is too long"), so it
surfaces as ``BadRequest``, not ``ContextLengthExceeded``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from core.catalog import ModelSpec
from core.errors import (
    AuthFailed,
    BadRequest,
    ConnectionFailed,
    ContentFiltered,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from core.providers.common import (
    Stopwatch,
    build_result,
    count,
    event_json,
    expect_shape,
    post_json,
    split_system,
    sse_events,
)
from core.providers.http_errors import CallContext, Verdict, error_from_payload, error_object
from core.types import ChatRequest, ChatResult, Mode, StreamDone, StreamEvent, TextDelta, Usage

PATH = "/v1/messages"
API_VERSION = "2023-06-01"
_ERROR_TYPES: dict[str, type[ProviderError]] = {
    "overloaded_error": Overloaded,
    "rate_limit_error": RateLimited,
    "api_error": ServerError,
    "timeout_error": ProviderTimeout,
    "authentication_error": AuthFailed,
    "permission_error": AuthFailed,
    "billing_error": AuthFailed,
    "invalid_request_error": BadRequest,
    "not_found_error": BadRequest,
    "request_too_large": BadRequest,
}


def classify(status: int | None, payload: Any) -> Verdict:
    """The exception an Anthropic ``error.type`` names (``overloaded_error`` → Overloaded…)."""
    return Verdict(_ERROR_TYPES.get(str(error_object(payload).get("type"))))


def build_body(request: ChatRequest, model: ModelSpec, *, stream: bool) -> dict[str, Any]:
    """The JSON body of a Messages request."""
    system, messages = split_system(request)
    body: dict[str, Any] = {
        "model": model.name,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": m.text} for m in messages],
    }
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.json_schema is not None:
        body["tools"] = [{
            "name": request.schema_name,
            "description": "Record the answer. Its input must match this schema exactly.",
            "input_schema": request.json_schema,
        }]
        body["tool_choice"] = {"type": "tool", "name": request.schema_name}
    if stream:
        body["stream"] = True
    return body


def read_usage(raw: Any) -> Usage:
    """Our Usage from an Anthropic ``usage`` object.

    Anthropic's ``input_tokens`` excludes cache reads and writes; ours counts all three.
    """
    cached = count(raw, "cache_read_input_tokens")
    written = count(raw, "cache_creation_input_tokens")
    return Usage(
        input_tokens=count(raw, "input_tokens") + cached + written,
        output_tokens=count(raw, "output_tokens"),
        cached_input_tokens=cached,
        cache_write_tokens=written,
    )


def _check_stop(ctx: CallContext, stop_reason: str | None, text: str) -> None:
    if stop_reason == "refusal":
        raise ctx.error(ContentFiltered, "stop_reason refusal", status_code=200, body=text[:500])


def _answer(ctx: CallContext, request: ChatRequest, content: list[dict[str, Any]]) -> str:
    """The answer text of a message: its text blocks, or the forced tool's input as JSON."""
    if request.json_schema is None:
        return "".join(block["text"] for block in content if block.get("type") == "text")
    for block in content:
        if block.get("type") == "tool_use" and block.get("name") == request.schema_name:
            return json.dumps(block["input"])
    raise ctx.malformed("structured output asked for, but no tool_use block came back",
                        body=json.dumps(content)[:500])


def _require_json(ctx: CallContext, text: str) -> None:
    """A streamed tool input must add up to JSON."""
    try:
        json.loads(text)
    except ValueError as exc:
        raise ctx.malformed("streamed tool input is not JSON", body=text[:500]) from exc


class _StreamState:
    """What a Messages stream has said so far."""

    def __init__(self, structured: bool) -> None:
        self.structured = structured
        self.parts: list[str] = []
        self.raw_usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.done = False

    def absorb(self, ctx: CallContext, data: dict[str, Any]) -> str:
        """Take one event in; return the answer text it adds."""
        kind = data.get("type")
        if kind == "error":
            raise error_from_payload(ctx, data, classify)
        if kind == "message_start":
            self.raw_usage = dict(data["message"].get("usage") or {})
        elif kind == "message_delta":
            self.stop_reason = data["delta"].get("stop_reason") or self.stop_reason
            # message_delta counts are cumulative; fields it leaves out keep their start value
            late = data.get("usage") or {}
            self.raw_usage.update({k: v for k, v in late.items() if v is not None})
        elif kind == "message_stop":
            self.done = True
        elif kind == "content_block_delta":
            return self._delta(data["delta"])
        return ""  # ping, content_block_start/stop and future event types add no text

    def _delta(self, delta: dict[str, Any]) -> str:
        kind = delta.get("type")
        if kind == "text_delta" and not self.structured:
            text = delta["text"]
        elif kind == "input_json_delta" and self.structured:
            text = delta["partial_json"]
        else:
            return ""  # thinking and signature deltas are not part of the answer
        self.parts.append(text)
        return text


class AnthropicMessages:
    """Adapter for Anthropic's Messages API."""

    protocol = "anthropic_messages"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """``x-api-key`` (when there is a key) and the ``anthropic-version`` header."""
        headers = {"anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        return headers

    async def complete(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> ChatResult:
        """One non-streaming Messages call."""
        ctx, watch = CallContext.of(client, model), Stopwatch()
        body = build_body(request, model, stream=False)
        payload = await post_json(client, ctx, PATH, body, classify)
        if isinstance(payload, dict) and payload.get("type") == "error":
            raise error_from_payload(ctx, payload, classify)
        with expect_shape(ctx, payload):
            stop_reason = payload.get("stop_reason")
            content = payload["content"]
            usage = read_usage(payload.get("usage"))
            _check_stop(ctx, stop_reason, json.dumps(content))
            text = _answer(ctx, request, content)
        return build_result(ctx, mode=mode, text=text, usage=usage, watch=watch,
                            finish_reason=stop_reason)

    async def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming Messages call: TextDelta events, then one StreamDone."""
        ctx, watch = CallContext.of(client, model), Stopwatch()
        state = _StreamState(structured=request.json_schema is not None)
        body = build_body(request, model, stream=True)
        async with aclosing(sse_events(client, ctx, PATH, body, classify)) as events:
            async for event in events:
                data = event_json(ctx, event)
                with expect_shape(ctx, data):
                    text = state.absorb(ctx, data)
                if text:
                    watch.first_token()
                    yield TextDelta(text=text)
                if state.done:
                    break
        if not state.done:
            raise ctx.error(ConnectionFailed, "stream cut before message_stop")
        text = "".join(state.parts)
        _check_stop(ctx, state.stop_reason, text)
        if state.structured:
            _require_json(ctx, text)
        with expect_shape(ctx, state.raw_usage):
            usage = read_usage(state.raw_usage)
        yield StreamDone(result=build_result(
            ctx, mode=mode, text=text, usage=usage, watch=watch,
            finish_reason=state.stop_reason,
        ))
