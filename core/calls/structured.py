"""Structured output: ask for JSON matching a schema, check the answer, repair it once.

``structured_request`` asks natively where the model can (the adapters map
``ChatRequest.json_schema`` to OpenAI ``response_format``, Gemini ``responseSchema`` and an
Anthropic forced tool) and in the system prompt where it cannot. ``schema_validator`` is the
stack's ``validate`` hook: an answer that does not parse through the schema fails its attempt
with ``InvalidOutput`` (recorded as a paid, failed attempt, error class ``InvalidOutput``).
``call_structured`` makes the call and, when the answer was invalid, asks the same model once
more with the problem spelled out; a second invalid answer raises ``InvalidOutput``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.calls.context import CallOutcome, Validator
from core.catalog import Catalog
from core.errors import AllModelsFailed, ConfigError, InvalidOutput, OrchestraError
from core.execution.events import RunEvent
from core.routing.candidates import RouteRequest
from core.routing.router import RouteDecision
from core.types import ChatRequest, ChatResult, Message, Role, TextPart


def parse_json(text: str) -> Any:
    """An answer parsed as JSON (a surrounding code fence is tolerated); ``ValueError`` if not."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at position {exc.pos})") from exc


def check_against(value: Any, schema: dict[str, Any]) -> None:
    """``ValueError`` saying where ``value`` breaks ``schema`` (nothing when it validates)."""
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the answer"
        raise ValueError(f"{where}: {exc.message}") from exc


def load_schema_file(path: Path | str) -> dict[str, Any]:
    """A JSON schema from a ``.json`` file; a one-line ``ConfigError`` says what to fix."""
    target = Path(path)
    try:
        schema = json.loads(target.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"schema file {target}: cannot read it ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"schema file {target} is not JSON ({exc.msg} at line {exc.lineno})") \
            from exc
    if not isinstance(schema, dict):
        raise ConfigError(f"schema file {target} must hold a JSON object (a JSON schema)")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"schema file {target} is not a valid JSON schema: {exc.message}") \
            from exc
    return schema


def structured_request(request: ChatRequest, schema: dict[str, Any],
                       catalog: Catalog) -> ChatRequest:
    """``request`` asking for JSON matching ``schema``: natively when ``request.model`` has the
    ``json_schema`` capability (or no model is pinned: routing then picks one that has it),
    else in the system prompt."""
    if not request.model or catalog.model(request.model).supports("json_schema"):
        return request.model_copy(update={"json_schema": schema})
    note = "Reply with JSON only, matching this JSON schema: " + json.dumps(schema)
    system = f"{request.system}\n\n{note}" if request.system else note
    return request.model_copy(update={"json_schema": None, "system": system})


def schema_validator(schema: dict[str, Any]) -> Validator:
    """The stack's ``validate`` hook for ``schema``: raises ``InvalidOutput`` (keeping the
    rejected, paid answer) when the answer is not JSON matching the schema."""

    def validate(result: ChatResult) -> None:
        try:
            check_against(parse_json(result.text), schema)
        except ValueError as exc:
            raise InvalidOutput(f"the answer does not match its JSON schema: {exc}",
                                result=result, provider=result.provider,
                                model=result.model) from exc

    return validate


def _invalid(error: OrchestraError) -> InvalidOutput | None:
    """The invalid answer behind a failed call, if an invalid answer is why it failed."""
    if isinstance(error, InvalidOutput):
        return error
    if isinstance(error, AllModelsFailed):
        found = [c for c in error.errors if isinstance(c, InvalidOutput)]
        return found[-1] if found else None
    return None


def _message(role: Role, text: str) -> Message:
    return Message(role=role, parts=[TextPart(text=text)])


def repair_request(request: ChatRequest, rejected: InvalidOutput) -> ChatRequest:
    """``request`` followed by the rejected answer and what was wrong with it, pinned to the
    model that gave it."""
    answer = rejected.result.text if rejected.result is not None else ""
    return request.model_copy(update={"model": rejected.model, "messages": [
        *request.messages, _message("assistant", answer or "(empty)"),
        _message("user", f"That reply was not valid: {rejected}. Reply again with JSON only, "
                 "matching the schema exactly."),
    ]})


async def call_structured(stack: CallStack, request: ChatRequest, schema: dict[str, Any], *,
                          route: RouteRequest | None = None,
                          decision: RouteDecision | None = None,
                          context: CallContext = CallContext(), fallback: bool = True,
                          on_event: Callable[[RunEvent], None] | None = None,
                          ) -> tuple[Any, CallOutcome]:
    """One call for JSON matching ``schema``: the parsed value and the call's outcome.

    ``route``, ``decision``, ``context``, ``fallback`` and ``on_event`` are the stack's. An
    invalid answer (after the fallback chain, when ``fallback``) is repaired once on the model
    that gave it; a second invalid answer raises ``InvalidOutput``. Other failures
    (``AllModelsFailed``, ``BudgetExceeded``) propagate as the stack raised them.
    """
    asked = structured_request(request, schema, stack.catalog)
    check = schema_validator(schema)
    try:
        outcome = await stack.call(asked, route, decision=decision, context=context,
                                   fallback=fallback, on_event=on_event, validate=check)
    except (InvalidOutput, AllModelsFailed) as exc:
        rejected = _invalid(exc)
        if rejected is None:
            raise
        try:
            outcome = await stack.call(repair_request(asked, rejected), context=context,
                                       fallback=False, on_event=on_event, validate=check)
        except AllModelsFailed as again:
            second = _invalid(again)
            if second is None:
                raise
            raise InvalidOutput(f"{second.model} answered with invalid JSON twice: {second}",
                                result=second.result, provider=second.provider,
                                model=second.model) from again
    return parse_json(outcome.result.text), outcome
