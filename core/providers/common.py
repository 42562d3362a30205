"""Pieces the three adapters share: timing, sending, SSE reading, JSON parsing, result building."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.pricing import cost_of
from core.providers.http_errors import (
    CallContext,
    Classifier,
    error_from_response,
    transport_errors,
)
from core.providers.sse import SSEEvent, aiter_sse
from core.types import (
    ChatRequest,
    ChatResult,
    Message,
    Mode,
    ToolCallDelta,
    ToolCallPart,
    Usage,
)

_BODY_EXCERPT = 500
MAX_TOKEN_COUNT = 100_000_000
"""No single call reports more tokens than this; a larger count is a malformed answer."""


class Stopwatch:
    """Times one call: total latency and time to the first text token."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._first: float | None = None

    def first_token(self) -> None:
        """Note the first text token (later calls change nothing)."""
        if self._first is None:
            self._first = time.perf_counter()

    def elapsed_ms(self) -> float:
        """Milliseconds since the call started."""
        return (time.perf_counter() - self._start) * 1000.0

    def ttft_ms(self) -> float | None:
        """Milliseconds to the first text token, or None if none came."""
        return None if self._first is None else (self._first - self._start) * 1000.0


def parse_json(ctx: CallContext, text: str, what: str = "body") -> Any:
    """``text`` as JSON, or MalformedResponse quoting an excerpt of it."""
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ctx.malformed(f"{what} is not JSON", body=text[:_BODY_EXCERPT]) from exc


def _no_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON, whatever Python's parser accepts."""
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # built once: a stream parses many
_SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError)


class expect_shape:  # named like contextlib.suppress, which it is used like
    """Turn a missing key or wrong type while reading ``payload`` into MalformedResponse.

    A class rather than a generator-based context manager: streams enter it once per chunk.
    """

    __slots__ = ("_ctx", "_payload")

    def __init__(self, ctx: CallContext, payload: Any) -> None:
        self._ctx, self._payload = ctx, payload

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: object) -> None:
        if exc is None or not isinstance(exc, _SHAPE_ERRORS):
            return  # nothing raised, or not a shape problem: it propagates as it is
        excerpt = json.dumps(self._payload)[:_BODY_EXCERPT]
        raise self._ctx.malformed(f"unexpected response shape ({type(exc).__name__}: {exc})",
                                  body=excerpt) from exc


