"""Vote: ask N models the same question for a short answer and take the majority.

Each model answers through a JSON schema (``{answer: string}``, or an enum of the given
choices), parsed through it. Answers are normalised before counting (case, whitespace,
surrounding quotes, trailing punctuation, number spellings like ``1,000`` / ``1000.0``), so
"Paris." and "paris" are one vote. The outcome says how the vote went: ``unanimous``,
``majority`` (more than half of the valid votes), ``plurality`` (most votes, not half) or
``tie`` (no winner; the tied answers are listed). Models that failed are listed apart; if every
model failed, ``AllModelsFailed`` is raised.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ConfigError
from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.patterns.common import (
    ModelAnswer,
    PatternRecord,
    RecordHook,
    StructuredOutputError,
    all_attempts,
    all_failed,
    check_models,
    emit_record,
    new_id,
    one_line,
    structured_call,
    total_cost,
)
from core.types import Message

Outcome = Literal["unanimous", "majority", "plurality", "tie"]
VOTE_SYSTEM = (
    "Answer the question with the shortest correct answer: a word, a number or a short "
    "phrase, with no explanation."
)
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_QUOTES = "\"'`“”‘’"


class Ballot(BaseModel):
    """One model's vote: its raw and normalised answer, or why it has none."""

    model_config = ConfigDict(extra="forbid")

    model: str
    attempt_id: str
    answer: str = ""
    normalised: str = ""
    error_class: str = ""
    error: str = ""


class VoteResult(BaseModel):
    """The ballots, the tally of normalised answers, and the outcome."""

    model_config = ConfigDict(extra="forbid")

    comparison_id: str
    question: str
    choices: list[str] | None = None
    ballots: list[Ballot]
    tally: dict[str, int]
    outcome: Outcome
    winner: str | None
    agreement: float
    tied: list[str] = Field(default_factory=list)
    dissent: dict[str, str] = Field(default_factory=dict)
    failed: list[str] = Field(default_factory=list)
    calls: list[ModelAnswer] = Field(default_factory=list)
    total_cost_usd: Decimal = Decimal(0)


def normalise(answer: str) -> str:
    """The form an answer is counted under: lower case, single spaces, no surrounding quotes
    or trailing punctuation, numbers written one way (``1,000.50`` → ``1000.5``)."""
    text = " ".join(answer.split()).lower().strip(_QUOTES + " ")
    text = text.rstrip(".!?,;:").strip(_QUOTES + " ")
    if _NUMBER.match(text):
        try:
            return format(Decimal(text.replace(",", "")).normalize(), "f")
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return text
    return text


def vote_schema(choices: Sequence[str] | None) -> dict[str, Any]:
    """The JSON schema of one vote: a short free answer, or one of ``choices``."""
    answer: dict[str, Any] = (
        {"type": "string", "enum": list(choices)} if choices
        else {"type": "string", "minLength": 1, "maxLength": 200}
    )
    return {"type": "object", "properties": {"answer": answer}, "required": ["answer"],
            "additionalProperties": False}


async def _ballot(stack: CallStack, question: str, model: str, choices: Sequence[str] | None,
                  where: CallContext) -> tuple[Ballot, list[ModelAnswer]]:
    content = question if not choices else f"{question}\n\nChoose one of: {', '.join(choices)}"
    try:
        value, calls = await structured_call(
            stack, model, [Message(role="user", content=content)], vote_schema(choices),
            schema_name="vote", system=VOTE_SYSTEM, max_tokens=100,
            where=where,
        )
    except StructuredOutputError as exc:
        last = exc.answers[-1]
        return Ballot(model=model, attempt_id=last.attempt_id, error_class=type(exc).__name__,
                      error=one_line(exc)), exc.answers
    last = calls[-1]
    if value is None:
        return Ballot(model=model, attempt_id=last.attempt_id, error_class=last.error_class,
                      error=last.error), calls
    raw = value["answer"].strip()
    return Ballot(model=model, attempt_id=last.attempt_id, answer=raw,
                  normalised=normalise(raw)), calls


def count_votes(ballots: Sequence[Ballot]) -> dict[str, Any]:
    """Tally the valid ballots: outcome, winner (None on a tie), agreement share, the tied
    answers and each dissenting model's answer."""
    valid = [b for b in ballots if not b.error_class]
    tally = Counter(b.normalised for b in valid)
    ranked = tally.most_common()
    top = ranked[0][1]
    leaders = sorted(answer for answer, count in ranked if count == top)
    winner = leaders[0] if len(leaders) == 1 else None
    if winner is None:
        outcome: Outcome = "tie"
    elif top == len(valid):
        outcome = "unanimous"
    else:
        outcome = "majority" if top * 2 > len(valid) else "plurality"
    return {
        "tally": dict(ranked), "outcome": outcome, "winner": winner,
        "agreement": top / len(valid), "tied": leaders if winner is None else [],
        "dissent": {b.model: b.answer for b in valid if winner and b.normalised != winner},
    }


async def vote(
    stack: CallStack,
    question: str,
    models: Sequence[str],
    *,
    choices: Sequence[str] | None = None,
    on_record: RecordHook | None = None,
    context: CallContext = CallContext(purpose="pattern"),
) -> VoteResult:
    """Ask every model ``question`` concurrently and count the normalised answers."""
    models = check_models(stack, models, at_least=2)
    if choices is not None:
        choices = list(dict.fromkeys(c.strip() for c in choices if c.strip()))
        if len(choices) < 2:
            raise ConfigError("give at least two choices, e.g. --choices yes,no")
    comparison_id = new_id()
    where = context.but(comparison_id=comparison_id)
    outcomes = await asyncio.gather(*(
        _ballot(stack, question, model, choices, where) for model in models
    ))
    ballots = [ballot for ballot, _ in outcomes]
    calls = [call for _, group in outcomes for call in group]
    failed = [b.model for b in ballots if b.error_class]
    counted = count_votes(ballots) if len(failed) < len(ballots) else None
    emit_record(on_record, PatternRecord(
        comparison_id=comparison_id, kind="vote", prompt=question, attempts=all_attempts(calls),
        meta={"models": models, "choices": choices, "failed": failed,
              "winner": counted["winner"] if counted else None,
              "outcome": counted["outcome"] if counted else "no_votes"},
    ))
    if counted is None:
        raise all_failed("vote", ballots, calls)
    return VoteResult(
        comparison_id=comparison_id, question=question, choices=choices, ballots=ballots,
        failed=failed, calls=calls, total_cost_usd=total_cost(calls)[0], **counted,
    )
