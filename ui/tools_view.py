"""Tool calls on the dashboard: the calls a run's task or a comparison's answers made.

``tool_call_rows`` is the view model (one plain dict per call, arguments as stored: secrets
redacted); ``render_tool_calls`` draws them under a task card or an answer. Reads come from the
ledger (``core.ledger``), cached for a few seconds so a polling page does not reread each time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import streamlit as st

from core.ledger import Ledger
from core.tools.records import ToolCallRecord

_STATUS_ICON = {"ok": "✅", "error": "⚠️", "timeout": "⏱️"}


def tool_call_rows(records: list[ToolCallRecord]) -> list[dict[str, Any]]:
    """One row per call: tool, source, status, time, arguments and error."""
    return [{"tool": r.tool, "source": r.source,
             "status": f"{_STATUS_ICON.get(r.status, '')} {r.status}".strip(),
             "ms": round(r.duration_ms, 1),
             "arguments": json.dumps(json.loads(r.arguments_json), ensure_ascii=False),
             "error": r.error} for r in records]


@st.cache_data(ttl=3, show_spinner=False)
def tool_calls_by_task(run_id: str, db: str | None = None) -> dict[str, list[ToolCallRecord]]:
    """A run's tool calls, grouped by task id."""
    grouped: dict[str, list[ToolCallRecord]] = defaultdict(list)
    for record in Ledger(db).get_tool_calls(run_id=run_id):
        grouped[record.task_id].append(record)
    return dict(grouped)


@st.cache_data(ttl=3, show_spinner=False)
def comparison_tool_calls(comparison_id: str, db: str | None = None) -> list[ToolCallRecord]:
    """The tool calls asked for by a comparison's attempts."""
    ledger = Ledger(db)
    ids = [a.attempt_id for a in ledger.get_attempts(comparison_id=comparison_id)]
    return ledger.get_tool_calls(attempt_ids=ids) if ids else []


def render_tool_calls(records: list[ToolCallRecord]) -> None:
    """A small table of tool calls (nothing when there are none)."""
    if not records:
        return
    failed = sum(1 for r in records if r.status != "ok")
    note = f", {failed} failed" if failed else ""
    st.markdown(f"**Tool calls** ({len(records)}{note})")
    st.dataframe(tool_call_rows(records), hide_index=True, use_container_width=True)
