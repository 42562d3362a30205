"""Multi-model patterns: compare (fan-out), refine (evaluator–optimizer), mixture-of-agents,
vote, and a rubric judge. Each is an async function taking a ``CallStack`` (so every call is
budgeted, capped, breaker-checked, retried, recorded and traced); each is also a task kind
inside a plan, through ``run_pattern_task``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from core.errors import ConfigError, PatternFailed
from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.patterns.common import (
    ModelAnswer,
    PatternRecord,
    RecordHook,
    StructuredOutputError,
    all_failed,
    ledger_recorder,
    total_usage,
)
from core.patterns.compare import Comparison, compare
from core.patterns.judge import JudgeResult, JudgeScore, judge
from core.patterns.moa import MoAResult, default_aggregator, default_proposers, moa
from core.patterns.refine import RefineResult, refine
from core.patterns.vote import VoteResult, vote
from core.types import Usage

__all__ = [
    "Comparison", "JudgeResult", "JudgeScore", "MoAResult", "ModelAnswer", "PatternFailed",
    "PatternOutput", "PatternRecord", "RecordHook", "RefineResult", "StructuredOutputError",
    "VoteResult", "compare", "default_aggregator", "default_proposers", "judge",
    "ledger_recorder", "moa", "refine", "run_pattern_task", "vote",
]


class PatternOutput(NamedTuple):
    """What a pattern task hands the plan executor: text, cost (None if a model was
    unpriced) and summed usage."""

    text: str
    cost_usd: Decimal | None
    usage: Usage


def _cost(total: Decimal, unpriced: Sequence[str]) -> Decimal | None:
    return None if unpriced else total


async def _compare_task(prompt: str, stack: CallStack, models: list[str],
                        hook: RecordHook | None, where: CallContext) -> PatternOutput:
    result = await compare(stack, prompt, models, on_record=hook, context=where)
    if not result.answered:
        raise all_failed("compare", result.results)
    parts = [f"## {a.model}\n{a.text}" for a in result.answered]
    parts += [f"## {a.model}\n(failed: {a.error_class}: {a.error})" for a in result.failed]
    return PatternOutput("\n\n".join(parts), _cost(result.total_cost_usd, result.unpriced_models),
                         result.usage)


async def _refine_task(prompt: str, stack: CallStack, models: list[str],
                       hook: RecordHook | None, where: CallContext) -> PatternOutput:
    if len(models) < 2:
        models = [*models, *default_proposers(stack)]
    generator = models[0]
    evaluator = next((m for m in models[1:] if m != generator), models[1])
    result = await refine(stack, prompt, generator, evaluator, on_record=hook, context=where)
    if result.stop_reason in ("generator_failed", "evaluator_failed"):
        raise PatternFailed(f"refine stopped: {result.error}")
    return PatternOutput(result.final_text, _cost(result.total_cost_usd, result.unpriced_models),
                         result.usage)


async def _moa_task(prompt: str, stack: CallStack, models: list[str],
                    hook: RecordHook | None, where: CallContext) -> PatternOutput:
    result = await moa(stack, prompt, proposers=models or None, on_record=hook, context=where)
    return PatternOutput(result.final_text, _cost(result.total_cost_usd, result.unpriced_models),
                         result.usage)


async def _vote_task(prompt: str, stack: CallStack, models: list[str],
                     hook: RecordHook | None, where: CallContext) -> PatternOutput:
    result = await vote(stack, prompt, models or default_proposers(stack), on_record=hook,
                        context=where)
    votes = sum(result.tally.values())
    if result.winner is None:
        text = f"No majority: tied between {', '.join(result.tied)} ({votes} votes)."
    else:
        text = (f"{result.winner}\n\n({result.outcome}: {result.tally[result.winner]} of "
                f"{votes} votes)")
    unpriced = [c.model for c in result.calls if c.ok and c.cost_usd is None]
    return PatternOutput(text, _cost(result.total_cost_usd, unpriced), total_usage(result.calls))


_RUNNERS = {"compare": _compare_task, "refine": _refine_task, "moa": _moa_task,
            "vote": _vote_task}


async def run_pattern_task(
    kind: str,
    prompt: str,
    stack: CallStack,
    *,
    models: Sequence[str] | None = None,
    on_record: RecordHook | None = None,
    context: CallContext = CallContext(),
) -> PatternOutput:
    """Run a ``compare``/``refine``/``moa``/``vote`` plan task and return its text, cost and
    usage. ``models`` are the task's models (refine: generator then evaluator); without them
    the catalog defaults are used. Raises ``PatternFailed``/``AllModelsFailed`` when no usable
    answer came back.
    """
    runner = _RUNNERS.get(kind)
    if runner is None:
        raise ConfigError(f"'{kind}' is not a pattern; patterns are: {', '.join(_RUNNERS)}")
    chosen = list(models or [])
    if kind == "compare" and not chosen:
        chosen = default_proposers(stack)
    return await runner(prompt, stack, chosen, on_record, context.but(purpose="pattern"))
