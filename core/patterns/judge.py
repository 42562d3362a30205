"""Judge: a model scores answers against a rubric, 1–5, with a reason, as structured output.

The scale is 1–5 so a judge's score is stored as an ordinary rating (``source="judge"``) next
to people's star ratings. Each answer is judged on its own, concurrently (absolute scoring
keeps one answer's position or length from swaying another's score). The verdict is asked for
with a JSON schema and parsed through it; a malformed verdict is retried once, then reported as
that answer's error, never as a score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ConfigError
from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.patterns.common import (
    ModelAnswer,
    StructuredOutputError,
    check_models,
    one_line,
    structured_call,
    total_cost,
)
from core.types import Message

if TYPE_CHECKING:
    from core.ledger.writer import Ledger

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "reason": {"type": "string", "minLength": 1},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}
JUDGE_SYSTEM = (
    "You are a strict, fair judge. Score the answer against the rubric on a 1-5 scale "
    "(1 = fails the rubric, 3 = acceptable, 5 = excellent) and give a one-sentence reason."
)


class JudgeScore(BaseModel):
    """The judge's verdict on one answer: a 1–5 score and its reason, or the error."""

    model_config = ConfigDict(extra="forbid")

    attempt_id: str
    model: str
    score: int | None = None
    reason: str = ""
    error_class: str = ""
    error: str = ""


class JudgeResult(BaseModel):
    """Every verdict of one judging pass and what the judge's calls cost."""

    model_config = ConfigDict(extra="forbid")

    judge_model: str
    rubric: str
    scores: list[JudgeScore]
    judge_calls: list[ModelAnswer] = Field(default_factory=list)
    total_cost_usd: Decimal = Decimal(0)

    @property
    def best(self) -> JudgeScore | None:
        """The highest-scored answer (the first one on a tie), or None if none was scored."""
        scored = [s for s in self.scores if s.score is not None]
        return max(scored, key=lambda s: s.score or 0) if scored else None


def judge_prompt(prompt: str, answer: str, rubric: str) -> str:
    """The judge's user message: the rubric, the question and the answer to score (shared with
    eval suites' ``llm-rubric`` checks)."""
    return (
        f"## Rubric\n{rubric}\n\n## Question\n{prompt}\n\n## Answer to judge\n{answer}\n\n"
        "Return your verdict as JSON: score (integer 1-5) and reason."
    )


async def _judge_one(
    stack: CallStack, prompt: str, answer: ModelAnswer, rubric: str, judge_model: str,
    where: CallContext,
) -> tuple[JudgeScore, list[ModelAnswer]]:
    base = JudgeScore(attempt_id=answer.attempt_id, model=answer.model)
    if not answer.ok:
        return base.model_copy(update={"error_class": "NoAnswer",
                                       "error": "the model did not answer"}), []
    messages = [Message(role="user", content=judge_prompt(prompt, answer.text, rubric))]
    try:
        verdict, calls = await structured_call(
            stack, judge_model, messages, JUDGE_SCHEMA, schema_name="verdict",
            system=JUDGE_SYSTEM, max_tokens=400, where=where,
        )
    except StructuredOutputError as exc:
        return base.model_copy(update={"error_class": type(exc).__name__,
                                       "error": one_line(exc)}), exc.answers
    if verdict is None:
        failed = calls[-1]
        return base.model_copy(update={"error_class": failed.error_class,
                                       "error": failed.error}), calls
    return base.model_copy(update={"score": verdict["score"],
                                   "reason": verdict["reason"].strip()}), calls


async def judge(
    stack: CallStack,
    prompt: str,
    answers: Sequence[ModelAnswer],
    rubric: str,
    judge_model: str,
    *,
    ledger: "Ledger | None" = None,
    context: CallContext = CallContext(purpose="judge"),
) -> JudgeResult:
    """Score each answer 1–5 against ``rubric`` with ``judge_model``.

    The judge's calls go through ``stack`` (recorded there, like every call). With a
    ``ledger``, each score is stored as a rating (``source="judge"``, rater = the judge model,
    note = the reason).
    """
    check_models(stack, [judge_model])
    if not rubric.strip():
        raise ConfigError("a judge needs a rubric: say what a good answer does")
    outcomes = await asyncio.gather(*(
        _judge_one(stack, prompt, answer, rubric, judge_model, context.but(purpose="judge"))
        for answer in answers
    ))
    calls = [call for _, group in outcomes for call in group]
    result = JudgeResult(
        judge_model=judge_model, rubric=rubric, scores=[score for score, _ in outcomes],
        judge_calls=calls, total_cost_usd=total_cost(calls)[0],
    )
    if ledger is not None:
        store_scores(ledger, result)
    return result


def store_scores(ledger: "Ledger", result: JudgeResult) -> None:
    """Store each score as a ``source="judge"`` rating."""
    for score in result.scores:
        if score.score is not None:
            ledger.rate(score.attempt_id, score.score, rater=result.judge_model,
                        source="judge", note=score.reason)
