"""The ledger's write/read API: runs, tasks, attempts, comparisons, ratings, the attempt sink."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import LedgerError
from core.ledger import DEFAULT_DB, Ledger, TaskRow, resolve_db_path
from core.types import AttemptRecord

T0 = 1_750_000_000.25


def attempt(attempt_id: str, **fields: object) -> AttemptRecord:
    values: dict[str, object] = {
        "provider": "openai", "model": "openai:gpt-4o-mini", "mode": "sandbox", "status": "ok",
        "started_at": T0, "ended_at": T0 + 1.5,
    }
    values.update(fields)
    return AttemptRecord(attempt_id=attempt_id, **values)  # type: ignore[arg-type]


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "nested" / "dir" / "ledger.duckdb")


def test_path_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCHESTRA_DB")
    assert resolve_db_path() == DEFAULT_DB.resolve()
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "explicit.duckdb") == tmp_path / "explicit.duckdb"


def test_attempt_round_trip_keeps_every_field_decimal_and_null_cost(ledger):
    priced = attempt(
        "a1", run_id="r1", task_id="t1", comparison_id="c1", wave=2, attempt_no=3, tier="economy",
        error_class="", http_status=200, input_tokens=1200, output_tokens=300,
        cached_input_tokens=200, reasoning_tokens=50, cost_usd=Decimal("0.00123456"),
        latency_ms=812.5, ttft_ms=120.25, fallback_from="anthropic:claude", reason="cheapest",
    )
    unpriced = attempt("a2", run_id="r1", status="error", error_class="RateLimited",
                       error_message="slow down", http_status=429, cost_usd=None,
                       started_at=T0 + 2, ended_at=T0 + 2.5)
    assert ledger.record_attempts([priced, unpriced]) == 2
    stored = ledger.get_attempts(run_id="r1")
    assert [a.attempt_id for a in stored] == ["a1", "a2"]
    for original, back in zip([priced, unpriced], stored, strict=True):
        assert back.model_dump(exclude={"started_at", "ended_at"}) == original.model_dump(
            exclude={"started_at", "ended_at"})
        assert back.started_at == pytest.approx(original.started_at, abs=1e-6)
        assert back.ended_at == pytest.approx(original.ended_at, abs=1e-6)
    assert stored[0].cost_usd == Decimal("0.00123456")
    assert stored[1].cost_usd is None


def test_costs_are_rounded_to_eight_places(ledger):
    ledger.record_attempt(attempt("a1", cost_usd=Decimal("0.000000123456789")))
    assert ledger.get_attempts()[0].cost_usd == Decimal("0.00000012")


def test_duplicate_attempt_ids_are_ignored(ledger):
    assert ledger.record_attempt(attempt("a1", latency_ms=1.0)) is True
    assert ledger.record_attempt(attempt("a1", latency_ms=2.0)) is False
    assert ledger.record_attempts([attempt("a1"), attempt("a2"), attempt("a2")]) == 1
    stored = ledger.get_attempts()
    assert [a.attempt_id for a in stored] == ["a1", "a2"]
    assert stored[0].latency_ms == 1.0
    assert ledger.record_attempts([]) == 0


def test_get_attempts_filters_by_run_and_comparison(ledger):
    ledger.record_attempts([
        attempt("a1", run_id="r1"), attempt("a2", run_id="r2"),
        attempt("a3", comparison_id="c1"), attempt("a4", run_id="r1", comparison_id="c1"),
    ])
    assert [a.attempt_id for a in ledger.get_attempts(run_id="r1")] == ["a1", "a4"]
    assert [a.attempt_id for a in ledger.get_attempts(comparison_id="c1")] == ["a3", "a4"]
    assert [a.attempt_id for a in ledger.get_attempts("r1", "c1")] == ["a4"]
    assert len(ledger.get_attempts()) == 4


def test_run_lifecycle_and_resume(ledger):
    run = ledger.start_run("r1", "write a haiku", "sandbox", Decimal("0.5"), '{"tasks": []}')
    assert ledger.get_run("r1") == run
    ledger.update_run("r1", summary_json='{"spent": "0.1"}')
    assert ledger.get_run("r1").finished_at is None
    ledger.update_run("r1", status="done")
    done = ledger.get_run("r1")
    assert (done.status, done.summary_json, done.budget_usd) == ("done", '{"spent": "0.1"}',
                                                                Decimal("0.5"))
    assert done.finished_at is not None
    ledger.start_run("r1", "write a haiku", "live", None, '{"tasks": [1]}')
    resumed = ledger.get_run("r1")
    assert (resumed.status, resumed.finished_at, resumed.mode) == ("running", None, "live")
    assert resumed.created_at == run.created_at
    assert ledger.get_run("missing") is None


def test_tasks_upsert_and_interruption(ledger):
    ledger.start_run("r1", "demand", "mixed")
    ledger.upsert_task(TaskRow(run_id="r1", task_id="b", wave=1, status="queued"))
    ledger.upsert_task(TaskRow(run_id="r1", task_id="a", status="running", model="openai:x"))
    ledger.upsert_task(TaskRow(run_id="r1", task_id="a", status="done", model="openai:x",
                               output="answer", cost_usd=Decimal("0.01")))
    ledger.mark_interrupted("r1")
    tasks = ledger.get_tasks("r1")
    assert [(t.task_id, t.status, t.output) for t in tasks] == [
        ("a", "done", "answer"), ("b", "cancelled", None)]
    assert tasks[1].error == "interrupted"
    assert ledger.get_run("r1").status == "interrupted"


def test_recent_runs_newest_first(ledger):
    for run_id in ("old", "mid", "new"):
        ledger.start_run(run_id, run_id, "sandbox")
    assert [r.run_id for r in ledger.recent_runs(limit=2)] == ["new", "mid"]


def test_comparisons_and_ratings(ledger):
    ledger.record_comparison("c1", "compare", "which is best?", {"models": ["a", "b"]})
    ledger.record_attempts([attempt("x", comparison_id="c1"), attempt("y", comparison_id="c1"),
                            attempt("z")])
    ledger.rate("x", 4, rater="ana")
    ledger.rate("y", best=True, source="judge", note="most precise")
    ledger.rate("z", 1)
    assert ledger.get_comparison("c1").meta_json == '{"models": ["a", "b"]}'
    in_comparison = ledger.get_ratings(comparison_id="c1")
    assert [(r.attempt_id, r.rating, r.best, r.source) for r in in_comparison] == [
        ("x", 4, False, "person"), ("y", None, True, "judge")]
    assert [r.rating for r in ledger.get_ratings(attempt_id="z")] == [1]
    with pytest.raises(ValueError):
        ledger.rate("x", 6)


def stored_count_reaches(ledger: Ledger, count: int) -> bool:
    """Poll (bounded) until the ledger holds ``count`` attempts."""
    for _ in range(300):
        if len(ledger.get_attempts()) == count:
            return True
    return False


def test_sink_flushes_in_background_on_batch_size_and_on_close(ledger):
    with ledger.attempt_sink(flush_interval_ms=20, max_batch=1000) as sink:
        sink.add(attempt("bg"))
        assert stored_count_reaches(ledger, 1)  # written by the thread, before close
    with ledger.attempt_sink(flush_interval_ms=60_000, max_batch=3) as sink:
        for name in ("b1", "b2", "b3"):
            sink.add(attempt(name))
        assert stored_count_reaches(ledger, 4)  # a full batch does not wait for the interval
        for name in ("c1", "c2"):
            sink.add(attempt(name))
    assert len(ledger.get_attempts()) == 6
    with pytest.raises(LedgerError, match="closed"):
        sink.add(attempt("late"))


def test_sink_rejects_a_bad_interval(ledger):
    with pytest.raises(LedgerError):
        ledger.attempt_sink(flush_interval_ms=0)


def test_task_rows_upsert_in_one_batch_and_the_last_row_of_a_task_wins(ledger):
    ledger.upsert_task(TaskRow(run_id="r1", task_id="a", status="running"))
    ledger.upsert_tasks([
        TaskRow(run_id="r1", task_id="a", status="done", output="A", cost_usd=Decimal("0.1")),
        TaskRow(run_id="r1", task_id="b", status="running", wave=1),
        TaskRow(run_id="r1", task_id="b", status="failed", wave=1, error="boom"),
    ])
    rows = {t.task_id: t for t in ledger.get_tasks("r1")}
    assert (rows["a"].status, rows["a"].output, rows["a"].cost_usd) == ("done", "A",
                                                                        Decimal("0.1"))
    assert (rows["b"].status, rows["b"].wave, rows["b"].error) == ("failed", 1, "boom")
