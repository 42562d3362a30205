"""A run on a background thread, as the dashboard starts it: events, completion, cancel."""

from __future__ import annotations

import time

from ui.live import LiveRun
from core.planning.planner import plan_offline
from core.execution.runs import RunSession

DEMAND = "compare Postgres, MySQL and SQLite for a small SaaS, and write a recommendation"


def test_a_live_run_publishes_events_while_the_caller_stays_free(tmp_path):
    live = LiveRun.start(RunSession(plan_offline(DEMAND), db_path=tmp_path / "l.duckdb"))
    assert live.wait(60) and live.error is None
    events = live.events()
    assert events[0].type == "run_started" and events[-1].type == "run_done"
    assert live.summary is not None and live.summary.status == "done"
    assert live.events(since=len(events) - 1) == events[-1:]


def test_a_live_run_can_be_cancelled_from_another_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_SANDBOX_LATENCY_SCALE", "1")
    live = LiveRun.start(RunSession(plan_offline(DEMAND), db_path=tmp_path / "l.duckdb"))
    deadline = time.monotonic() + 30
    while not any(e.type == "task_started" for e in live.events()):
        assert time.monotonic() < deadline, "the run never started a task"
        time.sleep(0.02)
    live.cancel()
    assert live.wait(30)
    assert live.summary.status == "cancelled" and live.summary.cancelled > 0
    assert any(e.type == "task_cancelled" for e in live.events())
