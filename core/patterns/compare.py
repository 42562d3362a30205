"""Compare: the same prompt to N models at once, each streamed, side by side.

Every model runs concurrently; one failing model never blocks or fails the others (its answer
carries the error class and a one-line message instead of text). The comparison gets one id,
and each answer an attempt id, so the answers can be browsed and rated later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ConfigError
from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.patterns.common import (
    DEFAULT_MAX_TOKENS,
    DeltaCallback,
    ModelAnswer,
    PatternRecord,
    RecordHook,
    all_attempts,
    call_model,
    check_models,
    emit_record,
    new_id,
    total_cost,
    total_usage,
)
from core.types import ChatRequest, Usage


class Comparison(BaseModel):
    """The answers of one comparison, in the order the models were given."""

    model_config = ConfigDict(extra="forbid")

    comparison_id: str
    prompt: str
    system: str | None = None
    template: str | None = None
    results: list[ModelAnswer]
    total_cost_usd: Decimal = Decimal(0)
    unpriced_models: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    wall_ms: float = 0.0

    @property
    def answered(self) -> list[ModelAnswer]:
        """The answers that succeeded."""
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[ModelAnswer]:
        """The answers that failed."""
        return [r for r in self.results if not r.ok]


def resolve_prompt(
    prompt: str | None, template: str | None, variables: Mapping[str, str] | None,
    system: str | None = None,
) -> tuple[str, str | None]:
    """The prompt text and system prompt to send.

    Without a template: ``prompt`` as given. With one: the library template rendered with
    ``variables`` (its own system prompt unless ``system`` is given); ``prompt`` fills the
    template's ``input`` variable when it has one and it is not set, else follows the rendered
    text. A missing or unknown variable raises ``TemplateError``.
    """
    if template is None:
        if not prompt:
            raise ConfigError("give a prompt, or a template with --template NAME")
        return prompt, system
    from core.prompts import get_template

    spec = get_template(template)
    values = dict(variables or {})
    if prompt and spec.input and spec.input not in values:
        values[spec.input], prompt = prompt, None
    rendered = spec.render(values)
    return (f"{rendered}\n\n{prompt}" if prompt else rendered), system or spec.system


async def compare(
    stack: CallStack,
    prompt: str | None,
    models: Sequence[str],
    *,
    system: str | None = None,
    template: str | None = None,
    vars: Mapping[str, str] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    on_delta: DeltaCallback | None = None,
    on_record: RecordHook | None = None,
    context: CallContext = CallContext(purpose="pattern"),
) -> Comparison:
    """Send one prompt to every model concurrently, streaming each; return all answers.

    ``on_delta(model_id, text_piece)`` sees the streamed text as it arrives. ``on_record``
    receives the comparison and its attempts (e.g. ``ledger_recorder(ledger)``).
    """
    text, system = resolve_prompt(prompt, template, vars, system)
    models = check_models(stack, models)
    comparison_id = new_id()
    where = context.but(comparison_id=comparison_id)
    started = time.perf_counter()
    results = await asyncio.gather(*(
        call_model(
            stack, ChatRequest.of(model, text, system=system, max_tokens=max_tokens),
            stream=True, on_delta=on_delta, where=where,
        )
        for model in models
    ))
    cost, unpriced = total_cost(results)
    comparison = Comparison(
        comparison_id=comparison_id, prompt=text, system=system, template=template,
        results=list(results), total_cost_usd=cost, unpriced_models=unpriced,
        usage=total_usage(results), wall_ms=(time.perf_counter() - started) * 1000,
    )
    emit_record(on_record, PatternRecord(
        comparison_id=comparison_id, kind="compare", prompt=text,
        attempts=all_attempts(results),
        meta={"models": models, "system": system, "template": template,
              "total_cost_usd": str(cost)},
    ))
    return comparison
