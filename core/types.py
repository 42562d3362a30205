"""The request, usage and result types that flow between adapters, gateway, router and ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["live", "sandbox"]
Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class ChatRequest(BaseModel):
    """What we ask a model, independent of the wire protocol.

    ``model`` is a catalog id (``provider:model``). ``json_schema`` asks for structured output
    that validates against that schema. ``live_search`` asks providers that can search the web or
    X (Perplexity, xAI) to do so; ``search_options`` passes vendor options through unchanged.
    """

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[Message]
    system: str | None = None
    max_tokens: int = Field(default=1024, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    json_schema: dict[str, Any] | None = None
    schema_name: str = "result"
    live_search: bool = False
    search_options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, model: str, prompt: str, **kwargs: Any) -> "ChatRequest":
        """A one-message request: the common case."""
        return cls(model=model, messages=[Message(role="user", content=prompt)], **kwargs)


class Usage(BaseModel):
    """Token counts of one call. Cached and reasoning tokens are kept apart; usages add."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


class ChatResult(BaseModel):
    """One completed call: text, usage, cost and timings.

    ``cost_usd`` is None when the model has no known price (shown as unknown, never $0).
    ``ttft_ms`` is the time to the first text token (equal to latency for non-streaming calls).
    """

    model_config = ConfigDict(extra="forbid")

    model: str
    provider: str
    mode: Mode
    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: Decimal | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    finish_reason: str | None = None
    citations: list[str] = Field(default_factory=list)


class TextDelta(BaseModel):
    """A piece of streamed text."""

    model_config = ConfigDict(frozen=True)

    text: str


class StreamDone(BaseModel):
    """The end of a stream, carrying the complete result."""

    model_config = ConfigDict(frozen=True)

    result: ChatResult


StreamEvent = TextDelta | StreamDone


class AttemptRecord(BaseModel):
    """One HTTP attempt as the ledger stores it, failed ones included.

    ``status`` is ``ok``, ``error`` or ``cancelled``. ``run_id``/``task_id`` are empty for calls
    outside a run (``orchestra ask``); ``comparison_id`` groups the answers of one comparison.
    """

    model_config = ConfigDict(extra="forbid")

    attempt_id: str
    run_id: str = ""
    task_id: str = ""
    comparison_id: str = ""
    wave: int = 0
    attempt_no: int = 1
    provider: str
    model: str
    tier: str = ""
    mode: Mode
    status: Literal["ok", "error", "cancelled"]
    error_class: str = ""
    error_message: str = ""
    http_status: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    fallback_from: str = ""
    reason: str = ""
    started_at: float = 0.0  # unix seconds
    ended_at: float = 0.0
    trace_id: str = ""  # OpenTelemetry ids of this attempt's span (hex), empty without tracing
    span_id: str = ""


Complete = Callable[[ChatRequest], Awaitable[ChatResult]]
"""An async ``ChatRequest -> ChatResult`` callable (the gateway's ``complete`` or a resilient one)."""
