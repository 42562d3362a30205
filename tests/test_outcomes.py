"""The outcomes table: records, repeated imports, queries, export, and ratings as outcomes."""

from __future__ import annotations

import csv
from decimal import Decimal

import duckdb
import pytest
from pydantic import ValidationError

from core.errors import ConfigError
from core.ledger import Ledger
from core.ledger.outcomes import (
    OutcomeFilter,
    OutcomeRecord,
    export_outcomes,
    outcome_rows,
    outcome_summary,
    outcomes_frame,
    prompt_hash,
    record_outcomes,
    stable_outcome_id,
)
from core.types import AttemptRecord


def outcome(prompt: str, model: str, score: float, cost: str | None = "0.001",
            dataset: str = "d1") -> OutcomeRecord:
    return OutcomeRecord(
        outcome_id=stable_outcome_id(dataset, prompt, model), prompt=prompt, model=model,
        score=score, source="import", dataset=dataset,
        cost_usd=None if cost is None else Decimal(cost))


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "outcomes.duckdb")


def test_record_and_read_back(ledger):
    rows = [outcome("2+2?", "m-a", 1.0), outcome("2+2?", "m-b", 0.0, cost=None),
            outcome("capital of France?", "m-a", 1.0, cost="0.002")]
    assert record_outcomes(ledger, rows) == 3
    assert record_outcomes(ledger, rows) == 0, "the same ids again change nothing"
    back = {(r.prompt, r.model): r for r in outcome_rows(ledger)}
    assert back[("2+2?", "m-b")].cost_usd is None, "unknown cost stays unknown, never $0"
    assert back[("2+2?", "m-a")].cost_usd == Decimal("0.001")
    assert back[("2+2?", "m-a")].prompt_hash == prompt_hash("2+2?")
    summary = {s.model: s for s in outcome_summary(ledger)}
    assert (summary["m-a"].count, summary["m-a"].mean_score) == (2, 1.0)
    assert summary["m-a"].mean_cost_usd == Decimal("0.0015")
    assert summary["m-b"].mean_cost_usd is None
    frame = outcomes_frame(ledger, OutcomeFilter(model="m-a"))
    assert sorted(frame["prompt"]) == ["2+2?", "capital of France?"]


def test_filters_and_limit(ledger):
    record_outcomes(ledger, [outcome(f"p{i}", "m", 0.5, dataset="x" if i % 2 else "y")
                             for i in range(10)])
    assert len(outcome_rows(ledger, OutcomeFilter(dataset="x"))) == 5
    assert len(outcome_rows(ledger, limit=3)) == 3
    assert outcome_rows(ledger, OutcomeFilter(source="judge")) == []


def test_scores_and_tokens_are_validated():
    with pytest.raises(ValidationError):
        OutcomeRecord(prompt="p", model="m", score=1.5, source="import")
    with pytest.raises(ValidationError):
        OutcomeRecord(prompt="p", model="m", score=0.5, source="import", input_tokens=-1)
    with pytest.raises(ValidationError):
        OutcomeRecord(prompt="p", model="m", score=0.5, source="guess")  # type: ignore[arg-type]


def test_export_csv_and_parquet(ledger, tmp_path):
    record_outcomes(ledger, [outcome("a", "m1", 1.0), outcome("b", "m2", 0.0, cost=None)])
    target = tmp_path / "out" / "outcomes.csv"
    assert export_outcomes(ledger, target, "csv") == 2
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["model"]: r["cost_usd"] for r in rows} == {"m1": "0.00100000", "m2": ""}
    parquet = tmp_path / "outcomes.parquet"
    assert export_outcomes(ledger, parquet, "parquet", OutcomeFilter(model="m1")) == 1
    assert duckdb.sql(f"SELECT model FROM read_parquet('{parquet}')").fetchall() == [("m1",)]
    with pytest.raises(ConfigError):
        export_outcomes(ledger, tmp_path / "x.json", "json")  # type: ignore[arg-type]


def _attempt(attempt_id: str, run_id: str = "r1", comparison_id: str = "") -> AttemptRecord:
    return AttemptRecord(
        attempt_id=attempt_id, run_id=run_id, comparison_id=comparison_id, provider="groq",
        model="groq:llama-3.3-70b", tier="economy", mode="sandbox", status="ok",
        cost_usd=Decimal("0.0004"), latency_ms=120.0, input_tokens=30, output_tokens=50,
        started_at=1_700_000_000.0, ended_at=1_700_000_000.1)


def test_a_rating_becomes_an_outcome(ledger):
    ledger.start_run("r1", "summarise the quarterly report", "sandbox")
    ledger.record_comparison("c1", "compare", "which is bigger, 2^10 or 10^3?")
    ledger.record_attempts([_attempt("a1"), _attempt("a2", comparison_id="c1")])
    ledger.rate("a1", 4, rater="ana")
    ledger.rate("a2", None, best=True, source="judge")
    ledger.rate("a2", None)  # no score: no outcome
    ledger.rate("not-an-attempt", 5)  # nothing to learn from: no outcome, no error
    rows = {r.attempt_id: r for r in outcome_rows(ledger)}
    assert set(rows) == {"a1", "a2"}
    assert (rows["a1"].prompt, rows["a1"].score, rows["a1"].source) == (
        "summarise the quarterly report", 0.75, "person")
    assert (rows["a2"].prompt, rows["a2"].score, rows["a2"].source) == (
        "which is bigger, 2^10 or 10^3?", 1.0, "judge")
    assert rows["a1"].model == "groq:llama-3.3-70b"
    assert (rows["a1"].cost_usd, rows["a1"].input_tokens, rows["a1"].output_tokens) == (
        Decimal("0.0004"), 30, 50)
    assert len(ledger.get_ratings(attempt_id="a2")) == 2, "the ratings themselves are kept"


def test_rating_again_replaces_its_outcome_and_clearing_it_removes_it(ledger):
    ledger.start_run("r1", "summarise the quarterly report", "sandbox")
    ledger.record_attempts([_attempt("a1")])
    ledger.rate("a1", 2, rater="ana")
    ledger.rate("a1", 5, rater="ana")
    ledger.rate("a1", 3, rater="ben")
    scores = sorted(r.score for r in outcome_rows(ledger))
    assert scores == [0.5, 1.0], "one outcome per answer and rater, the latest score"
    ledger.rate("a1", None, rater="ana")
    assert [r.score for r in outcome_rows(ledger)] == [0.5]
