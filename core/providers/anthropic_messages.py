"""The Anthropic Messages wire protocol (``POST /v1/messages``).

A stream runs ``message_start`` (input usage) → content blocks (``content_block_start`` /
``content_block_delta`` / ``content_block_stop``) → ``message_delta`` (stop reason, cumulative
usage) → ``message_stop``, with ``ping`` events anywhere and possibly an ``error`` event
(``overloaded_error``…) after the 200 status was sent.

Tools are ``tools: [{name, description, input_schema}]`` with ``tool_choice`` ``{type: auto}``,
``{type: none}``, ``{type: any}`` (required) or ``{type: tool, name}``. A call is a ``tool_use``
content block (``id``, ``name``, ``input``), streamed as ``content_block_start`` then
``input_json_delta`` pieces of its input's JSON; results go back in a user turn as
``tool_result`` blocks (``tool_use_id``, ``content``, ``is_error``). Consecutive turns of one role
are merged into one message, as the protocol expects alternating turns.

Structured output is a forced tool whose ``input_schema`` is the requested schema; the answer is
the tool call's input as JSON text (that tool's call is the answer, not a tool call).

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


def _block(part: TextPart | ToolCallPart | ToolResultPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCallPart):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id,
                             "content": part.content}
    if part.is_error:
        block["is_error"] = True
    return block


def wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our messages as Messages turns: text-only turns as strings, others as content blocks.

    A ``tool`` message is a user turn; consecutive turns of one role become one.
    """
    wire: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        typed = any(not isinstance(p, TextPart) for p in message.parts)
        content: Any = [_block(p) for p in message.parts
                        if not (isinstance(p, TextPart) and not p.text)] if typed else message.text
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"] = _as_blocks(wire[-1]["content"]) + _as_blocks(content)
        else:
            wire.append({"role": role, "content": content})
    return wire


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def _tool_fields(request: ChatRequest) -> dict[str, Any]:
    """``tools`` and ``tool_choice``: the request's tools, and the forced schema tool if any."""
    tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
             for t in request.tools]
    if request.json_schema is not None:
        tools.append({
            "name": request.schema_name,
            "description": "Record the answer. Its input must match this schema exactly.",
            "input_schema": request.json_schema,
        })
        return {"tools": tools, "tool_choice": {"type": "tool", "name": request.schema_name}}
    if not tools:
        return {}
    choices = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
    choice = choices.get(request.tool_choice, {"type": "tool", "name": request.tool_choice})
    return {"tools": tools, "tool_choice": choice}


def build_body(request: ChatRequest, model: ModelSpec, *, stream: bool) -> dict[str, Any]:
    """The JSON body of a Messages request."""
    system, messages = split_system(request)
    body: dict[str, Any] = {
        "model": model.name,
        "max_tokens": request.max_tokens,
        "messages": wire_messages(messages),
        **_tool_fields(request),
    }
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
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


def _is_schema_tool(request: ChatRequest, name: Any) -> bool:
    return request.json_schema is not None and name == request.schema_name


def _answer(ctx: CallContext, request: ChatRequest, content: list[dict[str, Any]]) -> str:
    """The answer text of a message: its text blocks, or the forced tool's input as JSON."""
    if request.json_schema is None:
        return "".join(text_value(block["text"], "text block")
                       for block in content if block.get("type") == "text")
    for block in content:
        if block.get("type") == "tool_use" and _is_schema_tool(request, block.get("name")):
            return json.dumps(parse_arguments(ctx, request.schema_name, block["input"]))
    raise ctx.malformed("structured output asked for, but no tool_use block came back",
                        body=json.dumps(content)[:500])


def read_tool_calls(
    ctx: CallContext, request: ChatRequest, content: list[dict[str, Any]]
) -> list[ToolCallPart]:
    """The ``tool_use`` blocks of a message as tool calls (the forced schema tool excepted)."""
    calls: list[ToolCallPart] = []
    for block in content:
        if block.get("type") != "tool_use" or _is_schema_tool(request, block.get("name")):
            continue
        name = text_value(block.get("name"), "tool_use name")
        calls.append(ToolCallPart(id=text_value(block.get("id"), "tool_use id"), name=name,
                                  arguments=parse_arguments(ctx, name, block.get("input"))))
    return calls


def _require_json(ctx: CallContext, text: str) -> None:
    """A streamed tool input must add up to JSON."""
    try:
        json.loads(text)
    except ValueError as exc:
        raise ctx.malformed("streamed tool input is not JSON", body=text[:500]) from exc


