"""What the four patterns share: one model call with timing and a retry, attempt records,
structured (JSON-schema) calls parsed through their schema, cost totals and the record hook.

Every call a pattern makes goes through ``call_model``: it streams or completes one request,
retries once on a retryable ``ProviderError``, and returns a ``ModelAnswer`` that carries the
text (or the error class and a one-line message) and one ``AttemptRecord`` per HTTP try. A
failed model is a value, never an exception, so one failure does not stop the others.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from core.errors import AllModelsFailed, ConfigError, OrchestraError, ProviderError
from core.calls.gateway import Gateway
from core.calls.resilience import RetryPolicy
from core.types import (
    AttemptRecord, ChatRequest, ChatResult, Message, Mode, StreamDone, Usage,
)

if TYPE_CHECKING:
    from core.ledger.writer import Ledger

PatternKind = Literal["compare", "refine", "moa", "vote"]
DeltaCallback = Callable[[str, str], None]
DEFAULT_MAX_TOKENS = 1024
DEFAULT_RETRY = RetryPolicy(base_s=0.25, cap_s=2.0, max_attempts=2)


class StructuredOutputError(OrchestraError):
    """A model's structured reply (a verdict, a vote) did not parse through its JSON schema,
    even after one repair attempt. It is reported, never read as a pass."""

    def __init__(
        self, message: str, *, model: str = "", answers: list["ModelAnswer"] | None = None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.answers = answers or []


class ModelAnswer(BaseModel):
    """One model's answer inside a pattern: its text or its error, timings, usage and cost.

    ``attempt_id`` names the last HTTP try (the one that answered, or the last failure);
    ``attempts`` keeps every try for the ledger and is left out of JSON output.
    """

    model_config = ConfigDict(extra="forbid")

    attempt_id: str
    model: str
    provider: str
    mode: Mode
    text: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: Decimal | None = None
    error_class: str = ""
    error: str = ""
    tries: int = 1
    attempts: list[AttemptRecord] = Field(default_factory=list, exclude=True)
    _exception: ProviderError | None = PrivateAttr(default=None)

    @property
    def ok(self) -> bool:
        """True when the model answered."""
        return not self.error_class

    @property
    def exception(self) -> ProviderError | None:
        """The provider error behind a failed answer (None when it answered)."""
        return self._exception


class PatternRecord(BaseModel):
    """What a pattern hands to its ``on_record`` hook: one comparisons row and its attempts."""

    model_config = ConfigDict(extra="forbid")

    comparison_id: str
    kind: PatternKind
    prompt: str
    attempts: list[AttemptRecord]
    meta: dict[str, Any] = Field(default_factory=dict)


RecordHook = Callable[[PatternRecord], None]


def new_id() -> str:
    """A fresh id for a comparison or an attempt."""
    return uuid.uuid4().hex


def check_models(gateway: Gateway, models: Sequence[str], *, at_least: int = 1) -> list[str]:
    """The model ids without duplicates, each checked against the catalog (``UnknownModel``
    names the fix)."""
    unique = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    for model in unique:
        gateway.catalog.model(model)
    if len(unique) < at_least:
        raise ConfigError(f"give at least {at_least} distinct model(s), e.g. --models a,b")
    return unique


def ledger_recorder(ledger: "Ledger") -> RecordHook:
    """A record hook that writes each pattern as one comparisons row plus its attempts."""

    def record(entry: PatternRecord) -> None:
        ledger.record_comparison(entry.comparison_id, entry.kind, entry.prompt, entry.meta)
        ledger.record_attempts(entry.attempts)

    return record


def one_line(exc: BaseException) -> str:
    """The first line of an error message, kept short for tables and the ledger."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def total_cost(answers: Iterable[ModelAnswer]) -> tuple[Decimal, list[str]]:
    """The summed cost of answers, and the models whose cost is unknown (unpriced)."""
    total, unpriced = Decimal(0), []
    for answer in answers:
        if answer.cost_usd is not None:
            total += answer.cost_usd
        elif answer.ok and answer.model not in unpriced:
            unpriced.append(answer.model)
    return total, unpriced


