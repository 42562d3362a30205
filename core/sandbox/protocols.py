"""What the three sandboxed wire protocols share: the parsed request, the answer, the contract.

Each protocol (``openai_chat``, ``anthropic_messages``, ``gemini_generate``) parses its request
body into a ``ParsedRequest``, and renders an ``Answer`` as a JSON body or as SSE frames, plus
errors in its vendor's real error shape. ``core.sandbox.app`` drives them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from core.catalog import ModelSpec
from core.sandbox.config import SandboxConfig
from core.sandbox.schema import SchemaProblem, check_schema, schema_instance, validation_errors
from core.sandbox.textgen import answer_text, count_tokens, example_citations, tokenize
from core.sandbox.tools import (
    OfferedTool,
    PlannedCall,
    ToolOutcome,
    answer_from_results,
    plan_calls,
)

logger = logging.getLogger(__name__)
STREAM_PIECE_TOKENS = 3  # tokens per streamed piece of a tool call's arguments

ErrorKind = Literal[
    "invalid_request",
    "not_found",
    "auth",
    "context_length",
    "rate_limit",
    "server_error",
    "unavailable",
    "overloaded",
    "timeout",
]


class SandboxHTTPError(Exception):
    """A request the sandbox answers with an error status, rendered in the vendor's shape."""

    def __init__(self, status: int, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ParsedRequest:
    """A request reduced to what the sandbox needs, whatever the protocol.

    ``texts`` are every input text (system and messages, in order, tool calls' arguments and
    results included); ``topic`` is the last user message; ``max_tokens`` is None when the
    request set no limit. ``tools`` are the tools offered (``tool_choice`` ``auto``, ``none``,
    ``required`` or a name) and ``tool_results`` the results the last turn sends back.
    """

    model: ModelSpec
    wire_model: str
    texts: tuple[str, ...]
    topic: str
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False
    schema: dict[str, Any] | None = None
    schema_name: str = "result"
    live_search: bool = False
    tools: tuple[OfferedTool, ...] = ()
    tool_choice: str = "auto"
    tool_results: tuple[ToolOutcome, ...] = ()
    call_id_prefix: str = "call_"

    @cached_property
    def prompt(self) -> str:
        """Every input text joined: the key of the deterministic answer."""
        return "\n".join(self.texts)

    @cached_property
    def input_tokens(self) -> int:
        """Input tokens, counted with the sandbox tokenizer."""
        return sum(count_tokens(text) for text in self.texts)


@dataclass(frozen=True)
class Answer:
    """The generated answer as tokens; structured answers hold the instance too."""

    pieces: tuple[str, ...]
    truncated: bool = False
    structured: Any = None
    is_structured: bool = False
    citations: tuple[str, ...] = ()
    tool_calls: tuple[PlannedCall, ...] = ()
    filtered: bool = False

    @property
    def text(self) -> str:
        """The answer text (JSON text for structured answers)."""
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        """Output tokens, one per piece."""
        return len(self.pieces)


def build_answer(config: SandboxConfig, request: ParsedRequest) -> Answer:
    """The deterministic answer to a request: text capped by max_tokens, a schema instance, tool
    calls (``core.sandbox.tools``), or the answer drawn from the tool results sent back."""
    model = request.model
    citations: tuple[str, ...] = ()
    if request.live_search:
        citations = tuple(example_citations(config.seed, model.id, request.topic))
    if request.schema is None and request.tools and not request.tool_results:
        prefix = response_id(request.call_id_prefix, request) + "_"
        calls = plan_calls(request.tools, request.tool_choice, request.topic, config.seed, prefix)
        if calls:
            spoken = "".join(call.name + call.arguments_json for call in calls)
            return Answer(tuple(tokenize(spoken)), tool_calls=calls)
    if request.schema is not None:
        instance = _asked_instance(config, request)
        if instance is None:
            instance = schema_instance(request.schema, config.seed, model.id, request.prompt)
        problems = validation_errors(instance, request.schema)
        if problems:
            logger.warning("sandbox: %s instance breaks its schema: %s", model.id, problems[0])
        text = json.dumps(instance, separators=(", ", ": "))
        return Answer(tuple(tokenize(text)), False, instance, True, citations)
    if request.tool_results:
        text = answer_from_results(request.tool_results)
    else:
        text = answer_text(config.text, config.seed, model.id, request.prompt, model.tier,
                           request.topic, request.max_tokens)
    pieces = tokenize(text)
    limit = min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)
    return Answer(tuple(pieces[:limit]), len(pieces) > limit, citations=citations)


