"""Eval runs through the real call stack: the in-process sandbox, or scripted HTTP for the judge.

Every answer and every judge verdict is an HTTP attempt of the call stack (recorded by its
``on_attempt``); a failing model is a result with an error; budgets bind; outcomes are rows.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from core.calls.gateway import Gateway
from core.calls.stack import CallStack
from core.routing.state import routing_state
from core.evals import load_suite
from core.evals.runner import EvalRunner
from core.ledger import Ledger
from core.ledger.outcomes import OutcomeFilter, outcome_rows, record_outcomes
from core.policy import BudgetSettings, Policy, RetrySettings
from core.sandbox.config import FaultSpec, SandboxConfig
from core.types import AttemptRecord

EVALS = Path(__file__).resolve().parents[1] / "data" / "evals"
THREE = ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash"]
FAST = Policy(retry=RetrySettings(base_s=0.0, cap_s=0.0, max_attempts=2))


def _stack(gateway: Gateway, attempts: list[AttemptRecord], policy: Policy = FAST) -> CallStack:
    return CallStack(gateway, policy, routing_state(policy, configured=gateway.available),
                     on_attempt=attempts.append)


def _sandbox(**config) -> Gateway:
    return Gateway(sandbox=SandboxConfig(latency_scale=0, **config))


async def test_every_case_runs_on_every_model_through_the_stack(tmp_path):
    suite = load_suite(EVALS / "classification.yaml")
    attempts: list[AttemptRecord] = []
    seen: list[tuple[int, int]] = []
    async with _sandbox() as gateway:
        runner = EvalRunner(_stack(gateway, attempts), on_progress=lambda d, t: seen.append((d, t)))
        report = await runner.run(suite, THREE, repeat=2)
    assert len(report.results) == len(suite.cases) * 3 * 2
    assert seen[-1] == (24, 24) and [d for d, _ in seen] == list(range(1, 25))
    # one HTTP attempt per answer, each pinned to its model, no fallback, purpose "eval"
    assert len(attempts) == 24 and {a.purpose for a in attempts} == {"eval"}
    for result in report.results:
        assert result.mode == "sandbox" and result.attempt_id in {a.attempt_id for a in attempts}
        assert json.loads(result.output)["label"] in ("billing", "bug", "feature", "other")
    matrix = report.matrix()
    assert set(matrix) == {c.id for c in suite.cases}
    assert all(cell["runs"] == 2 for row in matrix.values() for cell in row.values())
    for summary in report.summaries:
        mine = [r for r in report.results if r.model == summary.model]
        assert summary.passed == sum(r.passed for r in mine) and summary.runs == 8
        assert summary.cost_usd == sum(r.cost_usd for r in mine) and summary.cost_usd > 0
    assert report.total_cost_usd == sum(s.cost_usd for s in report.summaries)
    # the sandbox answers are deterministic for a seed: some pass, some fail the label checks
    assert 0 < sum(r.passed for r in report.results) < len(report.results)
    for failed in report.failures():
        assert failed.failed_checks and all(c.message for c in failed.failed_checks)


async def test_a_failing_model_is_a_result_and_the_others_still_answer():
    suite = load_suite(EVALS / "extraction.yaml")
    attempts: list[AttemptRecord] = []
    faults = {"anthropic": FaultSpec(kinds=("server_error",))}
    async with _sandbox(faults=faults) as gateway:
        report = await EvalRunner(_stack(gateway, attempts)).run(suite, THREE)
    broken = [r for r in report.results if r.model == "anthropic:claude-haiku-4-5"]
    assert broken and all(r.error_class and not r.passed for r in broken)
    assert all(r.output == "" and r.cost_usd is None for r in broken)
    failed_ids = {a.attempt_id for a in attempts if a.status == "error"}
    assert all(r.attempt_id in failed_ids for r in broken)  # the last try of each case
    assert {a.model for a in attempts if a.status == "error"} == {"anthropic:claude-haiku-4-5"}
    assert all(a.model == "anthropic:claude-haiku-4-5" for a in attempts if a.fallback_from == ""
               and a.status == "error")  # never answered by another model
    others = [r for r in report.results if r.model != "anthropic:claude-haiku-4-5"]
    assert all(not r.error_class and r.checks for r in others)
    summary = {s.model: s for s in report.summaries}["anthropic:claude-haiku-4-5"]
    assert (summary.errors, summary.passed, summary.p50_latency_ms) == (len(broken), 0, None)
    outcomes = report.outcomes()
    assert len(outcomes) == len(others)  # no answer, no quality outcome
    assert all(o.source == "eval" and o.dataset == "extraction" and o.kind == "extract"
               for o in outcomes)


async def test_the_budget_binds_and_nothing_already_done_is_lost():
    suite = load_suite(EVALS / "classification.yaml")
    attempts: list[AttemptRecord] = []
    policy = FAST.model_copy(update={"budget": BudgetSettings(per_run_usd=Decimal("0.0015"))})
    async with _sandbox() as gateway:
        runner = EvalRunner(_stack(gateway, attempts, policy), concurrency=1)
        report = await runner.run(suite, ["anthropic:claude-haiku-4-5"], repeat=3)
    answered = [r for r in report.results if not r.error_class]
    refused = [r for r in report.results if r.error_class]
    assert answered and refused
    assert {r.error_class for r in refused} == {"BudgetExceeded"}
    assert len(attempts) == len(answered)  # a refused case made no HTTP attempt
    assert sum(r.cost_usd for r in answered) <= Decimal("0.0015")


def _openai(content: str, tokens: tuple[int, int] = (50, 20)) -> httpx.Response:
    body = {"id": "x", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1],
                      "total_tokens": sum(tokens)}}
    return httpx.Response(200, json=body)


class JudgeScript:
    """Answers every OpenAI chat request: models under test say 60; the judge's first verdict
    is prose (not JSON), every later one a valid score."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if "response_format" not in body:
            return _openai("25% of 80 is 20, so 80 - 20 = 60.\nAnswer: 60")
        verdicts = [b for b in self.requests if "response_format" in b]
        if len(verdicts) == 1:
            return _openai("I would give this a 5 because it is right.")
        return _openai(json.dumps({"score": 5, "reason": "correct working"}))