def total_usage(answers: Iterable[ModelAnswer]) -> Usage:
    """The summed usage of answers."""
    usage = Usage()
    for answer in answers:
        usage = usage + answer.usage
    return usage


def all_attempts(answers: Iterable[ModelAnswer]) -> list[AttemptRecord]:
    """Every HTTP try behind some answers, in order."""
    return [attempt for answer in answers for attempt in answer.attempts]


class _Failure(Protocol):
    model: str
    error_class: str
    error: str


def all_failed(
    what: str, failures: Sequence[_Failure], answers: Sequence[ModelAnswer] = ()
) -> AllModelsFailed:
    """One error for a step whose every model failed: each model's error in the message, each
    provider error behind ``answers`` (default: ``failures`` themselves) kept as a cause."""
    detail = "; ".join(f"{f.model}: {f.error_class}: {f.error}" for f in failures)
    behind = answers or [f for f in failures if isinstance(f, ModelAnswer)]
    causes: list[OrchestraError] = [a.exception for a in behind if a.exception is not None]
    return AllModelsFailed(f"{what}: every model failed ({detail})", causes)


def emit_record(hook: RecordHook | None, record: PatternRecord) -> None:
    """Pass a record to the hook, when there is one."""
    if hook is not None:
        hook(record)


def _attempt(
    request: ChatRequest, gateway: Gateway, *, tags: dict[str, str], attempt_no: int,
    started: float, result: ChatResult | None = None, error: OrchestraError | None = None,
) -> AttemptRecord:
    """The ledger record of one HTTP try, from its result or its error."""
    spec = gateway.catalog.model(request.model)
    usage = result.usage if result else Usage()
    http_status = error.status_code if isinstance(error, ProviderError) else None
    return AttemptRecord(
        attempt_id=new_id(), comparison_id=tags.get("comparison_id", ""),
        reason=tags.get("reason", ""), attempt_no=attempt_no, provider=spec.provider,
        model=spec.id, tier=spec.tier, mode=gateway.mode(spec.provider),
        status="ok" if error is None else "error",
        error_class=type(error).__name__ if error else "",
        error_message=one_line(error) if error else "", http_status=http_status,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens, reasoning_tokens=usage.reasoning_tokens,
        cost_usd=result.cost_usd if result else None,
        latency_ms=result.latency_ms if result else (time.time() - started) * 1000,
        ttft_ms=result.ttft_ms if result else None, started_at=started, ended_at=time.time(),
    )


async def _one_try(
    gateway: Gateway, request: ChatRequest, stream: bool, on_delta: DeltaCallback | None,
    emitted: list[bool],
) -> ChatResult:
    if not stream:
        return await gateway.complete(request)
    async for event in gateway.stream(request):
        if isinstance(event, StreamDone):
            return event.result
        emitted[0] = True
        if on_delta is not None:
            on_delta(request.model, event.text)
    raise AssertionError("a stream ended without StreamDone")  # adapters guarantee one


