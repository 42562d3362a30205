"""``orchestra eval`` and ``orchestra leaderboard`` end to end, against the in-process sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.ledger import Ledger
from core.ledger.outcomes import OutcomeFilter, outcome_rows

ROOT = Path(__file__).resolve().parents[1]
THREE = "openai:gpt-4o-mini,anthropic:claude-haiku-4-5,google:gemini-2.0-flash"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse mistakes exit 2
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_json_returns_the_matrix_and_writes_outcomes(capsys, tmp_path):
    db = str(tmp_path / "e.duckdb")
    code, out, err = _run(capsys, "eval", str(ROOT / "data/evals/classification.yaml"),
                          "--models", THREE, "--json", "--db", db)
    report = json.loads(out)
    assert code == (0 if report["passed"] == report["runs"] else 1)
    assert report["runs"] == 4 * 3 and set(report["matrix"]) == {
        "refund", "crash", "dark-mode", "hello"}
    models = THREE.split(",")
    for cells in report["matrix"].values():
        assert list(cells) == models and all(c["runs"] == 1 for c in cells.values())
    assert sum(c["passed"] for cells in report["matrix"].values() for c in cells.values()) \
        == report["passed"]
    assert [s["model"] for s in report["summaries"]] == models
    assert all(s["cost_usd"] > 0 and s["p50_latency_ms"] is not None
               for s in report["summaries"])
    rows = outcome_rows(Ledger(db), OutcomeFilter(source="eval", dataset="classification"))
    assert len(rows) == 12 and {r.kind for r in rows} == {"classify"}
    attempts = Ledger(db).get_attempts()
    assert {a.attempt_id for a in attempts} >= {r.attempt_id for r in rows}
    assert err == ""  # no progress bar in --json


def test_eval_text_shows_matrix_rates_failures_and_a_progress_bar(capsys, tmp_path):
    db = str(tmp_path / "e.duckdb")
    code, out, err = _run(capsys, "eval", str(ROOT / "data/evals/arithmetic.yaml"),
                          "--models", "openai:gpt-4o-mini,groq:llama-3.3-70b-versatile",
                          "--repeat", "2", "--db", db)
    assert code == 1  # sandbox prose never gives "Answer: 29"
    assert "apples" in out and "0/2" in out and "pass rate" in out and "judge cost" in out
    assert "regex: no match" in out and "output: " in out and "sandbox" in out
    assert "[" + "#" * 30 + "] 12/12" in err and "total cost $" in err
    assert {a.purpose for a in Ledger(db).get_attempts()} == {"eval", "judge"}


def test_leaderboard_lists_every_model_with_measured_figures_and_quality(capsys, tmp_path):
    db = str(tmp_path / "e.duckdb")
    _run(capsys, "eval", str(ROOT / "data/evals/extraction.yaml"), "--models", THREE,
         "--repeat", "2", "--json", "--db", db)
    code, out, _ = _run(capsys, "leaderboard", "--json", "--db", db)
    assert code == 0
    board = json.loads(out)
    from core.catalog import default_catalog

    rows = {r["model"]: r for r in board["models"]}
    assert set(rows) == set(default_catalog().models)
    for model in THREE.split(","):
        row = rows[model]
        assert row["mode"] == "sandbox" and row["attempts"] >= 6 and row["answers"] >= 1
        assert row["p50_latency_ms"] is not None and row["p95_latency_ms"] is not None
        assert row["failure_rate"] is not None and row["input_per_mtok"] > 0
        assert row["quality_by_source"]["eval"]["count"] == row["quality_count"] == 6
        assert row["cost_per_success_usd"] > 0
    untouched = rows["openai:o3"]
    assert untouched["attempts"] == 0 and untouched["quality"] is None
    assert untouched["context_window"] > 0 and "json_schema" in untouched["capabilities"]
    assert any(r["pareto"] for r in rows.values())
    code, out, _ = _run(capsys, "leaderboard", "--json", "--db", db, "--task-kind", "math")
    assert all(r["attempts"] == 0 for r in json.loads(out)["models"])
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--tier", "economy", "--sort", "p50")
    lines = out.splitlines()
    assert code == 0 and "Pareto" in out and "openai:o3" not in out
    assert "openai:gpt-4o-mini" in lines[2] or "google:gemini-2.0-flash" in lines[2] \
        or "anthropic:claude-haiku-4-5" in lines[2]


@pytest.mark.parametrize("argv,fix", [
    (["eval", "data/evals/nope.yaml", "--models", "openai:gpt-4o-mini"], "data/evals/"),
    (["eval", "data/evals/classification.yaml", "--models", "openai:gpt-9"], "orchestra models"),
    (["eval", "data/evals/classification.yaml", "--models", "openai:gpt-4o-mini",
      "--repeat", "0"], "--repeat"),
    (["eval", "data/evals/classification.yaml", "--models", "openai:gpt-4o-mini",
      "--budget", "-1"], "--budget"),
    (["eval", "data/evals/arithmetic.yaml", "--models", "openai:gpt-4o-mini",
      "--judge", "nobody"], "provider:model"),
    (["leaderboard", "--sort", "vibes"], "--sort"),
])
def test_caller_mistakes_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, fix):
    monkeypatch.chdir(ROOT)
    code, out, err = _run(capsys, *argv, "--db", str(tmp_path / "e.duckdb"))
    assert code == 2 and fix in err and len(err.strip().splitlines()) == 1 and out == ""


def test_an_eval_rerun_with_cache_is_nearly_free(capsys, tmp_path):
    db = str(tmp_path / "e.duckdb")
    argv = ["eval", str(ROOT / "data/evals/extraction.yaml"), "--models", THREE, "--json",
            "--cache", "--db", db]
    _, out, _ = _run(capsys, *argv)
    assert json.loads(out)["total_cost_usd"] > 0
    _, out, _ = _run(capsys, *argv)
    rerun = json.loads(out)
    assert rerun["total_cost_usd"] == 0 and rerun["runs"] == 9
    assert all(r["cost_usd"] == 0 for r in rerun["results"])
    attempts = Ledger(db).get_attempts()
    assert sum(a.cached for a in attempts) == 9 and len(attempts) == 18
