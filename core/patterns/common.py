"""What the four patterns share: one model call through the call stack, structured
(JSON-schema) calls checked through their schema, cost totals and the record hook.

Every call a pattern makes goes through ``call_model``, which calls the given model through the
session's ``CallStack`` (budget, breaker, concentration cap, retries, ledger record, trace) with
no fallback, and returns a ``ModelAnswer`` that carries the text (or the error class and a
one-line message) and the ``AttemptRecord`` of each HTTP try. A failed model is a value, never
an exception, so one failure does not stop the others.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.calls.context import Validator
from core.catalog import ModelSpec
from core.errors import AllModelsFailed, ConfigError, InvalidOutput, OrchestraError, ProviderError
from core.types import AttemptRecord, ChatRequest, ChatResult, Message, Mode, Usage

if TYPE_CHECKING:
    from core.ledger.writer import Ledger

PatternKind = Literal["compare", "refine", "moa", "vote"]
DeltaCallback = Callable[[str, str], None]
DEFAULT_MAX_TOKENS = 1024


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


def check_models(stack: CallStack, models: Sequence[str], *, at_least: int = 1) -> list[str]:
    """The model ids without duplicates, each checked against the catalog (``UnknownModel``
    names the fix)."""
    unique = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    for model in unique:
        stack.catalog.model(model)
    if len(unique) < at_least:
        raise ConfigError(f"give at least {at_least} distinct model(s), e.g. --models a,b")
    return unique


def ledger_recorder(ledger: "Ledger") -> RecordHook:
    """A record hook that writes each pattern as one comparisons row (its attempts were
    recorded by the call stack as they ended)."""

    def record(entry: PatternRecord) -> None:
        ledger.record_comparison(entry.comparison_id, entry.kind, entry.prompt, entry.meta)

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


async def call_model(
    stack: CallStack, request: ChatRequest, *, where: CallContext,
    stream: bool = False, on_delta: DeltaCallback | None = None,
    validate: Validator | None = None,
) -> ModelAnswer:
    """One call to the request's model through the call stack (budget, breaker, cap, retries,
    record, trace), with no fallback to another model: a pattern compares the models it was
    given. A provider failure becomes a failed answer; ``BudgetExceeded`` propagates (the
    pattern cannot go on within its budget)."""
    spec = stack.catalog.model(request.model)
    forward = (lambda text: on_delta(spec.id, text)) if on_delta is not None else None
    try:
        outcome = await stack.call(request, context=where, stream=stream, on_delta=forward,
                                   fallback=False, validate=validate)
    except AllModelsFailed as exc:
        return _failed_answer(stack, spec, exc)
    result, attempts = outcome.result, outcome.attempts
    return ModelAnswer(
        attempt_id=attempts[-1].attempt_id, model=spec.id, provider=spec.provider,
        mode=result.mode, text=result.text, latency_ms=result.latency_ms,
        ttft_ms=result.ttft_ms, usage=result.usage, cost_usd=result.cost_usd,
        tries=len(attempts), attempts=attempts,
    )


def _failed_answer(stack: CallStack, spec: ModelSpec, exc: AllModelsFailed) -> ModelAnswer:
    """The answer of a model that failed (or was passed over: breaker open, unavailable)."""
    cause = exc.errors[-1] if exc.errors else None
    error = cause if isinstance(cause, ProviderError) else None
    attempts = exc.attempts
    failed = ModelAnswer(
        attempt_id=attempts[-1].attempt_id if attempts else new_id(), model=spec.id,
        provider=spec.provider, mode=stack.mode(spec.provider),
        latency_ms=attempts[-1].latency_ms if attempts else 0.0,
        error_class=error.error_class if error else "NotCalled",
        error=one_line(error) if error else one_line(exc), tries=len(attempts),
        attempts=attempts,
    )
    if isinstance(error, InvalidOutput) and error.result is not None:  # answered, paid, rejected
        failed.usage, failed.cost_usd = error.result.usage, error.result.cost_usd
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
        value: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not JSON ({exc.msg} at position {exc.pos})") from exc
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the reply"
        raise ValueError(f"{where}: {exc.message}") from exc
    if not isinstance(value, dict):
        raise ValueError("the reply is not a JSON object")
    return value


def _structured_request(
    stack: CallStack, model: str, messages: list[Message], schema: dict[str, Any], *,
    schema_name: str, system: str | None, max_tokens: int,
) -> ChatRequest:
    """A request for JSON matching ``schema``; a model without native structured output is
    asked for it in the system prompt instead."""
    native = stack.catalog.model(model).supports("json_schema")
    if not native:
        note = "Reply with JSON only, matching this JSON schema: " + json.dumps(schema)
        system = f"{system}\n\n{note}" if system else note
    return ChatRequest(
        model=model, messages=messages, system=system, max_tokens=max_tokens,
        json_schema=schema if native else None, schema_name=schema_name,
    )


def schema_check(schema: dict[str, Any]) -> Validator:
    """A validator that rejects an answer not parsing through ``schema`` (``InvalidOutput``)."""

    def check(result: ChatResult) -> None:
        try:
            parse_structured(result.text, schema)
        except ValueError as exc:
            raise InvalidOutput(str(exc), result=result, provider=result.provider,
                                model=result.model) from exc

    return check


async def structured_call(
    stack: CallStack, model: str, messages: list[Message], schema: dict[str, Any], *,
    where: CallContext, schema_name: str = "result", system: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> tuple[dict[str, Any] | None, list[ModelAnswer]]:
    """Ask ``model`` for JSON matching ``schema``, checked inside its attempt; a malformed
    reply (recorded as a failed, paid attempt) is repaired once, with the problem spelled out.

    Returns ``(value, answers)``: ``value`` is None when the model failed (the last answer
    carries the error). Raises ``StructuredOutputError`` (with ``answers``) when both replies
    were malformed: a malformed verdict is never read as a pass.
    """
    request = _structured_request(stack, model, messages, schema, schema_name=schema_name,
                                  system=system, max_tokens=max_tokens)
    answers: list[ModelAnswer] = []
    problem = ""
    for _ in range(2):
        answer = await call_model(stack, request, where=where, validate=schema_check(schema))
        answers.append(answer)
        if answer.ok:
            return parse_structured(answer.text, schema), answers
        invalid = answer.exception
        if not isinstance(invalid, InvalidOutput) or invalid.result is None:
            return None, answers
        problem = str(invalid)
        repair = Message(role="user", content=f"That reply was not valid: {problem}. Reply "
                         "again with JSON only, matching the schema exactly.")
        request = request.model_copy(update={"messages": [
            *request.messages,
            Message(role="assistant", content=invalid.result.text or "(empty)"), repair,
        ]})
    raise StructuredOutputError(
        f"{model} returned a malformed {schema_name} twice: {problem}",
        model=model, answers=answers,
    )
