"""Mixture-of-agents against the in-process sandbox, with faults injected per model."""

from __future__ import annotations

import pytest

from core.errors import AllModelsFailed, ConfigError, ServerError
from core.calls.gateway import Gateway
from core.patterns import default_aggregator, default_proposers, moa
from core.patterns.common import PatternRecord
from core.sandbox.config import FaultSpec, SandboxConfig
from fixtures.stacks import stack_of
from core.policy import Policy

PROPOSERS = ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash"]
AGGREGATOR = "openai:gpt-4o"


def failing(*models: str) -> Gateway:
    """A sandbox gateway where each of ``models`` always answers 500."""
    faults = {m: FaultSpec(kinds=("server_error",)) for m in models}
    return Gateway(sandbox=SandboxConfig(latency_scale=0, faults=faults))


def test_defaults_come_from_the_catalog_on_distinct_providers(catalog) -> None:
    gateway = Gateway()
    proposers = default_proposers(gateway)
    specs = [catalog.model(m) for m in proposers]
    assert len(proposers) == 3 and len({s.provider for s in specs}) == 3
    assert {s.tier for s in specs} <= {"balanced", "economy"}
    assert catalog.model(default_aggregator(gateway)).tier in ("balanced", "premium")
    assert "ollama" not in {s.provider for s in specs}  # no local server configured


def test_live_providers_are_preferred() -> None:
    gateway = Gateway(keys={"deepseek": "sk-test"})
    assert default_proposers(gateway)[0].startswith("deepseek:")


async def test_two_layers_then_an_aggregation() -> None:
    records: list[PatternRecord] = []
    result = await moa(stack_of(Gateway()), "How do vaccines work?", proposers=PROPOSERS,
                       aggregator=AGGREGATOR, layers=2, on_record=records.append)
    first, second = result.layers
    assert [len(layer.answers) for layer in result.layers] == [3, 3]
    assert all(a.ok for layer in result.layers for a in layer.answers)
    # layer 2 and the aggregator read the previous answers: far more input than the question
    assert min(a.usage.input_tokens for a in second.answers) > max(
        a.usage.input_tokens for a in first.answers)
    assert result.aggregation.usage.input_tokens > max(
        a.usage.input_tokens for a in first.answers)
    assert result.aggregator == AGGREGATOR and result.final_text == result.aggregation.text
    assert result.total_cost_usd == first.cost_usd + second.cost_usd + result.aggregation.cost_usd
    assert result.notes == []
    (record,) = records
    assert record.kind == "moa" and len(record.attempts) == 7
    assert {a.reason for a in record.attempts} == {"moa: layer 1", "moa: layer 2",
                                                   "moa: aggregate"}


async def test_a_failing_proposer_is_dropped_with_a_note() -> None:
    result = await moa(stack_of(failing(PROPOSERS[1])), "Explain DNS", proposers=PROPOSERS,
                       aggregator=AGGREGATOR)
    (layer,) = result.layers
    assert [a.ok for a in layer.answers] == [True, False, True]
    assert result.notes == [f"layer 1: dropped {PROPOSERS[1]} (ServerError: "
                            f"{layer.answers[1].error})"]
    assert result.aggregation.ok and result.final_text


async def test_every_proposer_failing_is_a_clear_error_keeping_each_cause() -> None:
    records: list[PatternRecord] = []
    with pytest.raises(AllModelsFailed, match="layer 1: every model failed") as caught:
        await moa(stack_of(failing(*PROPOSERS)), "Explain DNS", proposers=PROPOSERS,
                  aggregator=AGGREGATOR, on_record=records.append)
    assert len(caught.value.errors) == 3
    assert all(isinstance(e, ServerError) for e in caught.value.errors)
    assert len(records[0].attempts) == 3 * Policy().retry.max_attempts  # each model retried


async def test_a_failing_aggregator_falls_back_to_its_tier() -> None:
    result = await moa(stack_of(failing(AGGREGATOR)), "Explain DNS", proposers=PROPOSERS,
                       aggregator=AGGREGATOR)
    assert result.aggregator != AGGREGATOR and result.aggregation.ok
    assert result.aggregator_tries[0].error_class == "ServerError"
    assert any(n.startswith(f"aggregator {AGGREGATOR} failed") for n in result.notes)


async def test_every_aggregator_failing_is_reported(catalog) -> None:
    balanced = [m.id for m in catalog.by_tier("balanced")]
    with pytest.raises(AllModelsFailed, match="aggregation: every model failed"):
        await moa(stack_of(failing(*balanced)), "Explain DNS", proposers=PROPOSERS,
                  aggregator=AGGREGATOR)


async def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="layers"):
        await moa(stack_of(Gateway()), "x", proposers=PROPOSERS, layers=0)
