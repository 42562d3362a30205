"""The Gemini ``generateContent`` wire protocol (Google AI Studio, ``/v1beta``).

``POST /v1beta/models/{name}:generateContent``, or ``:streamGenerateContent?alt=sse`` for a stream
of SSE events whose data are whole ``GenerateContentResponse`` objects: text in
``candidates[0].content.parts[].text`` (parts marked ``thought`` are reasoning, not answer),
``usageMetadata`` on each chunk (the last one is complete), and ``finishReason`` on the last
candidate chunk. There is no ``[DONE]``: a stream that ends without a ``finishReason`` was cut.

Failures are classified in ``classify`` by the google.rpc ``error.status`` and its ``details``
(``RetryInfo.retryDelay``, ``ErrorInfo.reason = API_KEY_INVALID``). Known limit: an over-long
prompt is a plain 400 ``INVALID_ARGUMENT`` whose only distinguishing mark is the message text
("The input token count … exceeds the maximum"), so it surfaces as ``BadRequest``.
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

_STATUSES: dict[str, type[ProviderError]] = {
    "RESOURCE_EXHAUSTED": RateLimited,
    "UNAVAILABLE": Overloaded,
    "INTERNAL": ServerError,
    "DEADLINE_EXCEEDED": ProviderTimeout,
    "UNAUTHENTICATED": AuthFailed,
    "PERMISSION_DENIED": AuthFailed,
    "INVALID_ARGUMENT": BadRequest,
    "FAILED_PRECONDITION": BadRequest,
    "NOT_FOUND": BadRequest,
}
_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"}
FILTER_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


def _seconds(duration: Any) -> float | None:
    """A google.protobuf Duration in JSON form ("58s", "1.5s") as seconds."""
    if not isinstance(duration, str) or not duration.endswith("s"):
        return None
    try:
        return max(float(duration[:-1]), 0.0)
    except ValueError:
        return None


def classify(status: int | None, payload: Any) -> Verdict:
    """The exception a google.rpc error names, with RetryInfo's delay when it gives one."""
    error = error_object(payload)
    kind = _STATUSES.get(str(error.get("status")))
    retry_after = None
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if detail.get("reason") in _AUTH_REASONS:
            kind = AuthFailed
        retry_after = _seconds(detail.get("retryDelay")) if retry_after is None else retry_after
    return Verdict(kind, retry_after)


def build_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a generateContent request."""
    system, messages = split_system(request)
    body: dict[str, Any] = {
        "contents": [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.text}]}
            for m in messages
        ],
    }
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.json_schema is not None:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = request.json_schema
    body["generationConfig"] = config
    return body


def read_usage(raw: Any) -> Usage:
    """Our Usage from ``usageMetadata``.

    ``promptTokenCount`` already includes the cached part. Thought tokens are billed as output,
    so ``output_tokens`` is candidates plus thoughts, and ``reasoning_tokens`` the thoughts alone
    (as OpenAI counts reasoning inside completion tokens).
    """
    thoughts = count(raw, "thoughtsTokenCount")
    return Usage(
        input_tokens=count(raw, "promptTokenCount"),
        output_tokens=count(raw, "candidatesTokenCount") + thoughts,
        cached_input_tokens=count(raw, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


class _Chunk:
    """The parts of one GenerateContentResponse we use."""

    def __init__(self, ctx: CallContext, payload: Any) -> None:
        if isinstance(payload, dict) and "error" in payload:
            raise error_from_payload(ctx, payload, classify)
        block = (payload.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise ctx.error(ContentFiltered, f"prompt blocked: {block}", status_code=200,
                            body=json.dumps(payload))
        candidates = payload.get("candidates")
        if not candidates and "usageMetadata" not in payload:
            raise KeyError("candidates")
        candidate = candidates[0] if candidates else {}
        parts = (candidate.get("content") or {}).get("parts") or []
        self.text = "".join(p.get("text") or "" for p in parts if not p.get("thought"))
        self.finish: str | None = candidate.get("finishReason")
        self.usage = read_usage(payload["usageMetadata"]) if "usageMetadata" in payload else None
        if self.finish in FILTER_REASONS:
            raise ctx.error(ContentFiltered, f"finishReason {self.finish}", status_code=200,
                            body=json.dumps(payload))


class GeminiGenerate:
    """Adapter for the Gemini generateContent API."""

    protocol = "gemini_generate"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """``x-goog-api-key`` when there is a key."""
        return {"x-goog-api-key": key} if key else {}

    @staticmethod
    def _path(model: ModelSpec, method: str) -> str:
        return f"/v1beta/models/{model.name}:{method}"

    async def complete(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> ChatResult:
        """One non-streaming generateContent call."""
        ctx, watch = CallContext.of(client, model), Stopwatch()
        path = self._path(model, "generateContent")
        payload = await post_json(client, ctx, path, build_body(request), classify)
        with expect_shape(ctx, payload):
            chunk = _Chunk(ctx, payload)
        return build_result(ctx, mode=mode, text=chunk.text, usage=chunk.usage or Usage(),
                            watch=watch, finish_reason=chunk.finish)

    async def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming call: TextDelta events, then one StreamDone."""
        ctx, watch = CallContext.of(client, model), Stopwatch()
        path = self._path(model, "streamGenerateContent")
        parts: list[str] = []
        usage, finish = Usage(), None
        events = sse_events(client, ctx, path, build_body(request), classify, params={"alt": "sse"})
        async with aclosing(events):
            async for event in events:
                payload = event_json(ctx, event)
                with expect_shape(ctx, payload):
                    chunk = _Chunk(ctx, payload)
                usage = chunk.usage or usage
                finish = chunk.finish or finish
                if chunk.text:
                    watch.first_token()
                    parts.append(chunk.text)
                    yield TextDelta(text=chunk.text)
        if finish is None:
            raise ctx.error(ConnectionFailed, "stream cut before a finishReason")
        yield StreamDone(result=build_result(ctx, mode=mode, text="".join(parts), usage=usage,
                                             watch=watch, finish_reason=finish))