async def test_llm_rubric_is_graded_by_the_judge_through_the_stack_and_repaired_once(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text("""
name: rubric
prompt: "{problem}"
judge: openai:gpt-4o
cases:
  - vars: {problem: "A coat costs 80 dollars with 25% off. Sale price?"}
    assert:
      - {type: regex, value: "Answer: 60"}
      - {type: llm-rubric, value: "The answer is 60 dollars", threshold: 4}
""")
    script = JudgeScript()
    attempts: list[AttemptRecord] = []
    gateway = Gateway(transport=httpx.MockTransport(script), keys={"openai": "sk-test-x"})
    async with gateway:
        report = await EvalRunner(_stack(gateway, attempts)).run(load_suite(path),
                                                                 ["openai:gpt-4o-mini"])
    [result] = report.results
    assert result.passed, result.failed_checks
    rubric = result.checks[1]
    assert rubric.type == "llm-rubric" and rubric.score == 1.0
    # the answer, the prose verdict, then the repaired verdict: three HTTP attempts
    assert [a.purpose for a in attempts] == ["eval", "judge", "judge"]
    assert [a.model for a in attempts] == ["openai:gpt-4o-mini", "openai:gpt-4o", "openai:gpt-4o"]
    repair = script.requests[-1]["messages"]
    assert "not valid" in repair[-1]["content"] and repair[-2]["role"] == "assistant"
    judge_cost = sum(a.cost_usd for a in attempts if a.purpose == "judge")
    assert result.judge_cost_usd == judge_cost > 0
    [summary] = report.summaries
    assert summary.judge_cost_usd == judge_cost
    assert report.total_cost_usd == summary.cost_usd + judge_cost


async def test_a_judge_that_never_gives_a_verdict_fails_the_check_with_the_reason(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text("""
name: rubric
prompt: "Say hi"
cases: [{assert: [{type: llm-rubric, value: "greets"}]}]
""")
    gateway = Gateway(transport=httpx.MockTransport(lambda r: _openai("five out of five")),
                      keys={"openai": "sk-test-x"})
    attempts: list[AttemptRecord] = []
    async with gateway:
        runner = EvalRunner(_stack(gateway, attempts), judge_model="openai:gpt-4o")
        [result] = (await runner.run(load_suite(path), ["openai:gpt-4o-mini"])).results
    assert not result.passed
    [check] = result.failed_checks
    assert "no valid verdict twice" in check.message and "not JSON" in check.message
    assert len([a for a in attempts if a.purpose == "judge"]) == 2


async def test_outcomes_land_in_the_ledger(tmp_path):
    ledger = Ledger(tmp_path / "e.duckdb")
    async with _sandbox() as gateway:
        report = await EvalRunner(_stack(gateway, [])).run(
            load_suite(EVALS / "extraction.yaml"), THREE[:2])
    assert record_outcomes(ledger, report.outcomes()) == 6
    assert record_outcomes(ledger, report.outcomes()) == 0  # stable ids: no duplicates
    rows = outcome_rows(ledger, OutcomeFilter(source="eval", dataset="extraction"))
    by_key = {(r.model, r.attempt_id): r for r in rows}
    for result in report.results:
        row = by_key[(result.model, result.attempt_id)]
        assert row.score == (1.0 if result.passed else 0.0) and row.cost_usd == result.cost_usd
        assert row.prompt == result.prompt and row.kind == "extract"


@pytest.mark.parametrize("models,repeat,problem", [
    ([], 1, "--models"),
    (["openai:gpt-9"], 1, "gpt-9"),
    (["openai:gpt-4o-mini"], 0, "--repeat"),
])
async def test_bad_run_arguments_are_config_errors(models, repeat, problem):
    from core.errors import ConfigError

    async with _sandbox() as gateway:
        runner = EvalRunner(_stack(gateway, []))
        with pytest.raises(ConfigError, match=problem):
            await runner.run(load_suite(EVALS / "classification.yaml"), models, repeat=repeat)


async def test_a_rubric_suite_without_a_judge_says_how_to_name_one(tmp_path):
    from core.errors import ConfigError

    path = tmp_path / "r.yaml"
    path.write_text("name: r\nprompt: hi\ncases: [{assert: [{type: llm-rubric, value: x}]}]\n")
    async with _sandbox() as gateway:
        with pytest.raises(ConfigError, match="--judge MODEL"):
            await EvalRunner(_stack(gateway, [])).run(load_suite(path), ["openai:gpt-4o-mini"])
