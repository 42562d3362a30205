"""A run read back from the ledger as the dashboard shows it: the board, the failures counted
one kind at a time, the deliverable, the runs list and History's failure queries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.execution.runs import RunSession
from core.ledger import Ledger, error_classes, failures_by_provider_day, runs_list
from core.planning.planner import plan_offline
from ui.runs import deliverable, open_run, run_list_rows, run_markdown, summary_figures

DEMAND = "Compare PostgreSQL, DuckDB and SQLite for analytics and write a short report"


@pytest.fixture
def faulty_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Ledger, str]:
    """One sandbox run under 40% injected faults, recorded in a private ledger."""
    monkeypatch.setenv("ORCHESTRA_SANDBOX_FAILURE_RATE", "0.4")
    monkeypatch.setenv("ORCHESTRA_SANDBOX_SEED", "7")
    monkeypatch.setenv("ORCHESTRA_SANDBOX_LATENCY_SCALE", "0")
    db = tmp_path / "ledger.duckdb"
    session = RunSession(plan_offline(DEMAND), db_path=db)
    asyncio.run(session.run())
    return Ledger(db), session.run_id


def test_a_finished_run_reopens_with_every_failure_counted(faulty_run: tuple[Ledger, str]
                                                           ) -> None:
    ledger, run_id = faulty_run
    view = open_run(run_id, ledger)
    assert view is not None and view.summary is not None
    attempts = ledger.get_attempts(run_id=run_id)
    failed = [a for a in attempts if a.status == "error"]
    assert failed, "40% faults should fail some attempts"
    board = view.board
    assert board.failed_attempts == len(failed)
    assert 0 < board.retries <= board.failed_attempts  # a retry follows a failure
    figures = dict(summary_figures(view.summary, board))
    assert figures["Failed attempts"] == str(len(failed))
    assert figures["Failed tasks"] == str(view.summary.failures)
    assert {"Retries", "Fallbacks", "Skipped tasks"} <= figures.keys()
    marked = [r for r in board.timeline_rows(0) if r["outcome"] == "failed"]
    assert len(marked) == len(failed)
    assert {r["label"] for r in marked} == {f"✗ {a.error_class}" for a in failed}
    notes = [n for card in board.cards.values() for n in card.notes]
    assert sum(" failed: " in n for n in notes) == len(failed)  # every note kept


def test_the_deliverable_is_the_final_tasks_output(faulty_run: tuple[Ledger, str]) -> None:
    ledger, run_id = faulty_run
    view = open_run(run_id, ledger)
    assert view is not None and view.summary is not None
    final = next(r for r in view.summary.task_results if r.id == "final")
    shown = deliverable(view.plan, view.summary)
    assert (final.output and final.output in shown) or final.status in shown
    report = run_markdown(view.plan, view.summary, view.board)
    assert report.index("## Deliverable") < report.index("| figure | value |")
    assert open_run("no-such-run", ledger) is None


def test_the_runs_list_filters_and_sums_each_run(faulty_run: tuple[Ledger, str]) -> None:
    ledger, run_id = faulty_run
    frame = runs_list(ledger=ledger)
    row = frame.iloc[0]
    attempts = ledger.get_attempts(run_id=run_id)
    assert row["run_id"] == run_id and row["calls"] == len(attempts)
    assert row["failed_attempts"] == sum(a.status == "error" for a in attempts)
    assert row["makespan_s"] > 0 and row["providers"]
    assert runs_list(search="duckdb", ledger=ledger)["run_id"].tolist() == [run_id]
    assert runs_list(search="nothing like it", ledger=ledger).empty
    assert runs_list(["cancelled"], ledger=ledger).empty
    assert runs_list([row["status"]], ledger=ledger)["run_id"].tolist() == [run_id]
    shown = run_list_rows(frame)[0]
    assert shown["label"].startswith(run_id[:8]) and shown["cost"].startswith("$")


def test_history_failure_queries_match_the_attempts(faulty_run: tuple[Ledger, str]) -> None:
    ledger, run_id = faulty_run
    attempts = ledger.get_attempts(run_id=run_id)
    rates = failures_by_provider_day(ledger=ledger)
    assert rates["calls"].sum() == len(attempts)
    assert rates["failures"].sum() == sum(a.status == "error" for a in attempts)
    assert ((rates["failure_rate"] >= 0) & (rates["failure_rate"] <= 1)).all()
    classes = error_classes(ledger=ledger)
    assert classes["failures"].sum() == rates["failures"].sum()
    assert "" not in set(classes["error_class"])