def count(mapping: Any, *path: str) -> int:
    """A token count at ``path`` inside nested dicts; absent or null counts as 0.

    It must be a whole, finite number between 0 and ``MAX_TOKEN_COUNT`` (``12.0`` is taken as 12);
    anything else raises ValueError, which ``expect_shape`` turns into MalformedResponse.
    """
    value = mapping
    for key in path:
        if not isinstance(value, dict):
            return 0
        value = value.get(key)
    if value is None:
        return 0
    name = ".".join(path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"token count {name} is not a number: {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"token count {name} is not a whole number: {value!r}")
    if not 0 <= value <= MAX_TOKEN_COUNT:
        raise ValueError(f"token count {name} is out of range: {value!r}")
    return int(value)


def text_field(value: Any, what: str) -> str | None:
    """A field that must be a string or absent (finish reasons, ids); else ValueError."""
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{what} is not a string: {value!r}")


def text_value(value: Any, what: str) -> str:
    """A text field that may be absent (``""``) but must otherwise be a string."""
    return text_field(value, what) or ""


def parse_arguments(ctx: CallContext, name: str, raw: Any) -> dict[str, Any]:
    """A tool call's arguments: a JSON object, given as text (``""`` is ``{}``) or as a dict.

    Anything else (text that is not JSON, a JSON array...) is the model's mistake, raised as
    MalformedResponse so the call stack can retry or fall back.
    """
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise ctx.malformed(f"tool call '{name}' has arguments that are not an object",
                            body=json.dumps(raw)[:_BODY_EXCERPT])
    value = parse_json(ctx, raw, what=f"the arguments of tool call '{name}'")
    if not isinstance(value, dict):
        raise ctx.malformed(f"tool call '{name}' has arguments that are not an object",
                            body=raw[:_BODY_EXCERPT])
    return value


def check_tool_calls(
    ctx: CallContext, request: ChatRequest, calls: list[ToolCallPart]
) -> list[ToolCallPart]:
    """``calls``, unless one names a tool the request did not offer (MalformedResponse)."""
    offered = {tool.name for tool in request.tools}
    for call in calls:
        if call.name not in offered:
            known = ", ".join(sorted(offered)) or "none"
            raise ctx.malformed(f"the model called tool '{call.name}', which the request did "
                                f"not offer (offered: {known})", body=call.model_dump_json())
    return calls


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Builds whole tool calls from streamed ``ToolCallDelta`` pieces, keyed by ``index``."""

    def __init__(self) -> None:
        self._calls: dict[int, _PendingCall] = {}

    def add(self, delta: ToolCallDelta) -> ToolCallDelta:
        """Take one piece in (id and name once, arguments appended); return it."""
        pending = self._calls.setdefault(delta.index, _PendingCall())
        pending.id = pending.id or delta.id
        pending.name = pending.name or delta.name
        pending.arguments.append(delta.arguments)
        return delta

    def __len__(self) -> int:
        return len(self._calls)

    def calls(self, ctx: CallContext) -> list[ToolCallPart]:
        """The assembled calls in index order; a call without a name or id is malformed."""
        calls: list[ToolCallPart] = []
        for index in sorted(self._calls):
            pending = self._calls[index]
            if not pending.name or not pending.id:
                raise ctx.malformed(f"streamed tool call {index} came without a name or an id")
            arguments = parse_arguments(ctx, pending.name, "".join(pending.arguments))
            calls.append(ToolCallPart(id=pending.id, name=pending.name, arguments=arguments))
        return calls


def tool_result_text(content: str, is_error: bool) -> str:
    """A tool result as text for protocols without an error flag (OpenAI): errors say so."""
    return f"Error: {content}" if is_error else content


def split_system(request: ChatRequest) -> tuple[str | None, list[Message]]:
    """The system text (``request.system`` plus any system messages) and the other messages."""
    parts = [request.system] if request.system else []
    parts += [m.text for m in request.messages if m.role == "system"]
    others = [m for m in request.messages if m.role != "system"]
    return ("\n\n".join(parts) if parts else None), others


def build_result(
    ctx: CallContext,
    *,
    mode: Mode,
    text: str,
    usage: Usage,
    watch: Stopwatch,
    finish_reason: str | None,
    citations: list[str] | None = None,
    tool_calls: list[ToolCallPart] | None = None,
) -> ChatResult:
    """The ChatResult of a finished call, priced with ``core.pricing.cost_of``."""
    latency = watch.elapsed_ms()
    ttft = watch.ttft_ms()
    return ChatResult(
        model=ctx.model.id,
        provider=ctx.model.provider,
        mode=mode,
        text=text,
        usage=usage,
        cost_usd=cost_of(ctx.model, usage),
        latency_ms=latency,
        ttft_ms=latency if ttft is None else ttft,
        finish_reason=finish_reason,
        citations=citations or [],
        tool_calls=tool_calls or [],
    )


async def post_json(
    client: httpx.AsyncClient,
    ctx: CallContext,
    path: str,
    body: dict[str, Any],
    classify: Classifier,
    params: dict[str, str] | None = None,
) -> Any:
    """POST ``body``, map failures, and return the parsed JSON of a successful answer."""
    with transport_errors(ctx):
        response = await client.post(path, json=body, params=params)
    if not response.is_success:
        raise error_from_response(ctx, response, classify)
    return parse_json(ctx, response.text)


async def sse_events(
    client: httpx.AsyncClient,
    ctx: CallContext,
    path: str,
    body: dict[str, Any],
    classify: Classifier,
    params: dict[str, str] | None = None,
) -> AsyncGenerator[SSEEvent, None]:
    """POST ``body`` and yield the SSE events of the answer; failures are mapped on the way.

    Close it with ``contextlib.aclosing`` so the response is released when the caller stops early.
    """
    headers = {"accept": "text/event-stream"}
    with transport_errors(ctx):
        async with client.stream(
            "POST", path, json=body, params=params, headers=headers
        ) as response:
            if not response.is_success:
                await response.aread()
                raise error_from_response(ctx, response, classify)
            async for event in aiter_sse(response.aiter_text()):
                yield event


def event_json(ctx: CallContext, event: SSEEvent) -> Any:
    """The JSON data of one SSE event, or MalformedResponse."""
    return parse_json(ctx, event.data, what=f"stream event '{event.event}'")


def dedupe(items: list[str]) -> list[str]:
    """Items in first-seen order, each once, empty ones dropped."""
    return list(dict.fromkeys(item for item in items if item))
