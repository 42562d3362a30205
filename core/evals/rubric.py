"""``llm-rubric`` grading: the judge scores an answer 1–5 against a rubric, through the stack.

The judge's prompt, system prompt and verdict schema are ``core.patterns.judge``'s, so an eval
rubric and a judged comparison score alike. Each judge call is a pinned call of the call stack
(budgeted, breaker-checked, retried, recorded); a verdict that does not parse through the
schema is asked for once more with the problem spelled out, then reported as a failed check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from core.calls.context import CallOutcome
from core.catalog import Catalog
from core.patterns.common import parse_structured
from core.patterns.judge import JUDGE_SCHEMA, JUDGE_SYSTEM, judge_prompt
from core.types import ChatRequest, Message, Role, TextPart

PinnedCall = Callable[[ChatRequest], Awaitable[CallOutcome]]
JUDGE_MAX_TOKENS = 400


class Verdict(BaseModel):
    """The judge's score (None when it gave no valid verdict), its reason and what it cost."""

    model_config = ConfigDict(extra="forbid")

    score: int | None
    reason: str
    cost_usd: Decimal | None
    attempt_ids: list[str]


def _message(role: Role, text: str) -> Message:
    return Message(role=role, parts=[TextPart(text=text)])


def _request(catalog: Catalog, judge_model: str, prompt: str, answer: str,
             rubric: str) -> ChatRequest:
    system = JUDGE_SYSTEM
    native = catalog.model(judge_model).supports("json_schema")
    if not native:
        system += "\n\nReply with JSON only: {\"score\": 1-5, \"reason\": \"...\"}."
    return ChatRequest(model=judge_model, system=system, max_tokens=JUDGE_MAX_TOKENS,
                       messages=[_message("user", judge_prompt(prompt, answer, rubric))],
                       json_schema=JUDGE_SCHEMA if native else None, schema_name="verdict")


def _add(total: Decimal | None, cost: Decimal | None) -> Decimal | None:
    return None if total is None or cost is None else total + cost


async def grade(call: PinnedCall, catalog: Catalog, judge_model: str, prompt: str, answer: str,
                rubric: str) -> Verdict:
    """Ask ``judge_model`` for a 1–5 verdict on ``answer``; one repair on a malformed verdict.

    A failed judge call (``ProviderError``, ``AllModelsFailed``, ``BudgetExceeded``) propagates
    to the caller.
    """
    request = _request(catalog, judge_model, prompt, answer, rubric)
    cost: Decimal | None = Decimal(0)
    attempt_ids: list[str] = []
    problem = ""
    for _ in range(2):
        outcome = await call(request)
        cost = _add(cost, outcome.result.cost_usd)
        attempt_ids += [a.attempt_id for a in outcome.attempts]
        try:
            value = parse_structured(outcome.result.text, JUDGE_SCHEMA)
        except ValueError as exc:
            problem = str(exc)
            request = request.model_copy(update={"messages": [
                *request.messages,
                _message("assistant", outcome.result.text or "(empty)"),
                _message("user", f"That verdict was not valid: {problem}. Reply again with "
                         "JSON only, matching the schema exactly."),
            ]})
            continue
        return Verdict(score=int(value["score"]), reason=str(value["reason"]).strip(),
                       cost_usd=cost, attempt_ids=attempt_ids)
    return Verdict(score=None, reason=f"the judge gave no valid verdict twice: {problem}",
                   cost_usd=cost, attempt_ids=attempt_ids)