def _asked_instance(config: SandboxConfig, request: ParsedRequest) -> Any:
    """A forced tool's arguments when the prompt plainly asks for what it does, else None."""
    if request.tool_choice not in {tool.name for tool in request.tools}:
        return None
    calls = plan_calls(request.tools, request.tool_choice, request.topic, config.seed, "",
                       fallback=False)
    return calls[0].arguments if calls else None


def refused(answer: Answer) -> Answer:
    """The answer cut short by a content filter: its first few tokens, then the refusal."""
    return Answer(answer.pieces[:4] if not answer.is_structured else (), filtered=True)


def response_id(prefix: str, request: ParsedRequest) -> str:
    """A stable id for a response, marked as a sandbox one."""
    digest = hashlib.blake2b(f"{request.model.id}\x1f{request.prompt}".encode(), digest_size=8)
    return f"{prefix}sandbox_{digest.hexdigest()}"


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event frame carrying JSON data (or a literal string)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def text_of(content: Any) -> list[str]:
    """The text pieces of a message content: a string, or a list of typed parts."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
    return texts


def call_pieces(call: PlannedCall, size: int) -> list[str]:
    """A call's arguments JSON cut into pieces of ``size`` tokens, as a model streams them."""
    tokens = tokenize(call.arguments_json)
    return ["".join(tokens[i:i + size]) for i in range(0, len(tokens), size)] or [""]


def offered_tool(name: Any, description: Any, schema: Any, where: str) -> OfferedTool:
    """One offered tool, checked as the vendor checks it (a 400 naming ``where`` otherwise)."""
    require(isinstance(name, str) and bool(name), f"{where}.name: Field required")
    require(isinstance(schema, dict), f"{where}: the parameters schema must be an object")
    try:
        check_schema(schema)
    except SchemaProblem as exc:
        raise SandboxHTTPError(400, "invalid_request", f"{where}: {exc}") from exc
    return OfferedTool(str(name), description if isinstance(description, str) else "", schema)


def known_choice(choice: str, tools: tuple[OfferedTool, ...], where: str) -> str:
    """``choice`` if it is auto/none/required or names an offered tool (a 400 otherwise)."""
    names = {tool.name for tool in tools}
    require(choice in ("auto", "none", "required") or choice in names,
            f"{where}: no tool named '{choice}' was offered")
    return choice


def require(condition: bool, message: str) -> None:
    """Raise a 400 ``invalid_request`` unless ``condition`` holds."""
    if not condition:
        raise SandboxHTTPError(400, "invalid_request", message)


def positive_int(value: Any, name: str) -> int | None:
    """A request's token limit: None when absent, else a positive integer (400 otherwise)."""
    if value is None:
        return None
    require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"{name}: must be a positive integer")
    return int(value)


class WireProtocol:
    """The contract each sandboxed protocol fulfils (see the module docstring)."""

    name: str = ""

    def wire_model(self, body: dict[str, Any], path_model: str | None) -> str:
        """The model name the request asks for (from the body, or the path for Gemini)."""
        raise NotImplementedError

    def parse(
        self, body: dict[str, Any], model: ModelSpec, wire_model: str, stream: bool
    ) -> ParsedRequest:
        """The request reduced to a ``ParsedRequest``; ``SandboxHTTPError`` when it is invalid."""
        raise NotImplementedError

    def error_body(
        self, status: int, kind: ErrorKind, message: str, retry_after: float | None = None
    ) -> dict[str, Any]:
        """An error body in the vendor's shape (``retry_after`` for bodies that carry it)."""
        raise NotImplementedError

    def unknown_model_message(self, wire_model: str) -> str:
        """The vendor's message for a model it does not serve."""
        raise NotImplementedError

    def context_message(self, input_tokens: int, max_tokens: int, window: int) -> str:
        """The vendor's message when input plus output exceeds the context window."""
        raise NotImplementedError

    def complete_body(self, request: ParsedRequest, answer: Answer) -> dict[str, Any]:
        """The non-streaming response body."""
        raise NotImplementedError

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        """Frames sent before the first token."""
        raise NotImplementedError

    def stream_delta(self, request: ParsedRequest, answer: Answer, text: str, sent: int) -> bytes:
        """One frame carrying ``text``; ``sent`` counts output tokens sent so far, this included."""
        raise NotImplementedError

    def stream_end(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        """Frames sent after the last token (finish reason, usage, terminator)."""
        raise NotImplementedError

    def stream_tool_calls(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        """The frames of a tool-call answer between ``stream_start`` and ``stream_end``."""
        raise NotImplementedError
