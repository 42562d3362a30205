"""End to end: with ``[routing] mode = "learned"`` and imported outcomes in the ledger, a run
and ``ask`` are routed by the learned ranker and say so; with the heuristic they are not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.calls.gateway import Gateway
from core.catalog import default_catalog
from core.cli import main
from core.execution.runs import RunSession
from core.ledger import Ledger
from core.ledger.outcomes import record_outcomes
from core.planning.plan import Plan, Task
from core.policy import DEFAULT_POLICY
from core.sandbox.config import SandboxConfig
from tests.test_learned_ranker import CHEAP, DEAR, _outcomes, _policy

ALGEBRA = "An algebra question 3: kindly tell me about algebra matters."
POETRY = "A poetry question 4: now tell me about poetry matters."


def _plan() -> Plan:
    return Plan(demand="two questions", tasks=[
        Task(id="p", title="poetry", kind="writing", prompt=POETRY, max_output_tokens=60),
        Task(id="q", title="algebra", kind="analysis", prompt=ALGEBRA, max_output_tokens=60),
    ])


async def test_a_run_in_learned_mode_routes_by_the_learned_ranker(tmp_path: Path) -> None:
    db = tmp_path / "run.duckdb"
    record_outcomes(Ledger(db), _outcomes(120))
    gateway = Gateway(default_catalog(), sandbox=SandboxConfig(latency_scale=0))
    session = RunSession(_plan(), db_path=db, gateway=gateway, policy=_policy())
    summary = await session.run()
    await gateway.aclose()
    assert summary.status == "done"
    attempts = {a.task_id: a for a in session.ledger.get_attempts(run_id=summary.run_id)}
    assert attempts["p"].model == CHEAP and attempts["q"].model == DEAR
    assert all("learned: predicted" in a.reason for a in attempts.values())


def test_ask_in_learned_mode_and_the_heuristic_otherwise(tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    db = str(tmp_path / "ask.duckdb")
    record_outcomes(Ledger(db), _outcomes(120))
    policy = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, policy)
    monkeypatch.setenv("ORCHESTRA_POLICY", str(policy))
    assert main(["ask", ALGEBRA, "--json", "--db", db]) == 0
    heuristic = json.loads(capsys.readouterr().out)
    text = policy.read_text().replace('mode = "heuristic"\nquality_weight',
                                      'mode = "learned"\nquality_weight')
    policy.write_text(text)
    assert main(["ask", ALGEBRA, "--json", "--db", db]) == 0
    learned = json.loads(capsys.readouterr().out)
    assert learned["model"] == DEAR != heuristic["model"]
    reasons = [a.reason for a in Ledger(db).get_attempts()]
    assert any("learned: predicted" in r for r in reasons)
    assert not any("learned" in r for r in reasons[:1])
