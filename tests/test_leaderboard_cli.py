"""``orchestra leaderboard``: every catalog model in JSON and text, filtered and sorted."""

from __future__ import annotations

import json

from core.catalog import default_catalog
from core.cli import main
from core.ledger import Ledger
from core.ledger.outcomes import record_outcomes
from test_leaderboard import MINI, _attempt, _outcome


def test_leaderboard_json_lists_every_model_with_figures_where_measured(capsys, tmp_path):
    db = str(tmp_path / "l.duckdb")
    ledger = Ledger(db)
    answers = [_attempt(MINI, latency=lat) for lat in (300, 500, 700)]
    ledger.record_attempts([*answers, _attempt(MINI, status="error")])
    record_outcomes(ledger, [_outcome(MINI, 1.0, "eval", a) for a in answers])
    assert main(["leaderboard", "--json", "--db", db]) == 0
    board = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in board["models"]}
    assert set(rows) == set(default_catalog().models)
    mini = rows[MINI]
    assert (mini["attempts"], mini["answers"], mini["failure_rate"]) == (4, 3, 0.25)
    assert mini["p50_latency_ms"] == 500 and mini["input_per_mtok"] == 0.15
    assert mini["quality_by_source"] == {"eval": {"score": 1.0, "count": 3}}
    assert mini["pareto"] and mini["cost_per_success_usd"] == 0.001
    assert rows["openai:o3"]["attempts"] == 0 and rows["openai:o3"]["context_window"] > 0


def test_leaderboard_text_filters_and_sorts(capsys, tmp_path):
    db = str(tmp_path / "l.duckdb")
    Ledger(db).record_attempts([_attempt(MINI, latency=900),
                                _attempt("google:gemini-2.0-flash", latency=100)])
    assert main(["leaderboard", "--db", db, "--tier", "economy", "--sort", "p50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "google:gemini-2.0-flash" in lines[2] and "openai:gpt-4o-mini" in lines[3]
    assert not any("openai:o3" in line for line in lines)
    assert main(["leaderboard", "--db", db, "--capability", "live_search"]) == 0
    out = capsys.readouterr().out
    assert "perplexity:sonar" in out and "openai:gpt-4o-mini" not in out
