"""Mixture-of-agents: proposers answer in layers, an aggregator synthesises the last layer.

Layer 1's proposers answer the prompt concurrently; each further layer's proposers see the
previous layer's answers and improve on them; the aggregator writes the final answer from the
last layer. A failing proposer is dropped with a note (if a whole layer fails, layer 1 raises
``AllModelsFailed`` and a later layer keeps the previous layer's answers); a failing aggregator
falls back to other models of its tier, and only when all of them fail is ``AllModelsFailed``
raised. Cost and latency are recorded per layer.

Defaults come from the catalog: three proposers of the balanced/economy tiers on different
providers, and a balanced (else premium) aggregator, preferring providers that are live.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from core.catalog import ModelSpec, Tier
from core.errors import ConfigError
from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.patterns.common import (
    DEFAULT_MAX_TOKENS,
    ModelAnswer,
    PatternRecord,
    RecordHook,
    all_attempts,
    all_failed,
    call_model,
    check_models,
    emit_record,
    new_id,
    total_cost,
    total_usage,
)
from core.types import ChatRequest, Usage

AGGREGATOR_SYSTEM = (
    "You have been given responses from several models to the user's request. Critically "
    "evaluate them: some may be biased or wrong. Synthesise them into one accurate, complete, "
    "well-structured answer. Do not simply copy one response or mention that there were several."
)
MAX_AGGREGATOR_FALLBACKS = 2


class MoALayer(BaseModel):
    """One layer of proposers: their answers, what it cost and how long it took."""

    model_config = ConfigDict(extra="forbid")

    layer: int
    answers: list[ModelAnswer]
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0


class MoAResult(BaseModel):
    """The proposers' layers, the aggregation, notes on anything dropped, and the totals."""

    model_config = ConfigDict(extra="forbid")

    comparison_id: str
    prompt: str
    proposers: list[str]
    aggregator: str
    layers: list[MoALayer]
    aggregation: ModelAnswer
    aggregator_tries: list[ModelAnswer] = Field(default_factory=list)
    final_text: str
    notes: list[str] = Field(default_factory=list)
    total_cost_usd: Decimal = Decimal(0)
    unpriced_models: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    wall_ms: float = 0.0


def _ranked(stack: CallStack, tiers: Sequence[Tier]) -> list[ModelSpec]:
    """Models of ``tiers``, live providers first, then by tier order, then catalog order;
    local providers that are not configured are left out."""
    order = list(stack.catalog.models.values())
    pool = [m for m in order if m.tier in tiers and stack.available(m.provider)
            and not (stack.catalog.providers[m.provider].local
                     and stack.mode(m.provider) == "sandbox")]
    return sorted(pool, key=lambda m: (stack.mode(m.provider) != "live",
                                       tiers.index(m.tier), order.index(m)))


def default_proposers(stack: CallStack, count: int = 3) -> list[str]:
    """``count`` balanced/economy models, each on a different provider."""
    chosen: dict[str, str] = {}
    for model in _ranked(stack, ("balanced", "economy")):
        chosen.setdefault(model.provider, model.id)
        if len(chosen) == count:
            break
    return list(chosen.values())


def default_aggregator(stack: CallStack) -> str:
    """A balanced (else premium) model, preferring a live provider."""
    ranked = _ranked(stack, ("balanced", "premium"))
    if not ranked:
        raise ConfigError("the catalog has no balanced or premium model to aggregate with")
    return ranked[0].id


def _aggregator_chain(stack: CallStack, aggregator: str) -> list[str]:
    tier = stack.catalog.model(aggregator).tier
    others = [m.id for m in _ranked(stack, (tier,)) if m.id != aggregator]
    return [aggregator, *others[:MAX_AGGREGATOR_FALLBACKS]]


def _with_answers(prompt: str, answers: Sequence[ModelAnswer]) -> str:
    listed = "\n\n".join(f"### Response {i}\n{a.text}" for i, a in enumerate(answers, 1))
    return f"{prompt}\n\n## Responses from other models\n\n{listed}"


