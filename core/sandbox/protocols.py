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
from core.sandbox.schema import schema_instance, validation_errors
from core.sandbox.textgen import count_tokens, example_citations, sandbox_text, tokenize

logger = logging.getLogger(__name__)

ErrorKind = Literal[
    "invalid_request",
    "not_found",
    "auth",
    "context_length",
    "rate_limit",
    "server_error",
    "unavailable",
    "overloaded",
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

    ``texts`` are every input text (system and messages, in order); ``topic`` is the last user
    message; ``max_tokens`` is None when the request set no limit.
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

    @property
    def text(self) -> str:
        """The answer text (JSON text for structured answers)."""
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        """Output tokens, one per piece."""
        return len(self.pieces)


def build_answer(config: SandboxConfig, request: ParsedRequest) -> Answer:
    """The deterministic answer to a request: text capped by max_tokens, or a schema instance."""
    model = request.model
    citations: tuple[str, ...] = ()
    if request.live_search:
        citations = tuple(example_citations(config.seed, model.id, request.topic))
    if request.schema is not None:
        instance = schema_instance(request.schema, config.seed, model.id, request.prompt)
        problems = validation_errors(instance, request.schema)
        if problems:
            logger.warning("sandbox: %s instance breaks its schema: %s", model.id, problems[0])
        text = json.dumps(instance, separators=(", ", ": "))
        return Answer(tuple(tokenize(text)), False, instance, True, citations)
    text = sandbox_text(config.seed, model.id, request.prompt, model.tier, request.topic)
    pieces = tokenize(text)
    limit = min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)
    return Answer(tuple(pieces[:limit]), len(pieces) > limit, citations=citations)


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
