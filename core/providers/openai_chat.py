"""The OpenAI Chat Completions wire protocol: OpenAI, Groq, xAI, DeepSeek, Perplexity, Ollama…

``POST chat/completions`` relative to the provider's base URL (``…/v1`` for most, the bare host for
Perplexity). Streams are SSE ``data:`` chunks ending in ``data: [DONE]``; with
``stream_options.include_usage`` the last chunk before it carries the usage with empty ``choices``.

Tools are ``tools: [{type: function, function: {name, description, parameters}}]`` with
``tool_choice`` (``auto``/``none``/``required`` or ``{type: function, function: {name}}``). An
answer's ``message.tool_calls[]`` carry ``function.arguments`` as JSON text; streamed, each
``delta.tool_calls[]`` piece names its call by ``index`` (id and name come with the first piece)
and the turn ends with ``finish_reason: tool_calls``. Results go back as ``role: tool`` messages
with the ``tool_call_id`` (the protocol has no error flag: an error result's text says so).

Failures are classified in ``classify`` by status and the structured ``error`` object
(``code``/``type``). Known limit: OpenAI and Groq mark an over-long prompt with
``error.code = "context_length_exceeded"``; OpenAI-compatible servers that only say so in the
message text (vLLM, DeepSeek, llama.cpp) surface as plain ``BadRequest``. Groq's
``tool_use_failed`` (the model wrote a tool call that does not parse) is a MalformedResponse.
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
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    MalformedResponse,
    RateLimited,
    ServerError,
)
from core.providers.common import (
    Stopwatch,
    ToolCallAssembler,
    build_result,
    check_tool_calls,
    count,
    dedupe,
    event_json,
    expect_shape,
    parse_arguments,
    post_json,
    sse_events,
    text_field,
    text_value,
    tool_result_text,
)
from core.providers.http_errors import CallContext, Verdict, error_from_payload, error_object
from core.types import (
    TOOL_CHOICES,
    ChatRequest,
    ChatResult,
    Message,
    Mode,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallPart,
    Usage,
    UsageEvent,
)

PATH = "chat/completions"
LLAMA_CPP_PROVIDER = "local"  # `orchestra local up` (core.local.registry.PROVIDER)
_FILTER_CODES = {"content_filter", "content_policy_violation"}


def classify(status: int | None, payload: Any) -> Verdict:
    """The exception an OpenAI-style error object names, when its code or type is specific."""
    error = error_object(payload)
    code, kind = _label(error.get("code")), _label(error.get("type"))
    if code == "context_length_exceeded":
        return Verdict(ContextLengthExceeded)
    if code in _FILTER_CODES:
        return Verdict(ContentFiltered)
    if code == "tool_use_failed":
        return Verdict(MalformedResponse)  # Groq: the model wrote a tool call that did not parse
    if "insufficient_quota" in (code, kind):
        return Verdict(AuthFailed)  # out of credit: a 429 that waiting does not cure
    if status is None and "rate_limit_exceeded" in (code, kind):
        return Verdict(RateLimited)
    if status is None and kind == "server_error":
        return Verdict(ServerError)
    return Verdict()


def _label(value: Any) -> str:
    """An error code or type as text; numbers, lists and other shapes mean nothing here."""
    return value if isinstance(value, str) else ""


def wire_messages(message: Message) -> list[dict[str, Any]]:
    """One of our messages as Chat Completions messages (each tool result is its own)."""
    wire: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": r.call_id,
         "content": tool_result_text(r.content, r.is_error)}
        for r in message.tool_results
    ]
    calls = message.tool_calls
    if message.role == "tool" or (not calls and not message.text and wire):
        return wire
    entry: dict[str, Any] = {"role": message.role, "content": message.text}
    if calls:
        entry["content"] = message.text or None
        entry["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in calls
        ]
    return [*wire, entry]


def _tool_fields(request: ChatRequest) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` for a request that offers tools."""
    if not request.tools:
        return {}
    tools = [
        {"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in request.tools
    ]
    choice: Any = request.tool_choice
    if choice not in TOOL_CHOICES:
        choice = {"type": "function", "function": {"name": choice}}
    return {"tools": tools, "tool_choice": choice}


def build_body(model: ModelSpec, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of a chat completion request."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    for message in request.messages:
        messages += wire_messages(message)
    reasoning_openai = model.provider == "openai" and model.supports("reasoning")
    body: dict[str, Any] = {
        "model": model.name,
        "messages": messages,
        ("max_completion_tokens" if reasoning_openai else "max_tokens"): request.max_tokens,
        **_tool_fields(request),
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.json_schema is not None and model.provider == LLAMA_CPP_PROVIDER:
        # llama-cpp-python's server takes the schema this way and enforces it as a grammar
        body["response_format"] = {"type": "json_object", "schema": request.json_schema}
    elif request.json_schema is not None:
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


def read_tool_calls(ctx: CallContext, raw: Any) -> list[ToolCallPart]:
    """A message's ``tool_calls``, arguments parsed from their JSON text."""
    calls: list[ToolCallPart] = []
    for item in raw or []:
        function = item["function"]
        name = text_value(function.get("name"), "tool call name")
        call_id = text_value(item.get("id"), "tool call id")
        arguments = parse_arguments(ctx, name, function.get("arguments"))
        calls.append(ToolCallPart(id=call_id, name=name, arguments=arguments))
    return calls


def _call_delta(item: dict[str, Any]) -> ToolCallDelta:
    """One ``delta.tool_calls[]`` piece as a ToolCallDelta."""
    index = item.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"tool call index is not a non-negative integer: {index!r}")
    function = item.get("function") or {}
    return ToolCallDelta(
        index=index,
        id=text_value(item.get("id"), "tool call id"),
        name=text_value(function.get("name"), "tool call name"),
        arguments=text_value(function.get("arguments"), "tool call arguments"),
    )


def _check_finish(ctx: CallContext, finish: str | None, refusal: str | None, body: str) -> None:
    if finish == "content_filter" or refusal:
        reason = f"refused: {refusal}" if refusal else "finish_reason content_filter"
        raise ctx.error(ContentFiltered, reason, status_code=200, body=body)


def _raise_if_error(ctx: CallContext, payload: Any) -> None:
    """An ``{"error": ...}`` object inside a 200 answer or a stream (no HTTP status to go by)."""
    if isinstance(payload, dict) and "error" in payload and "choices" not in payload:
        raise error_from_payload(ctx, payload, classify)


class _StreamState:
    """What a stream has said so far: text, tool calls, finish reason, usage, citations."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.refusal: list[str] = []
        self.usage = Usage()
        self.citations: list[str] = []
        self.calls = ToolCallAssembler()
        self.done = False

    def absorb(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """Take one chunk in; return the events it adds (text, tool-call pieces, usage)."""
        events: list[StreamEvent] = []
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            self.usage = read_usage(usage)
            events.append(UsageEvent(usage=self.usage))
        if "citations" in chunk or "search_results" in chunk:  # Perplexity's sources
            self.citations = read_citations(chunk) or self.citations
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = text_value(delta.get("content"), "delta.content")
            if text:
                self.parts.append(text)
                events.append(TextDelta(text=text))
            self.refusal.append(text_value(delta.get("refusal"), "delta.refusal"))
            events += [self.calls.add(_call_delta(item)) for item in delta.get("tool_calls") or []]
            self.finish = text_field(choice.get("finish_reason"), "finish_reason") or self.finish
        return events


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
            text = text_value(message.get("content"), "message.content")
            finish = text_field(choice.get("finish_reason"), "finish_reason")
            refusal = text_field(message.get("refusal"), "message.refusal")
            usage = read_usage(payload.get("usage"))
            citations = read_citations(payload)
            calls = read_tool_calls(ctx, message.get("tool_calls"))
        _check_finish(ctx, finish, refusal, text[:500])
        return build_result(ctx, mode=mode, text=text, usage=usage, watch=watch,
                            finish_reason=finish, citations=citations,
                            tool_calls=check_tool_calls(ctx, request, calls))

    async def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming chat completion: text, tool-call and usage events, then StreamDone.

        After ``[DONE]`` the rest of the body is still read, so the connection goes back to the
        pool instead of being closed.
        """
        ctx, watch, state = CallContext.of(client, model), Stopwatch(), _StreamState()
        body = build_body(model, request, stream=True)
        async with aclosing(sse_events(client, ctx, PATH, body, classify)) as events:
            async for event in events:
                if state.done:
                    continue  # drain to the end of the body
                if event.data.strip() == "[DONE]":
                    state.done = True
                    continue
                chunk = event_json(ctx, event)
                _raise_if_error(ctx, chunk)
                with expect_shape(ctx, chunk):
                    produced = state.absorb(chunk)
                for item in produced:
                    if not isinstance(item, UsageEvent):
                        watch.first_token()
                    yield item
        if not (state.done or state.finish):
            raise ctx.error(ConnectionFailed, "stream cut before [DONE] or a finish_reason")
        text = "".join(state.parts)
        _check_finish(ctx, state.finish, "".join(state.refusal), text[:500])
        calls = check_tool_calls(ctx, request, state.calls.calls(ctx))
        yield StreamDone(result=build_result(
            ctx, mode=mode, text=text, usage=state.usage, watch=watch,
            finish_reason=state.finish, citations=state.citations, tool_calls=calls,
        ))
