"""Resume: answers the ledger holds are adopted (never paid twice), a live owner is refused, and
a resumed run's budget counts what the run already spent."""

from __future__ import annotations

import os
import socket
from decimal import Decimal

import pytest
from test_call_stack_entry_points import CATALOG, CountingTransport, _gateway

from core.calls.factory import open_stack
from core.errors import ConfigError
from core.execution.runs import RunSession, with_run_budget
from core.ledger import Ledger
from core.ledger.records import TaskRow
from core.planning.plan import Plan, Task
from core.policy import Policy


def _plan() -> Plan:
    return Plan(demand="d", tasks=[
        Task(id=f"t{i}", title=f"T{i}", kind="research", complexity=1, prompt=f"fact {i}",
             max_output_tokens=60)
        for i in range(3)
    ])


async def _run(db, plan: Plan, **options) -> tuple[RunSession, CountingTransport]:
    transport = CountingTransport()
    gateway = _gateway(transport)
    session = RunSession(plan, db_path=db, gateway=gateway, policy=Policy(), catalog=CATALOG,
                         **options)
    await session.run()
    await gateway.aclose()
    return session, transport


async def test_answers_in_the_ledger_are_adopted_even_when_task_rows_say_running(tmp_path):
    db = tmp_path / "r.duckdb"
    first, _ = await _run(db, _plan())
    ledger = Ledger(db)
    paid = ledger.run_spend(first.run_id)
    # as if killed after the answers were written but before the task rows were
    ledger.upsert_tasks([row.model_copy(update={"status": "running", "output": None})
                         for row in ledger.get_tasks(first.run_id)])
    ledger.mark_interrupted(first.run_id)
    transport = CountingTransport()
    gateway = _gateway(transport)
    resumed = RunSession.resume(first.run_id, db_path=db, gateway=gateway, policy=Policy(),
                                catalog=CATALOG)
    summary = await resumed.run()
    await gateway.aclose()
    assert summary.status == "done" and sum(transport.requests.values()) == 0
    assert all(r.resumed and r.output for r in summary.task_results)
    assert summary.cost_usd == paid == ledger.run_spend(first.run_id)


def test_a_run_whose_owner_is_alive_is_refused(tmp_path):
    db = tmp_path / "o.duckdb"
    ledger = Ledger(db)
    parent = f"{socket.gethostname()}:{os.getppid()}"  # a live process that is not this one
    ledger.start_run("busy", "d", "sandbox", Decimal("1"), _plan().model_dump_json(),
                     owner=parent)
    with pytest.raises(ConfigError, match="still running in process"):
        RunSession.resume("busy", db_path=db)
    ledger.start_run("far", "d", "sandbox", Decimal("1"), _plan().model_dump_json(),
                     owner="another-host:123")
    with pytest.raises(ConfigError, match="--force"):
        RunSession.resume("far", db_path=db)
    assert RunSession.resume("far", db_path=db, force=True).run_id == "far"


async def test_a_resumed_run_starts_from_what_it_already_spent(tmp_path):
    db = tmp_path / "b.duckdb"
    first, _ = await _run(db, _plan(), budget_usd=Decimal("1"))
    spent = Ledger(db).run_spend(first.run_id)
    assert spent > 0
    policy = with_run_budget(Policy(), Decimal("1"))
    stack = open_stack(_gateway(CountingTransport()), policy, Ledger(db),
                       on_attempt=lambda record: None, run_id=first.run_id)
    assert stack.state.budget is not None
    assert stack.state.budget.spent()["run"] == spent
    assert stack.state.budget.headroom("openai")[0] <= Decimal("1") - spent


def test_task_rows_are_typed() -> None:
    with pytest.raises(ValueError):
        TaskRow(run_id="r", task_id="t", wave=0, title="T", kind="k", status="exploded")