async def _layer(stack: CallStack, number: int, prompt: str, proposers: Sequence[str],
                 previous: Sequence[ModelAnswer], max_tokens: int,
                 where: CallContext) -> MoALayer:
    started = time.perf_counter()
    text = _with_answers(prompt, previous) if previous else prompt
    system = AGGREGATOR_SYSTEM if previous else None
    answers = await asyncio.gather(*(
        call_model(stack, ChatRequest.of(m, text, system=system, max_tokens=max_tokens),
                   where=where.but(label=f"moa: layer {number}"))
        for m in proposers
    ))
    return MoALayer(layer=number, answers=list(answers), cost_usd=total_cost(answers)[0],
                    latency_ms=(time.perf_counter() - started) * 1000)


async def _aggregate(stack: CallStack, chain: Sequence[str], prompt: str,
                     answers: Sequence[ModelAnswer], max_tokens: int, where: CallContext,
                     notes: list[str]) -> list[ModelAnswer]:
    tries: list[ModelAnswer] = []
    for model in chain:
        request = ChatRequest.of(model, _with_answers(prompt, answers), system=AGGREGATOR_SYSTEM,
                                 max_tokens=max_tokens)
        answer = await call_model(stack, request, where=where.but(label="moa: aggregate"))
        tries.append(answer)
        if answer.ok:
            return tries
        notes.append(f"aggregator {model} failed ({answer.error_class}: {answer.error})")
    return tries


async def _run_layers(stack: CallStack, prompt: str, proposers: Sequence[str], layers: int,
                      max_tokens: int, where: CallContext,
                      notes: list[str]) -> tuple[list[MoALayer], list[ModelAnswer]]:
    """Every layer run, and the answers the aggregator will see (none if layer 1 all failed)."""
    done: list[MoALayer] = []
    carried: list[ModelAnswer] = []
    for number in range(1, layers + 1):
        layer = await _layer(stack, number, prompt, proposers, carried, max_tokens, where)
        done.append(layer)
        for failed in (a for a in layer.answers if not a.ok):
            notes.append(f"layer {number}: dropped {failed.model} "
                         f"({failed.error_class}: {failed.error})")
        answered = [a for a in layer.answers if a.ok]
        if answered:
            carried = answered
        elif number == 1:
            break
        else:
            notes.append(f"layer {number}: every proposer failed; kept layer {number - 1}")
    return done, carried


async def moa(
    stack: CallStack,
    prompt: str,
    *,
    proposers: Sequence[str] | None = None,
    aggregator: str | None = None,
    layers: int = 1,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    on_record: RecordHook | None = None,
    context: CallContext = CallContext(purpose="pattern"),
) -> MoAResult:
    """Answer ``prompt`` with a mixture of agents (see the module docstring)."""
    if not 1 <= layers <= 5:
        raise ConfigError("layers must be between 1 and 5")
    proposers = check_models(stack, proposers or default_proposers(stack))
    aggregator = check_models(stack, [aggregator or default_aggregator(stack)])[0]
    comparison_id, notes = new_id(), list[str]()
    where = context.but(comparison_id=comparison_id)
    started = time.perf_counter()

    def record(calls: list[ModelAnswer], used: str) -> None:
        emit_record(on_record, PatternRecord(
            comparison_id=comparison_id, kind="moa", prompt=prompt,
            attempts=all_attempts(calls),
            meta={"proposers": proposers, "aggregator": used, "layers": layers,
                  "notes": notes, "total_cost_usd": str(total_cost(calls)[0])},
        ))

    done, carried = await _run_layers(stack, prompt, proposers, layers, max_tokens,
                                      where, notes)
    if not carried:
        record(done[0].answers, aggregator)
        raise all_failed("mixture-of-agents layer 1", done[0].answers)
    tries = await _aggregate(stack, _aggregator_chain(stack, aggregator), prompt, carried,
                             max_tokens, where, notes)
    calls = [a for layer in done for a in layer.answers] + tries
    record(calls, tries[-1].model)
    if not tries[-1].ok:
        raise all_failed("mixture-of-agents aggregation", tries)
    cost, unpriced = total_cost(calls)
    return MoAResult(
        comparison_id=comparison_id, prompt=prompt, proposers=proposers,
        aggregator=tries[-1].model, layers=done, aggregation=tries[-1], aggregator_tries=tries,
        final_text=tries[-1].text, notes=notes, total_cost_usd=cost, unpriced_models=unpriced,
        usage=total_usage(calls), wall_ms=(time.perf_counter() - started) * 1000,
    )
