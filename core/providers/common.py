"""Pieces the three adapters share: timing, sending, SSE reading, JSON parsing, result building."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
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
from core.types import ChatRequest, ChatResult, Message, Mode, Usage

_BODY_EXCERPT = 500


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
        return json.loads(text)
    except ValueError as exc:
        raise ctx.malformed(f"{what} is not JSON", body=text[:_BODY_EXCERPT]) from exc


@contextmanager
def expect_shape(ctx: CallContext, payload: Any) -> Iterator[None]:
    """Turn a missing key or wrong type while reading ``payload`` into MalformedResponse."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        excerpt = json.dumps(payload)[:_BODY_EXCERPT]
        raise ctx.malformed(f"unexpected response shape ({type(exc).__name__}: {exc})",
                            body=excerpt) from exc


def count(mapping: Any, *path: str) -> int:
    """An integer token count at ``path`` inside nested dicts; absent or null counts as 0."""
    value = mapping
    for key in path:
        if not isinstance(value, dict):
            return 0
        value = value.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"token count {'.'.join(path)} is not a number: {value!r}")
    return int(value)


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
) -> AsyncIterator[SSEEvent]:
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
