"""The Gemini ``generateContent`` wire protocol (Google AI Studio, ``/v1beta``).

``POST /v1beta/models/{name}:generateContent``, or ``:streamGenerateContent?alt=sse`` for a stream
of SSE events whose data are whole ``GenerateContentResponse`` objects: text in
``candidates[0].content.parts[].text`` (parts marked ``thought`` are reasoning, not answer),
``usageMetadata`` on each chunk (the last one is complete), and ``finishReason`` on the last
candidate chunk. There is no ``[DONE]``: a stream that ends without a ``finishReason`` was cut.

Tools are ``tools: [{functionDeclarations: [{name, description, parametersJsonSchema}]}]`` with
``toolConfig.functionCallingConfig`` (``mode`` AUTO / NONE / ANY, ``allowedFunctionNames`` for one
named tool). A call is a ``functionCall`` part (``name``, ``args`` as an object, ``id`` on newer
models); a stream sends each call whole in one chunk. Results go back as ``functionResponse``
parts in a user turn, ``response`` holding ``output`` (or ``error``). Gemini pairs calls and
results by order and name, so ids are not sent; a call without an id gets ``call_<n>``.
``finishReason`` MALFORMED_FUNCTION_CALL / UNEXPECTED_TOOL_CALL is the model's failure to call a
tool properly: MalformedResponse.

Failures are classified in ``classify`` by the google.rpc ``error.status`` and its ``details``
(``RetryInfo.retryDelay``, ``ErrorInfo.reason = API_KEY_INVALID``). Known limit: an over-long
prompt is a plain 400 ``INVALID_ARGUMENT`` whose only distinguishing mark is the message text
("The input token count … exceeds the maximum"), so it surfaces as ``BadRequest``.
"""

from __future__ import annotations

import json
import math
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
    MalformedResponse,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from core.providers.common import (
    Stopwatch,
    ToolCallAssembler,
    build_result,
    check_tool_calls,
    count,
    event_json,
    expect_shape,
    parse_arguments,
    post_json,
    split_system,
    sse_events,
    text_field,
    text_value,
)
from core.providers.http_errors import CallContext, Verdict, error_from_payload, error_object
from core.types import (
    ChatRequest,
    ChatResult,
    Message,
    Mode,
    StreamDone,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageEvent,
)

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
TOOL_FAILURE_REASONS = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def _seconds(duration: Any) -> float | None:
    """A google.protobuf Duration in JSON form ("58s", "1.5s") as seconds."""
    if not isinstance(duration, str) or not duration.endswith("s"):
        return None
    try:
        seconds = float(duration[:-1])
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def classify(status: int | None, payload: Any) -> Verdict:
    """The exception a google.rpc error names, with RetryInfo's delay when it gives one."""
    error = error_object(payload)
    kind = _STATUSES.get(str(error.get("status")))
    retry_after = None
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("reason"), str) and detail["reason"] in _AUTH_REASONS:
            kind = AuthFailed
        retry_after = _seconds(detail.get("retryDelay")) if retry_after is None else retry_after
    return Verdict(kind, retry_after)


def _part(part: TextPart | ToolCallPart | ToolResultPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ToolCallPart):
        return {"functionCall": {"name": part.name, "args": part.arguments}}
    key = "error" if part.is_error else "output"
    return {"functionResponse": {"name": part.name, "response": {key: part.content}}}


