"""``orchestra run``/``resume``/``runs``/``show``/``history`` end to end, over the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main
from core.ledger import Ledger
from core.errors import LedgerError

DEMAND = "research the three cheapest EU cloud GPU offers, compare them, and write a one-page recommendation"
ROOT = Path(__file__).resolve().parent.parent


def _cli_json(capsys, *argv: str) -> dict:
    code = main(list(argv))
    out = capsys.readouterr().out
    return {"code": code, **json.loads(out)} if out.strip().startswith("{") else {"code": code, "list": json.loads(out)}


def test_run_json_reports_the_figures_users_quote(capsys, tmp_path):
    db = str(tmp_path / "l.duckdb")
    result = _cli_json(capsys, "run", DEMAND, "--json", "--db", db)
    assert result["code"] == 0 and result["status"] == "done"
    for key in ("run_id", "tasks", "waves", "cost_usd", "providers_used", "failures",
                "makespan_s", "baseline_cost_usd", "task_results"):
        assert key in result
    assert result["tasks"] == 7 and result["waves"] == 5 and result["failures"] == 0
    assert result["baseline_cost_usd"] > result["cost_usd"] > 0
    assert {t["status"] for t in result["task_results"]} == {"done"}
    assert all(t["model"] and t["wave"] is not None for t in result["task_results"])
    attempts = Ledger(db).get_attempts(run_id=result["run_id"])
    assert len(attempts) >= 7 and all(a.mode == "sandbox" for a in attempts)
    paid = sum(a.cost_usd for a in attempts if a.status == "ok")
    assert float(paid) == pytest.approx(result["cost_usd"], rel=1e-6)
    shown = _cli_json(capsys, "show", result["run_id"], "--json", "--db", db)
    assert shown["status"] == "done" and len(shown["tasks"]) == 7
    runs = _cli_json(capsys, "runs", "--json", "--db", db)["list"]
    assert runs[0]["run_id"] == result["run_id"]
    assert main(["history", "--by", "provider", "--csv", str(tmp_path / "h.csv"), "--db", db]) == 0
    assert (tmp_path / "h.csv").read_text().count("\n") == len(attempts) + 1


def test_bad_input_gets_one_line_errors(capsys, tmp_path):
    assert main(["run", DEMAND, "--budget", "lots", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    bad = tmp_path / "plan.yaml"
    bad.write_text("demand: x\ntasks:\n  - {id: a, title: A, kind: writing, prompt: p, depends_on: [b]}\n")
    assert main(["run", "--plan", str(bad), "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "depends on unknown task 'b'" in err and err.strip().count("\n") == 0
    assert main(["resume", "nope", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "orchestra runs" in capsys.readouterr().err


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _done_tasks(db: str) -> dict[str, int]:
    """Run id → number of done tasks, read the way another process would (open, read, close)."""
    try:
        ledger = Ledger(db, lock_timeout_s=2)
        runs = ledger.recent_runs(1)
        if not runs:
            return {}
        return {runs[0].run_id: sum(t.status == "done" for t in ledger.get_tasks(runs[0].run_id))}
    except LedgerError:
        return {}


def _spawn_run(db: str, scale: str) -> subprocess.Popen:
    env = {**os.environ, "ORCHESTRA_DB": db, "ORCHESTRA_SANDBOX_LATENCY_SCALE": scale}
    return subprocess.Popen([sys.executable, "-m", "core", "run", DEMAND, "--json"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_run_killed_with_sigkill_resumes_without_paying_twice(capsys, tmp_path):
    db = str(tmp_path / "kill.duckdb")
    proc = _spawn_run(db, "1")
    try:
        progress = _wait_for(lambda: {k: v for k, v in _done_tasks(db).items() if v >= 3},
                             60, "three finished tasks")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    run_id = next(iter(progress))
    listed = _cli_json(capsys, "runs", "--json", "--db", db)["list"]
    assert listed[0]["run_id"] == run_id and listed[0]["status"] == "interrupted"
    ledger = Ledger(db)
    before = ledger.get_attempts(run_id=run_id)
    done_before = {t.task_id for t in ledger.get_tasks(run_id) if t.status == "done"}
    assert len(done_before) >= 3 and before

    result = _cli_json(capsys, "resume", run_id, "--json", "--db", db)
    assert result["code"] == 0 and result["status"] == "done" and result["done"] == 7
    resumed = {t["id"] for t in result["task_results"] if t["resumed"]}
    assert resumed == done_before
    after = ledger.get_attempts(run_id=run_id)
    ids = [a.attempt_id for a in after]
    assert len(ids) == len(set(ids)), "an attempt was stored twice"
    assert {a.attempt_id for a in before} <= set(ids), "an attempt paid for was lost"
    new_calls = {a.task_id for a in after if a.attempt_id not in {b.attempt_id for b in before}}
    assert new_calls.isdisjoint(done_before), "a finished task was called again"


def test_a_reader_process_can_watch_the_ledger_while_a_run_writes_it(tmp_path):
    db = str(tmp_path / "shared.duckdb")
    proc = _spawn_run(db, "0.3")
    seen: list[int] = []
    try:
        while proc.poll() is None:
            seen.extend(_done_tasks(db).values())
            time.sleep(0.05)
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)["status"] == "done"
    assert seen == sorted(seen) and len(seen) >= 3, "the reader saw the run progress"
    assert "lock" not in err.decode().lower()
    final = _done_tasks(db)
    assert list(final.values()) == [7]


def test_a_budget_exhausted_mid_run_loses_nothing_and_resumes_with_more(capsys, tmp_path):
    db = str(tmp_path / "b.duckdb")
    first = _cli_json(capsys, "run", DEMAND, "--budget", "0.0004", "--json", "--db", db)
    assert first["code"] == 1 and first["status"] == "failed"
    failed = [t for t in first["task_results"] if t["status"] == "failed"]
    assert failed and all(t["failure"] == "budget_exceeded" for t in failed)
    assert "raise the budget" in failed[0]["error"]
    assert first["cost_usd"] <= 0.0004
    done_first = {t["id"] for t in first["task_results"] if t["status"] == "done"}
    second = _cli_json(capsys, "resume", first["run_id"], "--budget", "1", "--json", "--db", db)
    assert second["code"] == 0 and second["done"] == 7
    assert {t["id"] for t in second["task_results"] if t["resumed"]} == done_first
    assert second["baseline_cost_usd"] > second["cost_usd"]


def test_only_runs_whose_process_is_gone_are_marked_interrupted(tmp_path):
    from core.execution.resume import reconcile_interrupted, this_process

    ledger = Ledger(tmp_path / "o.duckdb")
    host = this_process().rpartition(":")[0]
    ledger.start_run("alive", "d", "sandbox", owner=this_process())
    ledger.start_run("dead", "d", "sandbox", owner=f"{host}:999999999")
    ledger.start_run("elsewhere", "d", "sandbox", owner="other-host:1")
    runs = {r.run_id: r.status for r in reconcile_interrupted(ledger, ledger.recent_runs())}
    assert runs == {"alive": "running", "dead": "interrupted", "elsewhere": "running"}
    assert ledger.get_run("dead").status == "interrupted"


def test_the_day_share_cap_counts_earlier_calls_from_the_ledger(tmp_path):
    import asyncio

    from core.planning.planner import plan_offline
    from core.execution.runs import RunSession
    from core.types import AttemptRecord

    db = tmp_path / "day.duckdb"
    plan = plan_offline("translate 'good morning' into French")
    fresh = asyncio.run(RunSession(plan, db_path=tmp_path / "fresh.duckdb").run())
    favourite = fresh.task_results[0].model.partition(":")[0]
    now = time.time()
    Ledger(db).record_attempts([
        AttemptRecord(attempt_id=f"earlier-{i}", provider=favourite, model=fresh.task_results[0].model,
                      mode="sandbox", status="ok", started_at=now - 600 + i, ended_at=now - 599 + i)
        for i in range(10)])
    assert len(Ledger(db).calls_since(now - 3600)) == 10
    capped = asyncio.run(RunSession(plan, db_path=db).run())
    assert capped.task_results[0].model.partition(":")[0] != favourite


def test_llm_complexity_mode_scores_tasks_with_an_economy_model_and_records_the_calls(tmp_path):
    import asyncio

    from core.planning.plan import Plan, Task
    from core.policy import ComplexitySettings, Policy
    from core.execution.runs import RunSession

    plan = Plan(demand="d", tasks=[
        Task(id="a", title="A", kind="research", prompt="list three databases"),
        Task(id="b", title="B", kind="analysis", prompt="compare them", depends_on=["a"]),
        Task(id="c", title="C", kind="writing", prompt="pinned", complexity=1, depends_on=["b"]),
    ])
    policy = Policy(complexity=ComplexitySettings(mode="llm"))
    session = RunSession(plan, db_path=tmp_path / "c.duckdb", policy=policy)
    reasons = []
    session.on_event(lambda e: reasons.append(e.data["reason"]) if e.type == "task_started" else None)
    summary = asyncio.run(session.run())
    assert summary.status == "done"
    # the sandbox answers the scoring schema, so unscored tasks are scored by an economy model
    assert [" by " in r for r in reasons] == [True, True, False]
    scoring = [a for a in session.ledger.get_attempts(run_id=summary.run_id)
               if a.purpose == "scorer"]
    assert sorted(a.task_id for a in scoring) == ["a", "b"]
    assert all(session.catalog.model(a.model).tier == "economy" for a in scoring)
    # the cost reported is what the ledger holds: scoring calls included
    spent = sum(a.cost_usd or 0 for a in session.ledger.get_attempts(run_id=summary.run_id))
    assert summary.cost_usd == spent > sum(t.cost_usd or 0 for t in summary.task_results)


def test_pattern_tasks_in_a_run_are_held_to_its_budget(tmp_path):
    import asyncio
    from decimal import Decimal

    from core.planning.plan import Plan, Task
    from core.execution.runs import RunSession

    plan = Plan(demand="d", tasks=[Task(id="cmp", title="Compare", kind="compare",
                                        prompt="Name a prime number", max_output_tokens=400)])
    tight = asyncio.run(RunSession(plan, db_path=tmp_path / "p.duckdb",
                                   budget_usd=Decimal("0.00001")).run())
    [result] = tight.task_results
    assert result.status == "failed" and result.failure == "budget_exceeded"
    assert tight.cost_usd == 0
    ample = asyncio.run(RunSession(plan, db_path=tmp_path / "p.duckdb",
                                   budget_usd=Decimal("1")).run())
    assert ample.status == "done" and 0 < ample.cost_usd < 1


def test_people_s_ratings_steer_later_routing(tmp_path, capsys):
    db = str(tmp_path / "r.duckdb")
    first = _cli_json(capsys, "ask", "write a haiku about rain", "--json", "--db", db)
    ledger = Ledger(db)
    [attempt] = ledger.get_attempts()
    for rater in ("ann", "bo", "cy"):  # one rating per answer and rater counts
        ledger.rate(attempt.attempt_id, rating=1, rater=rater, source="person")
    second = _cli_json(capsys, "ask", "write a haiku about rain", "--json", "--db", db)
    assert second["model"] != first["model"]
