"""Tool calls on the dashboard: the view model, and the Run page's task cards (AppTest)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.execution.runs import RunSession
from core.planning.plan import Plan, Task
from core.policy import DEFAULT_POLICY
from core.tools.records import ToolCallRecord
from ui.tools_view import tool_call_rows

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_rows_show_status_time_and_redacted_arguments() -> None:
    records = [ToolCallRecord(attempt_id="a", call_id="c1", tool="http_get", source="builtin",
                              arguments_json='{"url":"https://x.test","api_key":"[redacted]"}',
                              started_at=time.time(), duration_ms=12.345, status="error",
                              error="ToolRefused: host 'x.test' is not in the allowlist")]
    [row] = tool_call_rows(records)
    assert row["status"] == "⚠️ error" and row["ms"] == 12.3 and row["source"] == "builtin"
    assert json.loads(row["arguments"]) == {"url": "https://x.test", "api_key": "[redacted]"}
    assert "not in the allowlist" in row["error"]


def test_run_page_task_cards_show_tool_calls(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, policy)
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "ledger.duckdb"))
    monkeypatch.setenv("ORCHESTRA_POLICY", str(policy))
    plan = Plan(demand="multiply", tasks=[
        Task(id="sum", title="Multiply", kind="analysis", prompt="What is 1234 * 5678?",
             tools=["calculator"])])
    session = RunSession(plan)
    assert asyncio.run(session.run()).status == "done"
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = session.run_id
    at.run()
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, at.exception
    assert "**Tool calls** (1)" in [m.value for m in at.markdown]
    [frame] = [d for d in at.dataframe if "tool" in d.value.columns]
    assert list(frame.value["tool"]) == ["calculator"]
    assert "1234 * 5678" in frame.value["arguments"][0]