def wire_contents(messages: list[Message]) -> list[dict[str, Any]]:
    """Our messages as Gemini contents: ``model`` and ``user`` turns (tool results are user's),
    consecutive turns of one role merged."""
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = "model" if message.role == "assistant" else "user"
        if all(isinstance(p, TextPart) for p in message.parts):
            parts = [{"text": message.text}]
        else:
            parts = [_part(p) for p in message.parts if not (isinstance(p, TextPart) and not p.text)]
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _tool_fields(request: ChatRequest) -> dict[str, Any]:
    """``tools`` (function declarations) and ``toolConfig`` for a request that offers tools."""
    if not request.tools:
        return {}
    declarations = [{"name": t.name, "description": t.description,
                     "parametersJsonSchema": t.parameters} for t in request.tools]
    config: dict[str, Any] = {"mode": _MODES.get(request.tool_choice, "ANY")}
    if request.tool_choice not in _MODES:
        config["allowedFunctionNames"] = [request.tool_choice]
    return {"tools": [{"functionDeclarations": declarations}],
            "toolConfig": {"functionCallingConfig": config}}


def build_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a generateContent request."""
    system, messages = split_system(request)
    body: dict[str, Any] = {"contents": wire_contents(messages), **_tool_fields(request)}
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
    """The parts of one GenerateContentResponse we use: text, function calls, finish, usage."""

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
        self.text = "".join(text_value(p.get("text"), "part text")
                            for p in parts if not p.get("thought"))
        self.calls = [p["functionCall"] for p in parts if "functionCall" in p]
        self.finish = text_field(candidate.get("finishReason"), "finishReason")
        self.usage = read_usage(payload["usageMetadata"]) if "usageMetadata" in payload else None
        if self.finish in FILTER_REASONS:
            raise ctx.error(ContentFiltered, f"finishReason {self.finish}", status_code=200,
                            body=json.dumps(payload))
        if self.finish in TOOL_FAILURE_REASONS:
            raise ctx.error(MalformedResponse, f"finishReason {self.finish}", status_code=200,
                            body=json.dumps(payload))

    def tool_calls(self, ctx: CallContext, first: int) -> list[ToolCallPart]:
        """This chunk's function calls; ``first`` numbers them after earlier chunks' calls."""
        calls: list[ToolCallPart] = []
        for ordinal, call in enumerate(self.calls, start=first):
            name = text_value(call.get("name"), "functionCall name")
            call_id = text_value(call.get("id"), "functionCall id") or f"call_{ordinal}"
            calls.append(ToolCallPart(id=call_id, name=name,
                                      arguments=parse_arguments(ctx, name, call.get("args"))))
        return calls


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
            calls = chunk.tool_calls(ctx, 0)
        return build_result(ctx, mode=mode, text=chunk.text, usage=chunk.usage or Usage(),
                            watch=watch, finish_reason=chunk.finish,
                            tool_calls=check_tool_calls(ctx, request, calls))

    async def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming call: text, tool-call and usage events, then one StreamDone."""
        ctx, watch = CallContext.of(client, model), Stopwatch()
        path = self._path(model, "streamGenerateContent")
        parts: list[str] = []
        usage, finish, assembler = Usage(), None, ToolCallAssembler()
        events = sse_events(client, ctx, path, build_body(request), classify, params={"alt": "sse"})
        async with aclosing(events):
            async for event in events:
                payload = event_json(ctx, event)
                with expect_shape(ctx, payload):
                    chunk = _Chunk(ctx, payload)
                    calls = chunk.tool_calls(ctx, len(assembler))
                finish = chunk.finish or finish
                if chunk.text:
                    watch.first_token()
                    parts.append(chunk.text)
                    yield TextDelta(text=chunk.text)
                for call in calls:
                    watch.first_token()
                    yield assembler.add(ToolCallDelta(index=len(assembler), id=call.id,
                                                      name=call.name,
                                                      arguments=json.dumps(call.arguments)))
                if chunk.usage is not None and chunk.usage != usage:
                    usage = chunk.usage
                    yield UsageEvent(usage=usage)
        if finish is None:
            raise ctx.error(ConnectionFailed, "stream cut before a finishReason")
        calls = check_tool_calls(ctx, request, assembler.calls(ctx))
        yield StreamDone(result=build_result(ctx, mode=mode, text="".join(parts), usage=usage,
                                             watch=watch, finish_reason=finish,
                                             tool_calls=calls))
