"""Refine: an evaluator–optimizer loop. A generator drafts, an evaluator judges, the generator
revises with the evaluator's feedback, until the draft passes or a limit is reached.

The evaluator's verdict is structured output ``{score, passed, feedback}`` parsed through
``VERDICT_SCHEMA``. **Scores are on a 0–1 scale** (1 = fully meets the task) and ``threshold``
uses the same scale. A malformed verdict is retried once, then the loop stops with
``stop_reason="evaluator_failed"``: a verdict that cannot be read never counts as a pass.

The loop stops at the first of: the evaluator says ``passed`` (``passed``), the score reaches
``threshold`` (``threshold``), ``max_rounds`` drafts (``max_rounds``), the cost cap
(``cost_cap``: no new round starts once the spend plus the last round's cost would pass it), or
a failed call (``generator_failed`` / ``evaluator_failed``). Every round is kept.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError
from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.patterns.common import (
    DEFAULT_MAX_TOKENS,
    ModelAnswer,
    PatternRecord,
    RecordHook,
    StructuredOutputError,
    all_attempts,
    call_model,
    check_models,
    emit_record,
    new_id,
    one_line,
    structured_call,
    total_cost,
    total_usage,
)
from core.types import ChatRequest, Message, Usage

StopReason = Literal[
    "passed", "threshold", "max_rounds", "cost_cap", "generator_failed", "evaluator_failed"
]
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "passed": {"type": "boolean"},
        "feedback": {"type": "array", "items": {"type": "string"}, "maxItems": 12},
    },
    "required": ["score", "passed", "feedback"],
    "additionalProperties": False,
}
EVALUATOR_SYSTEM = (
    "You review a draft answer to a task. Score how well it meets the task from 0 to 1 "
    "(1 = fully correct and complete), say whether it passes, and list concrete, actionable "
    "points to fix (an empty list if there is nothing to fix)."
)


class Verdict(BaseModel):
    """The evaluator's judgement of one draft (score on a 0–1 scale)."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0, le=1)
    passed: bool
    feedback: list[str]


class RefineRound(BaseModel):
    """One round: the draft, the evaluator's verdict (None if it failed), cost and latency."""

    model_config = ConfigDict(extra="forbid")

    round: int
    draft: ModelAnswer
    verdict: Verdict | None = None
    evaluations: list[ModelAnswer] = Field(default_factory=list)
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0


class RefineResult(BaseModel):
    """The whole loop: every round, the final draft, why it stopped and what it cost."""

    model_config = ConfigDict(extra="forbid")

    comparison_id: str
    prompt: str
    generator: str
    evaluator: str
    threshold: float
    rounds: list[RefineRound]
    final_text: str = ""
    final_score: float | None = None
    passed: bool = False
    stop_reason: StopReason
    error: str = ""
    notes: list[str] = Field(default_factory=list)
    total_cost_usd: Decimal = Decimal(0)
    unpriced_models: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)


class RefineSettings(BaseModel):
    """Limits of a refine loop."""

    model_config = ConfigDict(extra="forbid")

    max_rounds: int = Field(default=3, ge=1, le=20)
    threshold: float = Field(default=0.8, ge=0, le=1)
    cost_cap_usd: Decimal | None = Field(default=None, gt=0)
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1, le=200_000)


def _draft_request(prompt: str, generator: str, previous: RefineRound | None,
                   max_tokens: int) -> ChatRequest:
    messages = [Message(role="user", content=prompt)]
    if previous is not None and previous.verdict is not None:
        points = "\n".join(f"- {p}" for p in previous.verdict.feedback) or "- (no specifics)"
        messages += [
            Message(role="assistant", content=previous.draft.text),
            Message(role="user", content="A reviewer scored this draft "
                    f"{previous.verdict.score:.2f}/1 and asked for these changes:\n{points}\n\n"
                    "Revise the answer to address every point. Reply with the full revised "
                    "answer only."),
        ]
    return ChatRequest(model=generator, messages=messages, max_tokens=max_tokens)


async def _evaluate(stack: CallStack, prompt: str, draft: str, evaluator: str,
                    where: CallContext) -> tuple[Verdict | None, list[ModelAnswer], str]:
    """The verdict on one draft, the evaluator's calls, and an error line if it failed."""
    content = f"## Task\n{prompt}\n\n## Draft\n{draft}\n\nReturn your verdict as JSON."
    try:
        value, calls = await structured_call(
            stack, evaluator, [Message(role="user", content=content)], VERDICT_SCHEMA,
            schema_name="verdict", system=EVALUATOR_SYSTEM, max_tokens=600,
            where=where.but(label="refine: evaluate"),
        )
    except StructuredOutputError as exc:
        return None, exc.answers, one_line(exc)
    if value is None:
        failed = calls[-1]
        return None, calls, f"evaluator {evaluator} failed: {failed.error_class}: {failed.error}"
    return Verdict.model_validate(value), calls, ""


