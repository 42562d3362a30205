"""A run's budget belongs to the run: across three resumes its total spend never exceeds it.

Issue 10 measured ``--budget 0.001`` then three plain resumes spending 1.9x the budget, because
each resume started its budget from zero. Here a plan that costs about three times its budget
is run through the real CLI (``orchestra run --plan … --budget B``, then ``orchestra resume``
three times, against the in-process sandbox), and after every step the ledger's spend for the
run, every attempt of it, must be at most B.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.ledger import Ledger

from test_crash_resume import TASKS, write_plan  # the same plan of small marked tasks

RESUMES = 3
CENT_MICROS = Decimal("0.00000001")  # the ledger's resolution, the smallest budget accepted


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    assert code in (0, 1), f"{argv} exited {code}"  # 1: the run stopped short (budget)
    return json.loads(out)


def _spend(db: Path, run_id: str) -> Decimal:
    """Everything the ledger holds for the run: every attempt, priced at what it cost."""
    return sum((a.cost_usd for a in Ledger(str(db)).get_attempts(run_id=run_id)
                if a.cost_usd is not None), Decimal(0))


_FULL_COST: dict[str, Decimal] = {}  # plan text → its cost, worked out once per session


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "plan.yaml")


@pytest.fixture
def full_cost(plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Decimal:
    """What the whole plan costs with no budget in the way (same sandbox seed, same answers)."""
    text = plan.read_text()
    if text not in _FULL_COST:
        summary = _cli(capsys, "run", "--plan", str(plan), "--json",
                       "--db", str(tmp_path / "full.duckdb"))
        assert summary["status"] == "done" and summary["done"] == TASKS
        _FULL_COST[text] = Decimal(str(summary["cost_usd"])).quantize(CENT_MICROS, ROUND_DOWN)
    return _FULL_COST[text]


def test_three_plain_resumes_never_spend_more_than_the_runs_budget(
    plan: Path, full_cost: Decimal, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    budget = (full_cost / 3).quantize(CENT_MICROS, ROUND_DOWN)
    db = str(tmp_path / "b.duckdb")
    first = _cli(capsys, "run", "--plan", str(plan), "--budget", str(budget), "--json",
                 "--db", db)
    run_id = first["run_id"]
    assert first["status"] != "done", "the budget should have stopped the run short"
    record = Ledger(db).get_run(run_id)
    assert record is not None and record.budget_usd == budget
    spends = [_spend(Path(db), run_id)]
    done = [first["done"]]
    for _ in range(RESUMES):
        summary = _cli(capsys, "resume", run_id, "--json", "--db", db)
        spends.append(_spend(Path(db), run_id))
        done.append(summary["done"])
        assert Decimal(str(summary["cost_usd"])) == pytest.approx(spends[-1], abs=Decimal("1e-8"))
    assert all(spend <= budget for spend in spends), (
        f"spend after the run and each resume {spends} broke the budget {budget}")
    assert spends[0] > 0 and done[-1] < TASKS, (spends, done)
    assert spends == sorted(spends)  # nothing is refunded: the ledger only grows


def test_raising_the_budget_on_resume_finishes_the_run_within_the_new_budget(
    plan: Path, full_cost: Decimal, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    small = (full_cost / 4).quantize(CENT_MICROS, ROUND_DOWN)
    db = str(tmp_path / "r.duckdb")
    first = _cli(capsys, "run", "--plan", str(plan), "--budget", str(small), "--json",
                 "--db", db)
    assert first["status"] != "done" and _spend(Path(db), first["run_id"]) <= small
    larger = full_cost * 2
    final = _cli(capsys, "resume", first["run_id"], "--budget", str(larger), "--json",
                 "--db", db)
    assert final["status"] == "done" and final["done"] == TASKS
    assert _spend(Path(db), first["run_id"]) <= larger
