"""The pattern commands' output and errors, and patterns as plan task kinds."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.cli import main
from core.errors import ConfigError
from core.calls.gateway import Gateway
from core.ledger.writer import Ledger
from core.patterns import run_pattern_task
from fixtures.stacks import stack_of

MODELS = "openai:gpt-4o-mini,anthropic:claude-haiku-4-5,google:gemini-2.0-flash"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_compare_json_has_every_model_and_the_total(capsys, tmp_path) -> None:
    db = tmp_path / "ledger.duckdb"
    out = run_json(capsys, "compare", "Name a river", "--models", MODELS, "--db", str(db),
                   "--json")
    assert out["kind"] == "compare" and out["prompt"] == "Name a river"
    assert [r["model"] for r in out["results"]] == MODELS.split(",")
    for result in out["results"]:
        assert set(result) >= {"attempt_id", "text", "latency_ms", "ttft_ms", "usage",
                               "cost_usd", "error_class", "error"}
        assert isinstance(result["cost_usd"], float) and "attempts" not in result
    assert isinstance(out["total_cost_usd"], float)
    assert out["total_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in out["results"]))
    ledger = Ledger(db)
    assert ledger.get_comparison(out["comparison_id"]).kind == "compare"
    assert len(ledger.get_attempts(comparison_id=out["comparison_id"])) == 3


def test_compare_text_output_and_every_call_in_the_ledger(capsys, tmp_path) -> None:
    db = tmp_path / "ledger.duckdb"
    assert main(["compare", "Hi", "--models", MODELS, "--db", str(db)]) == 0
    out = capsys.readouterr()
    assert out.out.count("── ") == 3 and "[compare " in out.err
    attempts = Ledger(db).get_attempts()
    assert sorted(a.model for a in attempts) == sorted(MODELS.split(","))
    assert {a.purpose for a in attempts} == {"pattern"}


def test_refine_moa_and_vote_json_shapes(capsys, tmp_path) -> None:
    db = str(tmp_path / "ledger.duckdb")
    refined = run_json(capsys, "refine", "Write a haiku", "--generator", "openai:gpt-4o-mini",
                       "--evaluator", "anthropic:claude-haiku-4-5", "--max-rounds", "2",
                       "--db", db, "--json")
    assert refined["kind"] == "refine" and refined["rounds"]
    assert refined["stop_reason"] in ("passed", "threshold", "max_rounds")
    assert isinstance(refined["total_cost_usd"], float)
    mixed = run_json(capsys, "moa", "Explain DNS", "--proposers", MODELS, "--layers", "2",
                     "--db", db, "--json")
    assert mixed["kind"] == "moa" and len(mixed["layers"]) == 2 and mixed["final_text"]
    voted = run_json(capsys, "vote", "Yes or no?", "--models", MODELS, "--choices", "yes,no",
                     "--db", db, "--json")
    assert voted["kind"] == "vote" and len(voted["ballots"]) == 3
    assert voted["outcome"] in ("unanimous", "majority")  # 3 votes on 2 choices never tie
    kinds = {Ledger(db).get_comparison(o["comparison_id"]).kind
             for o in (refined, mixed, voted)}
    assert kinds == {"refine", "moa", "vote"}


@pytest.mark.parametrize(("argv", "message"), [
    (["compare", "Hi", "--models", "openai:gpt-9"], "unknown model 'openai:gpt-9'"),
    (["compare", "--template", "summarize", "--models", "openai:gpt-4o"],
     "needs variable 'text'"),
    (["compare", "Hi", "--models", "openai:gpt-4o", "--var", "novalue"], "name=value"),
    (["vote", "Q?", "--models", "openai:gpt-4o,nope:x"], "unknown provider 'nope'"),
    (["moa", "Q", "--aggregator", "openai:gpt-9"], "unknown model"),
])
def test_caller_mistakes_are_one_line_errors_with_exit_2(capsys, tmp_path, argv, message) -> None:
    assert main([*argv, "--db", str(tmp_path / "l.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orchestra: error: ") and message in err and err.count("\n") == 1


def test_prompts_lists_the_library(capsys) -> None:
    out = run_json(capsys, "prompts", "--json")
    summarize = next(p for p in out if p["name"] == "summarize")
    assert summarize["version"] and summarize["description"]
    assert "text" in summarize["variables"] and "text" in summarize["required"]


@pytest.mark.parametrize("kind", ["compare", "refine", "moa", "vote"])
async def test_each_pattern_runs_as_a_plan_task(kind: str) -> None:
    models = None if kind in ("moa", "refine") else MODELS.split(",")
    text, cost, usage = await run_pattern_task(kind, "Summarise tides", stack_of(Gateway()), models=models)
    assert text and isinstance(cost, Decimal) and cost > 0
    assert usage.input_tokens > 0 and usage.output_tokens > 0


async def test_an_unknown_task_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a pattern"):
        await run_pattern_task("juggle", "x", stack_of(Gateway()))
