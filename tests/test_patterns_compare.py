"""Compare (fan-out with streaming) and the rubric judge, against the sandbox."""

from __future__ import annotations

import json
from collections import defaultdict

import httpx
import pytest

from core.errors import TemplateError, UnknownModel
from core.calls.gateway import Gateway
from core.ledger.writer import Ledger
from core.patterns import compare, judge, ledger_recorder
from core.patterns.common import ModelAnswer
from core.sandbox.config import FaultSpec, SandboxConfig
from fixtures.stacks import stack_of
from core.policy import Policy

MODELS = ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash"]


def faulty(model: str, kind: str = "server_error") -> Gateway:
    """An in-process sandbox gateway where ``model`` always fails with ``kind``."""
    return Gateway(sandbox=SandboxConfig(latency_scale=0, faults={model: FaultSpec(kinds=(kind,))}))


async def test_every_model_answers_concurrently_with_its_own_attempt() -> None:
    pieces: dict[str, list[str]] = defaultdict(list)
    result = await compare(stack_of(Gateway()), "Name three rivers", MODELS,
                           on_delta=lambda model, text: pieces[model].append(text))
    assert [r.model for r in result.results] == MODELS
    assert all(r.ok and r.text and r.mode == "sandbox" for r in result.results)
    assert len({r.attempt_id for r in result.results}) == 3
    for answer in result.results:
        assert len(pieces[answer.model]) > 1  # streamed in pieces
        assert "".join(pieces[answer.model]) == answer.text
        assert answer.ttft_ms is not None and answer.ttft_ms <= answer.latency_ms
        assert answer.usage.output_tokens > 0 and answer.cost_usd > 0
    assert result.total_cost_usd == sum(r.cost_usd for r in result.results)
    assert result.usage.output_tokens == sum(r.usage.output_tokens for r in result.results)


async def test_one_failing_model_does_not_block_the_others_and_all_is_recorded(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.duckdb")
    result = await compare(stack_of(faulty("anthropic:claude-haiku-4-5"), ledger=ledger),
                           "Name three rivers", MODELS, on_record=ledger_recorder(ledger))
    failed = result.results[1]
    retries = Policy().retry.max_attempts  # the policy's retries, as for every call
    assert not failed.ok and failed.error_class == "ServerError" and failed.tries == retries
    assert "\n" not in failed.error and failed.text == ""
    assert [r.ok for r in result.results] == [True, False, True]
    assert result.total_cost_usd == result.results[0].cost_usd + result.results[2].cost_usd

    row = ledger.get_comparison(result.comparison_id)
    assert row is not None and row.kind == "compare" and row.prompt == "Name three rivers"
    attempts = ledger.get_attempts(comparison_id=result.comparison_id)
    by_status = sorted((a.model, a.status, a.error_class) for a in attempts)
    assert by_status == [
        *[("anthropic:claude-haiku-4-5", "error", "ServerError")] * retries,
        ("google:gemini-2.0-flash", "ok", ""),
        ("openai:gpt-4o-mini", "ok", ""),
    ]
    assert {r.attempt_id for r in result.answered} <= {a.attempt_id for a in attempts}


async def test_a_non_retryable_failure_is_tried_once() -> None:
    gateway = Gateway(transport=httpx.MockTransport(
        lambda request: httpx.Response(401, json={"error": {"message": "bad key",
                                                            "type": "invalid_request_error"}})
    ), keys={"openai": "sk-wrong"})
    result = await compare(stack_of(gateway), "Hi", ["openai:gpt-4o-mini"])
    (answer,) = result.results
    assert answer.error_class == "AuthFailed" and answer.tries == 1
    assert "sk-wrong" not in answer.error


async def test_compare_streams_from_the_served_sandbox(served_sandbox: str) -> None:
    async with Gateway.for_served_sandbox(served_sandbox) as gateway:
        result = await compare(stack_of(gateway), "Explain DNS briefly", MODELS[:2], max_tokens=60)
    assert all(r.ok and r.mode == "sandbox" for r in result.results)
    assert all(r.usage.output_tokens <= 60 for r in result.results)


async def test_a_library_template_is_rendered_and_checked() -> None:
    result = await compare(stack_of(Gateway()), None, MODELS[:1], template="summarize",
                           vars={"text": "Tides follow the moon."})
    assert "Tides follow the moon." in result.prompt and result.template == "summarize"
    filled = await compare(stack_of(Gateway()), "The prompt text", MODELS[:1], template="summarize")
    assert "The prompt text" in filled.prompt  # the prompt fills the template's input variable
    with pytest.raises(TemplateError, match="needs variable 'text'"):
        await compare(stack_of(Gateway()), None, MODELS[:1], template="summarize")
    with pytest.raises(TemplateError, match="unknown prompt template"):
        await compare(stack_of(Gateway()), "x", MODELS[:1], template="no-such-template")


async def test_an_unknown_model_fails_before_anything_is_sent() -> None:
    with pytest.raises(UnknownModel, match="openai models are"):
        await compare(stack_of(Gateway()), "Hi", ["openai:gpt-9", MODELS[0]])


async def test_judge_scores_each_answer_and_stores_judge_ratings(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.duckdb")
    answers = await compare(stack_of(faulty("google:gemini-2.0-flash")), "Name three rivers", MODELS)
    verdicts = await judge(stack_of(Gateway()), answers.prompt, answers.results,
                           "Names three real rivers, nothing else.", "openai:gpt-4o",
                           ledger=ledger)
    first, second, failed = verdicts.scores
    assert all(1 <= s.score <= 5 and s.reason for s in (first, second))
    assert failed.score is None and failed.error_class == "NoAnswer"
    assert verdicts.best in (first, second) and verdicts.total_cost_usd > 0
    ratings = ledger.get_ratings(comparison_id=None)
    assert sorted((r.attempt_id, r.rating) for r in ratings) == sorted(
        (s.attempt_id, s.score) for s in (first, second))
    assert {(r.source, r.rater) for r in ratings} == {("judge", "openai:gpt-4o")}


def judge_transport(bad_answer: str) -> httpx.MockTransport:
    """OpenAI wire format: a malformed verdict whenever the judged answer is ``bad_answer``."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        content = '{"score": 9, "reason": "off the scale"}'
        if not any(bad_answer in m["content"] for m in body["messages"]):
            content = '{"score": 4, "reason": "clear and correct"}'
        return httpx.Response(200, json={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        })

    return httpx.MockTransport(handle)


async def test_a_malformed_verdict_is_retried_then_reported_not_scored(tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.duckdb")
    answers = [
        ModelAnswer(attempt_id="a1", model="openai:gpt-4o-mini", provider="openai",
                    mode="sandbox", text="Nile, Amazon, Danube"),
        ModelAnswer(attempt_id="a2", model="groq:llama-3.3-70b-versatile", provider="groq",
                    mode="sandbox", text="BAD ANSWER"),
    ]
    gateway = Gateway(transport=judge_transport("BAD ANSWER"), keys={"openai": "sk-test"})
    verdicts = await judge(stack_of(gateway), "Name three rivers", answers, "Three real rivers.",
                           "openai:gpt-4o", ledger=ledger)
    good, bad = verdicts.scores
    assert good.score == 4 and good.reason == "clear and correct"
    assert bad.score is None and bad.error_class == "StructuredOutputError"
    assert "malformed verdict twice" in bad.error and "maximum" in bad.error
    assert len(verdicts.judge_calls) == 3  # one good verdict, two malformed ones
    assert [(r.attempt_id, r.rating) for r in ledger.get_ratings()] == [("a1", 4)]