async def call_model(
    gateway: Gateway, request: ChatRequest, *, stream: bool = False,
    on_delta: DeltaCallback | None = None, retry: RetryPolicy = DEFAULT_RETRY,
    comparison_id: str = "", reason: str = "",
) -> ModelAnswer:
    """One model call with timing and retries; a ``ProviderError`` becomes a failed answer.

    A retryable error is tried again (``retry`` decides how often and how long to wait), unless
    streamed text already reached ``on_delta``: a second stream would repeat it.
    """
    spec = gateway.catalog.model(request.model)
    tags = {"comparison_id": comparison_id, "reason": reason}
    attempts: list[AttemptRecord] = []
    error: ProviderError | None = None
    for attempt_no in range(1, retry.max_attempts + 1):
        started, emitted = time.time(), [False]
        try:
            result = await _one_try(gateway, request, stream, on_delta, emitted)
        except ProviderError as exc:
            error = exc
            attempts.append(_attempt(request, gateway, tags=tags, attempt_no=attempt_no,
                                     started=started, error=exc))
            delay = None if emitted[0] else retry.delay_for(exc, attempt_no)
            if delay is None:
                break
            await asyncio.sleep(delay)
            continue
        attempts.append(_attempt(request, gateway, tags=tags, attempt_no=attempt_no,
                                 started=started, result=result))
        return ModelAnswer(
            attempt_id=attempts[-1].attempt_id, model=spec.id, provider=spec.provider,
            mode=result.mode, text=result.text, latency_ms=result.latency_ms,
            ttft_ms=result.ttft_ms, usage=result.usage, cost_usd=result.cost_usd,
            tries=attempt_no, attempts=attempts,
        )
    assert error is not None
    failed = ModelAnswer(
        attempt_id=attempts[-1].attempt_id, model=spec.id, provider=spec.provider,
        mode=gateway.mode(spec.provider), latency_ms=attempts[-1].latency_ms,
        error_class=error.error_class, error=one_line(error), tries=len(attempts),
        attempts=attempts,
    )
    failed._exception = error
    return failed


def parse_structured(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A reply parsed as JSON (a surrounding code fence is tolerated) and validated against
    ``schema``; ``ValueError`` says what is wrong."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not JSON ({exc.msg} at position {exc.pos})") from exc
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the reply"
        raise ValueError(f"{where}: {exc.message}") from exc
    return value


def _structured_request(
    gateway: Gateway, model: str, messages: list[Message], schema: dict[str, Any], *,
    schema_name: str, system: str | None, max_tokens: int,
) -> ChatRequest:
    """A request for JSON matching ``schema``; a model without native structured output is
    asked for it in the system prompt instead."""
    native = gateway.catalog.model(model).supports("json_schema")
    if not native:
        note = "Reply with JSON only, matching this JSON schema: " + json.dumps(schema)
        system = f"{system}\n\n{note}" if system else note
    return ChatRequest(
        model=model, messages=messages, system=system, max_tokens=max_tokens,
        json_schema=schema if native else None, schema_name=schema_name,
    )


def _mark_malformed(answer: ModelAnswer, problem: str) -> None:
    last = answer.attempts[-1]
    answer.attempts[-1] = last.model_copy(update={
        "status": "error", "error_class": StructuredOutputError.__name__,
        "error_message": problem[:300],
    })


async def structured_call(
    gateway: Gateway, model: str, messages: list[Message], schema: dict[str, Any], *,
    schema_name: str = "result", system: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS, comparison_id: str = "", reason: str = "",
) -> tuple[dict[str, Any] | None, list[ModelAnswer]]:
    """Ask ``model`` for JSON matching ``schema`` and parse the reply through the schema; a
    malformed reply is retried once, with the problem spelled out to the model.

    Returns ``(value, answers)``: ``value`` is None when the model failed (the last answer
    carries the error). Raises ``StructuredOutputError`` (with ``answers``) when both replies
    were malformed: a malformed verdict is never read as a pass.
    """
    request = _structured_request(gateway, model, messages, schema, schema_name=schema_name,
                                  system=system, max_tokens=max_tokens)
    answers: list[ModelAnswer] = []
    problem = ""
    for _ in range(2):
        answer = await call_model(gateway, request, comparison_id=comparison_id, reason=reason)
        answers.append(answer)
        if not answer.ok:
            return None, answers
        try:
            return parse_structured(answer.text, schema), answers
        except ValueError as exc:
            problem = str(exc)
            _mark_malformed(answer, problem)
            repair = Message(
                role="user",
                content=f"That reply was not valid: {problem}. Reply again with JSON only, "
                "matching the schema exactly.",
            )
            request = request.model_copy(update={"messages": [
                *request.messages, Message(role="assistant", content=answer.text or "(empty)"),
                repair,
            ]})
    raise StructuredOutputError(
        f"{model} returned a malformed {schema_name} twice: {problem}",
        model=model, answers=answers,
    )