def _notes(stack: CallStack, generator: str, evaluator: str) -> list[str]:
    gen, ev = stack.catalog.model(generator), stack.catalog.model(evaluator)
    if gen.provider == ev.provider:
        return [f"generator and evaluator are both {gen.provider} models; an evaluator from "
                "another provider catches more of the generator's blind spots"]
    return []


def _check_priced(stack: CallStack, settings: RefineSettings, *models: str) -> None:
    if settings.cost_cap_usd is None:
        return
    for model in models:
        if stack.catalog.model(model).price is None:
            raise ConfigError(f"{model} has no known price, so a cost cap cannot be enforced; "
                              "drop --cost-cap or pick a priced model")


def _stop_after(rnd: RefineRound, spent: Decimal, settings: RefineSettings) -> StopReason | None:
    verdict = rnd.verdict
    if verdict is None:
        return "evaluator_failed"
    if verdict.passed:
        return "passed"
    if verdict.score >= settings.threshold:
        return "threshold"
    if rnd.round >= settings.max_rounds:
        return "max_rounds"
    cap = settings.cost_cap_usd
    if cap is not None and spent + rnd.cost_usd > cap:
        return "cost_cap"
    return None


async def _one_round(stack: CallStack, prompt: str, generator: str, evaluator: str, number: int,
                     previous: RefineRound | None, settings: RefineSettings,
                     where: CallContext) -> tuple[RefineRound, str]:
    started = time.perf_counter()
    draft = await call_model(
        stack, _draft_request(prompt, generator, previous, settings.max_tokens),
        where=where.but(label=f"refine: draft {number}"),
    )
    verdict: Verdict | None = None
    calls: list[ModelAnswer] = []
    error = ""
    if draft.ok:
        verdict, calls, error = await _evaluate(stack, prompt, draft.text, evaluator, where)
    else:
        error = f"generator {generator} failed: {draft.error_class}: {draft.error}"
    rnd = RefineRound(
        round=number, draft=draft, verdict=verdict, evaluations=calls,
        cost_usd=total_cost([draft, *calls])[0],
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    return rnd, error


async def refine(
    stack: CallStack,
    prompt: str,
    generator: str,
    evaluator: str,
    *,
    max_rounds: int = 3,
    threshold: float = 0.8,
    cost_cap_usd: Decimal | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    on_record: RecordHook | None = None,
    context: CallContext = CallContext(purpose="pattern"),
) -> RefineResult:
    """Draft with ``generator``, judge with ``evaluator`` (scores 0–1), revise until done.

    Raises ``ConfigError`` for bad limits or an unpriced model under a cost cap; provider
    failures and malformed verdicts end the loop with a ``stop_reason`` and ``error``.
    """
    check_models(stack, [generator, evaluator])
    try:
        settings = RefineSettings(max_rounds=max_rounds, threshold=threshold,
                                  cost_cap_usd=cost_cap_usd, max_tokens=max_tokens)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"refine {first['loc'][0]}: {first['msg']}") from exc
    _check_priced(stack, settings, generator, evaluator)
    comparison_id = new_id()
    where = context.but(comparison_id=comparison_id)
    rounds: list[RefineRound] = []
    spent, stop, error = Decimal(0), None, ""
    while stop is None:
        previous = rounds[-1] if rounds else None
        rnd, error = await _one_round(stack, prompt, generator, evaluator, len(rounds) + 1,
                                      previous, settings, where)
        rounds.append(rnd)
        spent += rnd.cost_usd
        stop = "generator_failed" if not rnd.draft.ok else _stop_after(rnd, spent, settings)
    result = _result(stack, comparison_id, prompt, generator, evaluator, settings, rounds,
                     stop, error)
    emit_record(on_record, PatternRecord(
        comparison_id=comparison_id, kind="refine", prompt=prompt,
        attempts=all_attempts(_calls(rounds)),
        meta={"generator": generator, "evaluator": evaluator, "stop_reason": stop,
              "rounds": len(rounds), "final_score": result.final_score,
              "total_cost_usd": str(result.total_cost_usd)},
    ))
    return result


def _calls(rounds: list[RefineRound]) -> list[ModelAnswer]:
    return [call for rnd in rounds for call in (rnd.draft, *rnd.evaluations)]


def _result(stack: CallStack, comparison_id: str, prompt: str, generator: str, evaluator: str,
            settings: RefineSettings, rounds: list[RefineRound], stop: StopReason,
            error: str) -> RefineResult:
    drafted = [r for r in rounds if r.draft.ok]
    last = drafted[-1] if drafted else None
    cost, unpriced = total_cost(_calls(rounds))
    return RefineResult(
        comparison_id=comparison_id, prompt=prompt, generator=generator, evaluator=evaluator,
        threshold=settings.threshold, rounds=rounds,
        final_text=last.draft.text if last else "",
        final_score=last.verdict.score if last and last.verdict else None,
        passed=stop in ("passed", "threshold"), stop_reason=stop, error=error,
        notes=_notes(stack, generator, evaluator), total_cost_usd=cost,
        unpriced_models=unpriced, usage=total_usage(_calls(rounds)),
    )
