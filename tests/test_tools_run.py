"""Plan tasks with ``tools:``: the run path runs the tool loop (sandbox, an MCP server, the
ledger), and plain tasks beside them are untouched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli import main
from core.execution.runs import RunSession
from core.ledger import Ledger
from core.planning.plan import Plan, Task
from core.policy import Policy
from core.tools.settings import ToolSettings

FIXTURES = Path(__file__).parent / "fixtures"
MCP = {"name": "fixture", "command": sys.executable, "args": [str(FIXTURES / "mcp_server.py")]}


def plan() -> Plan:
    return Plan(demand="count the words, then do the sums", tasks=[
        Task(id="count", title="Count words", kind="analysis",
             prompt="How many words are in: the quick brown fox jumps", tools=["word_count"],
             tool_choice="word_count"),
        Task(id="sum", title="Multiply", kind="analysis", prompt="What is 1234 * 5678?",
             tools=["calculator", "clock"]),
        Task(id="write", title="Write it up", kind="writing", depends_on=["count", "sum"],
             prompt="Write one line with both results."),
    ])


async def test_a_run_uses_mcp_and_builtin_tools_in_plan_tasks(tmp_path: Path) -> None:
    db = tmp_path / "run.duckdb"
    policy = Policy(tools=ToolSettings(mcp=[MCP]))
    session = RunSession(plan(), db_path=db, policy=policy)
    summary = await session.run()
    assert summary.status == "done"
    ledger = Ledger(db)
    calls = {row.task_id: row for row in ledger.get_tool_calls(run_id=session.run_id)}
    assert set(calls) == {"count", "sum"}
    assert (calls["count"].tool, calls["count"].source) == ("word_count", "mcp:fixture")
    assert calls["count"].status == "ok" and calls["sum"].tool == "calculator"
    assert json.loads(calls["sum"].arguments_json) == {"expression": "1234 * 5678"}
    attempts = ledger.get_attempts(run_id=session.run_id)
    by_task = {t: [a for a in attempts if a.task_id == t and a.status == "ok"]
               for t in ("count", "sum", "write")}
    assert len(by_task["count"]) == 2 and len(by_task["sum"]) == 2 and len(by_task["write"]) == 1
    assert calls["sum"].attempt_id == by_task["sum"][0].attempt_id
    tasks = {row.task_id: row for row in ledger.get_tasks(session.run_id)}
    assert "7006652" in (tasks["sum"].output or "")
    assert all(row.status == "done" for row in tasks.values())


def test_plan_files_take_tools(tmp_path: Path, capsys) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("demand: sums\ntasks:\n  - id: sum\n    title: Multiply\n    kind: analysis\n"
                    "    prompt: What is 1234 * 5678?\n    tools: [calculator]\n")
    assert main(["run", "--plan", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    [row] = Ledger().get_tool_calls(run_id=out["run_id"])
    assert row.tool == "calculator" and row.status == "ok"
