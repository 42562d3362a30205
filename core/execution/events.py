"""Run events: what the executor tells the dashboard and the CLI, in order."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal[
    "run_started",
    "task_queued",
    "task_started",
    "attempt_failed",
    "retrying",
    "fallback",
    "restarted_on",
    "budget_warning",
    "task_done",
    "task_failed",
    "task_skipped",
    "task_cancelled",
    "run_done",
]


class RunEvent(BaseModel):
    """One step of a run. ``data`` holds the step's details (model, cost, reason, ...)."""

    model_config = ConfigDict(extra="forbid")

    type: EventType
    run_id: str
    task_id: str = ""
    wave: int | None = None
    ts: float = Field(default_factory=time.time)
    data: dict[str, Any] = Field(default_factory=dict)

    def line(self) -> str:
        """A one-line, human-readable rendering for terminals and logs."""
        d = self.data
        who = f"[wave {self.wave}] {self.task_id}: " if self.task_id else ""
        text = {
            "run_started": f"run {self.run_id}: {d.get('tasks')} tasks in {d.get('waves')} waves",
            "task_queued": "queued",
            "task_started": f"running on {d.get('model')} ({d.get('reason', '')})",
            "attempt_failed": f"{d.get('model')} failed: {d.get('error_class')} {d.get('message', '')}",
            "retrying": f"retrying {d.get('model')} in {d.get('delay_s', 0):.2f}s",
            "fallback": f"fell back from {d.get('from')} to {d.get('to')}: {d.get('reason', '')}",
            "restarted_on": f"stream restarted on {d.get('model')}",
            "budget_warning": f"budget warning: {d.get('message', '')}",
            "task_done": f"done on {d.get('model')} for {_money(d.get('cost_usd'))}"
            + (" (resumed, not called again)" if d.get("resumed") else ""),
            "task_failed": f"FAILED: {d.get('reason', '')}",
            "task_skipped": f"skipped: {d.get('reason', '')}",
            "task_cancelled": "cancelled",
            "run_done": f"run {self.run_id} {d.get('status')}: cost {_money(d.get('cost_usd'))}",
        }[self.type]
        return who + text


def _money(value: Any) -> str:
    if value is None:
        return "unknown"
    return f"${float(value):.4f}"
