"""The request, usage and result types that flow between adapters, gateway, router and ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["live", "sandbox"]
CallPurpose = Literal["task", "ask", "pattern", "judge", "planner", "scorer", "eval", "tool_loop"]
"""What a model call was made for (stored on each attempt)."""
Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = str
"""``auto`` (the model decides), ``none``, ``required`` (some tool), or one tool's name."""
TOOL_CHOICES = ("auto", "none", "required")
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class TextPart(BaseModel):
    """Plain text inside a message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["text"] = "text"
    text: str


class ToolCallPart(BaseModel):
    """A model's request to call one tool: ``id`` pairs it with its result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResultPart(BaseModel):
    """What a tool returned (or its error, with ``is_error``), for the call ``call_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    content: str
    is_error: bool = False


Part = Annotated[TextPart | ToolCallPart | ToolResultPart, Field(discriminator="type")]
"""One typed piece of a message (images would be one more member of this union)."""


class Message(BaseModel):
    """One chat message made of typed parts.

    ``Message(role="user", content="hi")`` is shorthand for one text part. Tool results travel
    in a ``tool`` message; a model's tool calls in an ``assistant`` message.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    parts: list[Part] = Field(default_factory=list)

    if TYPE_CHECKING:  # the text shorthand, as type checkers should see it
        def __init__(self, *, role: Role, parts: list[Part] | None = None,
                     content: str | None = None) -> None: ...

    @model_validator(mode="before")
    @classmethod
    def _text_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "content" in data:
            data = dict(data)
            content = data.pop("content")
            if not isinstance(content, str):
                raise ValueError("content must be text; pass parts=[...] for typed parts")
            data["parts"] = [*data.get("parts", []), TextPart(text=content)]
        return data

    @property
    def text(self) -> str:
        """The message's text parts, joined."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls in this message."""
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        """The tool results in this message."""
        return [p for p in self.parts if isinstance(p, ToolResultPart)]


class ToolSpec(BaseModel):
    """A tool a model may call: its name, what it does, and a JSON schema of its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object",
                                                                 "properties": {}})


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
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"

    @model_validator(mode="after")
    def _known_tool_choice(self) -> "ChatRequest":
        names = {t.name for t in self.tools}
        if self.tool_choice not in TOOL_CHOICES and self.tool_choice not in names:
            raise ValueError(f"tool_choice '{self.tool_choice}' is not auto, none, required or "
                             "the name of one of the request's tools")
        return self

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
    tool_calls: list[ToolCallPart] = Field(default_factory=list)
    cached: bool = False  # answered by the response cache: no HTTP request, $0


class TextDelta(BaseModel):
    """A piece of streamed text."""

    model_config = ConfigDict(frozen=True)

    type: Literal["text_delta"] = "text_delta"
    text: str


class ToolCallDelta(BaseModel):
    """A piece of a streamed tool call: ``index`` tells parallel calls apart; ``id`` and ``name``
    arrive with the call's first piece, ``arguments`` is a fragment of its JSON arguments."""

    model_config = ConfigDict(frozen=True)

    type: Literal["tool_call_delta"] = "tool_call_delta"
    index: int = 0
    id: str = ""
    name: str = ""
    arguments: str = ""


class UsageEvent(BaseModel):
    """Token counts reported during a stream (often in its last chunk)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["usage"] = "usage"
    usage: Usage


class StreamDone(BaseModel):
    """The end of a stream, carrying the complete result (tool calls assembled)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["done"] = "done"
    result: ChatResult


StreamEvent = Annotated[TextDelta | ToolCallDelta | UsageEvent | StreamDone,
                        Field(discriminator="type")]
"""What a stream yields, tagged on ``type``; it always ends with one ``StreamDone``."""


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
    purpose: CallPurpose = "task"
    output: str | None = None  # an answered attempt's text: what a resume adopts
    cached: bool = False  # answered by the response cache (no HTTP request, $0)


Complete = Callable[[ChatRequest], Awaitable[ChatResult]]
"""An async ``ChatRequest -> ChatResult`` callable (the gateway's ``complete`` or a resilient one)."""
