"""One tool call: its result or error for the model, its ledger row (m005) and its span."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from opentelemetry import trace

from core.errors import LedgerError
from core.ledger import Ledger
from core.tools.builtins import builtin_tools
from core.tools.execute import CallSite, execute_call
from core.tools.functions import function_tool
from core.tools.records import ToolCallRecord, arguments_json, redact_arguments
from core.tools.session import ToolCallWriter
from core.tools.settings import ToolSettings
from tests.fixtures.spans import PROVIDER, last_span
from core.types import ToolCallPart


def tools() -> dict[str, object]:
    async def nap(seconds: float) -> str:
        """Sleeps."""
        await asyncio.sleep(seconds)
        return "rested"

    async def own_timeout() -> str:
        """Raises a TimeoutError of its own."""
        raise TimeoutError("upstream took too long")

    found = {t.name: t for t in builtin_tools(ToolSettings())}
    found.update({t.name: t for t in (function_tool(nap), function_tool(own_timeout))})
    return found


SITE = CallSite(run_id="r1", task_id="t1", attempt_id="a1")


async def test_ok_call_gives_result_record_and_span() -> None:
    call = ToolCallPart(id="c1", name="calculator", arguments={"expression": "6 * 7"})
    done = await execute_call(call, tools(), SITE, timeout_s=1.0, tracer_provider=PROVIDER)
    assert done.result.content == "42" and not done.result.is_error
    assert done.result.call_id == "c1" and done.result.name == "calculator"
    record = done.record
    assert (record.run_id, record.task_id, record.attempt_id, record.call_id) == (
        "r1", "t1", "a1", "c1")
    assert record.status == "ok" and record.source == "builtin" and record.duration_ms >= 0
    span = last_span("execute_tool calculator")
    assert dict(span.attributes) == {"gen_ai.operation.name": "execute_tool",
                                     "gen_ai.tool.name": "calculator",
                                     "gen_ai.tool.call.id": "c1"}


async def test_failures_become_error_results() -> None:
    cases = {
        "unknown": (ToolCallPart(id="c2", name="weather", arguments={}), "error",
                    "no tool named 'weather'; call one of: calculator, clock, http_get"),
        "bad args": (ToolCallPart(id="c3", name="clock", arguments={"zone": "x"}), "error",
                     "ToolArgumentsInvalid: clock: argument zone"),
        "slow": (ToolCallPart(id="c4", name="nap", arguments={"seconds": 5}), "timeout",
                 "nap did not finish within 0.2s"),
        "own timeout": (ToolCallPart(id="c5", name="own_timeout"), "error",
                        "own_timeout failed: TimeoutError"),
    }
    for label, (call, status, text) in cases.items():
        done = await execute_call(call, tools(), SITE, timeout_s=0.2, tracer_provider=PROVIDER)
        assert done.result.is_error, label
        assert done.record.status == status, label
        assert text in done.result.content and done.record.error == done.result.content, label
    nap = last_span("execute_tool nap")
    assert nap.status.status_code == trace.StatusCode.ERROR
    assert nap.attributes["error.type"] == "timeout"


async def test_cancellation_is_not_swallowed() -> None:
    call = ToolCallPart(id="c6", name="nap", arguments={"seconds": 5})
    task = asyncio.ensure_future(execute_call(call, tools(), SITE, timeout_s=10))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_redaction_by_name_and_by_value() -> None:
    secret = "sk-live-ABCDEFGHIJKLMNOP"
    args = {"q": f"use {secret} here", "headers": {"Authorization": "Bearer x"},
            "items": [{"password": "p"}, "plain"], "monkey": "ok", "n": 3}
    assert redact_arguments(args, [secret, "ab"]) == {
        "q": "use [redacted] here", "headers": {"Authorization": "[redacted]"},
        "items": [{"password": "[redacted]"}, "plain"], "monkey": "ok", "n": 3}
    assert json.loads(arguments_json({"api_key": "k", "x": 1})) == {"api_key": "[redacted]",
                                                                     "x": 1}
    echo = {"note": "key was sk-live-AB*************MNOP, refused"}  # a vendor's masked echo
    assert redact_arguments(echo, [secret]) == {"note": "key was [redacted], refused"}


async def test_errors_in_the_ledger_are_redacted() -> None:
    secret = "sk-live-ABCDEFGHIJKLMNOP"

    async def leaky(url: str) -> str:
        """Fails, quoting its argument."""
        raise RuntimeError(f"cannot open {url}")

    call = ToolCallPart(id="c7", name="leaky", arguments={"url": f"https://x/?key={secret}"})
    done = await execute_call(call, {"leaky": function_tool(leaky)}, SITE, timeout_s=1,
                              secrets=[secret])
    assert secret not in done.record.error and "[redacted]" in done.record.error
    assert secret not in done.record.arguments_json


def test_ledger_keeps_tool_calls() -> None:
    ledger = Ledger()
    now = time.time()
    rows = [ToolCallRecord(run_id="r1", task_id="t1", attempt_id="a1", call_id=f"c{i}",
                           tool="calculator", source="builtin", arguments_json='{"e":"1"}',
                           started_at=now + i, duration_ms=1.5, status="ok")
            for i in range(3)]
    ledger.record_tool_calls(rows)
    ledger.record_tool_calls(rows[:1])  # a known (attempt, call) is not written twice
    stored = ledger.get_tool_calls(run_id="r1")
    assert [r.call_id for r in stored] == ["c0", "c1", "c2"]
    assert stored[0].started_at == pytest.approx(now, abs=1e-3)
    assert ledger.get_tool_calls(attempt_ids=["a1"]) == stored
    assert ledger.get_tool_calls(attempt_ids=["other"]) == [] == ledger.get_tool_calls("r2")
    bad = rows[0].model_copy(update={"call_id": "c9", "status": "weird"})
    with pytest.raises(LedgerError):
        ledger.record_tool_calls([bad])
    tables = ledger.transact(lambda con: con.execute(
        "SELECT name FROM _migrations WHERE name = 'm005_tool_calls'").fetchall())
    assert tables == [("m005_tool_calls",)]


def test_tool_call_writer_writes_everything_and_reports_failures() -> None:
    ledger = Ledger()

    def record(i: int) -> ToolCallRecord:
        return ToolCallRecord(attempt_id="w", call_id=f"c{i}", tool="clock",
                              started_at=time.time(), duration_ms=0.1, status="ok")

    with ToolCallWriter(ledger) as write:
        for i in range(20):
            write([record(i)])
    assert [r.call_id for r in ledger.get_tool_calls(attempt_ids=["w"])] == [
        f"c{i}" for i in range(20)]
    failing = ToolCallWriter(ledger)
    failing([record(99).model_copy(update={"status": "weird"})])  # the table's CHECK refuses it
    with pytest.raises(LedgerError):
        failing.close()
