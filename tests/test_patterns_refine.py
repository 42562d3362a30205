"""Refine: the evaluator–optimizer loop, with scripted verdicts in OpenAI's wire format.

The generator (Anthropic) is answered by the in-process sandbox; the evaluator (OpenAI) by a
script of Chat Completions bodies, so every verdict, malformed ones included, goes through the
real adapter and is parsed through the verdict schema.
"""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from core.catalog import default_catalog
from core.errors import ConfigError
from core.calls.gateway import Gateway
from core.patterns import refine
from core.patterns.common import PatternRecord
from core.sandbox.app import build_app
from core.sandbox.config import FaultSpec, SandboxConfig
from core.sandbox.transport import StreamingASGITransport
from fixtures.stacks import stack_of

GENERATOR = "anthropic:claude-haiku-4-5"
EVALUATOR = "openai:gpt-4o"


def chat_completion(content: str) -> dict:
    """A Chat Completions response body, as OpenAI sends it."""
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1735689600,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }


def verdict(score: float, passed: bool, *feedback: str) -> str:
    return json.dumps({"score": score, "passed": passed, "feedback": list(feedback)})


class ScriptedEvaluator(httpx.AsyncBaseTransport):
    """OpenAI requests get the scripted replies in order (a string is a 200 body's content, an
    int an error status); every other provider is served by the sandbox."""

    def __init__(self, replies: list[str | int], sandbox: SandboxConfig | None = None) -> None:
        self.replies = list(replies)
        self.evaluator_bodies: list[dict] = []
        self.generator_bodies: list[dict] = []
        config = sandbox or SandboxConfig(latency_scale=0)
        self.sandbox = StreamingASGITransport(build_app(default_catalog(), config))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "api.openai.com":
            self.generator_bodies.append(json.loads(request.content))
            return await self.sandbox.handle_async_request(request)
        self.evaluator_bodies.append(json.loads(request.content))
        reply = self.replies.pop(0)
        if isinstance(reply, int):
            return httpx.Response(reply, json={"error": {"message": "boom", "type": "server_error",
                                                         "code": None}})
        return httpx.Response(200, json=chat_completion(reply))


def scripted_gateway(replies: list[str | int], sandbox: SandboxConfig | None = None
                     ) -> tuple[Gateway, ScriptedEvaluator]:
    transport = ScriptedEvaluator(replies, sandbox)
    keys = {"openai": "sk-test-openai", "anthropic": "sk-ant-test"}
    return Gateway(keys=keys, transport=transport), transport


async def test_revises_with_feedback_until_the_evaluator_passes_it() -> None:
    gateway, script = scripted_gateway([
        verdict(0.4, False, "add a title", "cite one source"),
        verdict(0.9, True),
    ])
    records: list[PatternRecord] = []
    result = await refine(stack_of(gateway), "Write a note on tides", GENERATOR, EVALUATOR,
                          on_record=records.append)
    assert result.stop_reason == "passed" and result.passed
    assert [r.verdict.score for r in result.rounds] == [0.4, 0.9]
    assert result.final_text == result.rounds[-1].draft.text and result.final_score == 0.9
    revision = script.generator_bodies[1]["messages"]
    assert revision[1]["role"] == "assistant"
    assert "add a title" in revision[2]["content"] and "cite one source" in revision[2]["content"]
    assert script.evaluator_bodies[0]["response_format"]["type"] == "json_schema"
    assert result.total_cost_usd == sum(r.cost_usd for r in result.rounds) > 0
    assert result.notes == []  # different providers
    (record,) = records
    assert record.kind == "refine" and record.meta["stop_reason"] == "passed"
    assert len(record.attempts) == 4
    assert {a.comparison_id for a in record.attempts} == {result.comparison_id}


async def test_stops_when_the_score_reaches_the_threshold() -> None:
    gateway, _ = scripted_gateway([verdict(0.85, False, "minor wording")])
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR, threshold=0.8)
    assert result.stop_reason == "threshold" and result.passed and len(result.rounds) == 1


async def test_stops_after_max_rounds_without_passing() -> None:
    gateway, script = scripted_gateway([verdict(0.2, False, "wrong")] * 2)
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR, max_rounds=2)
    assert result.stop_reason == "max_rounds" and not result.passed
    assert len(result.rounds) == 2 and len(script.generator_bodies) == 2


async def test_cost_cap_stops_before_a_round_that_would_pass_it() -> None:
    gateway, _ = scripted_gateway([verdict(0.2, False, "wrong")] * 3)
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR, max_rounds=3,
                          cost_cap_usd=Decimal("0.000001"))
    assert result.stop_reason == "cost_cap" and len(result.rounds) == 1


async def test_a_malformed_verdict_is_retried_once_with_the_problem_spelled_out() -> None:
    gateway, script = scripted_gateway(["not json at all", verdict(0.95, True)])
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR)
    assert result.stop_reason == "passed"
    first, second = result.rounds[0].evaluations
    assert first.attempts[-1].status == "error"
    assert first.attempts[-1].error_class == "InvalidOutput"  # answered, paid, rejected
    assert second.attempts[-1].status == "ok"
    repair = script.evaluator_bodies[1]["messages"][-1]["content"]
    assert "not valid" in repair and "not JSON" in repair


@pytest.mark.parametrize("bad", [
    verdict(7, True),  # score outside 0–1: breaks the schema's maximum
    json.dumps({"score": 0.9, "feedback": []}),  # `passed` missing
    "```json\n{\"score\": 0.9, \"passed\": \"yes\", \"feedback\": []}\n```",  # wrong type
])
async def test_a_verdict_malformed_twice_is_reported_never_passed(bad: str) -> None:
    gateway, script = scripted_gateway([bad, bad])
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR)
    assert result.stop_reason == "evaluator_failed" and not result.passed
    assert "malformed verdict twice" in result.error
    assert result.rounds[0].verdict is None and len(script.evaluator_bodies) == 2
    assert result.final_score is None


async def test_an_evaluator_that_keeps_failing_ends_the_loop_clearly() -> None:
    gateway, script = scripted_gateway([500, 500, 500])
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR)
    assert result.stop_reason == "evaluator_failed"
    assert "ServerError" in result.error and EVALUATOR in result.error
    assert result.rounds[0].evaluations[0].tries == 3  # the policy's retries on a 500


async def test_a_failing_generator_is_reported() -> None:
    faults = {GENERATOR: FaultSpec(kinds=("server_error",))}
    gateway, script = scripted_gateway([], SandboxConfig(latency_scale=0, faults=faults))
    result = await refine(stack_of(gateway), "Write", GENERATOR, EVALUATOR)
    assert result.stop_reason == "generator_failed" and result.final_text == ""
    assert "ServerError" in result.error and script.evaluator_bodies == []


async def test_same_provider_is_allowed_with_a_note() -> None:
    result = await refine(stack_of(Gateway()), "Write a haiku", "openai:gpt-4o-mini", "openai:gpt-4o",
                          max_rounds=2)
    assert result.stop_reason in ("passed", "threshold", "max_rounds")
    assert result.rounds and result.rounds[0].verdict is not None
    assert "both openai models" in result.notes[0]


async def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_rounds"):
        await refine(stack_of(Gateway()), "Write", GENERATOR, EVALUATOR, max_rounds=0)
    with pytest.raises(ConfigError, match="threshold"):
        await refine(stack_of(Gateway()), "Write", GENERATOR, EVALUATOR, threshold=8)