class _StreamState:
    """What a Messages stream has said so far: answer text, tool calls, usage, stop reason."""

    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self.parts: list[str] = []
        self.raw_usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.calls = ToolCallAssembler()
        self._blocks: dict[int, int] = {}  # content block index -> tool call ordinal (-1: schema)
        self.done = False

    def absorb(self, ctx: CallContext, data: dict[str, Any]) -> list[StreamEvent]:
        """Take one event in; return the events it adds (text, tool-call pieces, usage)."""
        kind = data.get("type")
        if kind == "error":
            raise error_from_payload(ctx, data, classify)
        if kind == "message_start":
            self.raw_usage = dict(data["message"].get("usage") or {})
            return [UsageEvent(usage=read_usage(self.raw_usage))]
        if kind == "message_delta":
            stop = text_field(data["delta"].get("stop_reason"), "stop_reason")
            self.stop_reason = stop or self.stop_reason
            # message_delta counts are cumulative; fields it leaves out keep their start value
            late = data.get("usage") or {}
            self.raw_usage.update({k: v for k, v in late.items() if v is not None})
            return [UsageEvent(usage=read_usage(self.raw_usage))] if late else []
        if kind == "message_stop":
            self.done = True
        elif kind == "content_block_start":
            return self._start(data["index"], data["content_block"])
        elif kind == "content_block_delta":
            return self._delta(data["index"], data["delta"])
        return []  # ping, content_block_stop and future event types add nothing

    def _start(self, index: Any, block: dict[str, Any]) -> list[StreamEvent]:
        if block.get("type") != "tool_use":
            return []
        if _is_schema_tool(self.request, block.get("name")):
            self._blocks[index] = -1
            return []
        ordinal = self._blocks[index] = len(self.calls)
        early = block.get("input")
        arguments = json.dumps(early) if isinstance(early, dict) and early else ""
        return [self.calls.add(ToolCallDelta(
            index=ordinal, id=text_value(block.get("id"), "tool_use id"),
            name=text_value(block.get("name"), "tool_use name"), arguments=arguments))]

    def _delta(self, index: Any, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        structured = self.request.json_schema is not None
        if kind == "text_delta" and not structured:
            text = text_value(delta["text"], "text_delta")
        elif kind == "input_json_delta" and self._blocks.get(index) == -1:
            text = text_value(delta["partial_json"], "partial_json")
        elif kind == "input_json_delta" and index in self._blocks:
            piece = text_value(delta["partial_json"], "partial_json")
            return [self.calls.add(ToolCallDelta(index=self._blocks[index], arguments=piece))]
        else:
            return []  # thinking and signature deltas are not part of the answer
        self.parts.append(text)
        return [TextDelta(text=text)] if text else []


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
            stop_reason = text_field(payload.get("stop_reason"), "stop_reason")
            content = payload["content"]
            usage = read_usage(payload.get("usage"))
            _check_stop(ctx, stop_reason, json.dumps(content))
            text = _answer(ctx, request, content)
            calls = read_tool_calls(ctx, request, content)
        return build_result(ctx, mode=mode, text=text, usage=usage, watch=watch,
                            finish_reason=stop_reason,
                            tool_calls=check_tool_calls(ctx, request, calls))

    async def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming Messages call: text, tool-call and usage events, then one StreamDone.

        After ``message_stop`` the rest of the body is still read, so the connection goes back
        to the pool instead of being closed.
        """
        ctx, watch = CallContext.of(client, model), Stopwatch()
        state = _StreamState(request)
        body = build_body(request, model, stream=True)
        async with aclosing(sse_events(client, ctx, PATH, body, classify)) as events:
            async for event in events:
                if state.done:
                    continue  # drain to the end of the body
                data = event_json(ctx, event)
                with expect_shape(ctx, data):
                    produced = state.absorb(ctx, data)
                for item in produced:
                    if not isinstance(item, UsageEvent):
                        watch.first_token()
                    yield item
        if not state.done:
            raise ctx.error(ConnectionFailed, "stream cut before message_stop")
        text = "".join(state.parts)
        _check_stop(ctx, state.stop_reason, text)
        if request.json_schema is not None:
            _require_json(ctx, text)
        with expect_shape(ctx, state.raw_usage):
            usage = read_usage(state.raw_usage)
        calls = check_tool_calls(ctx, request, state.calls.calls(ctx))
        yield StreamDone(result=build_result(
            ctx, mode=mode, text=text, usage=usage, watch=watch,
            finish_reason=state.stop_reason, tool_calls=calls,
        ))
