"""Run events: what the executor and the call stack tell the dashboard and the CLI, in order.

Each event type has its own payload model, tagged on ``type``; a ``RunEvent`` wraps one payload
with where and when it happened. Statuses and failure kinds are ``Literal`` types, so nothing
downstream decides by reading message text.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskStatus = Literal["queued", "running", "done", "failed", "skipped", "cancelled"]
FailureKind = Literal[
    "budget_exceeded",     # no model's reservation fitted a budget
    "all_models_failed",   # every model of the chain failed
    "pattern_failed",      # a multi-model pattern produced no usable answer
    "invalid_output",      # answers came back but failed their check (e.g. a JSON schema)
    "config_error",        # a caller mistake: unknown model, bad option
    "dependency_failed",   # a task this one needs did not finish
    "error",               # anything else (the message says what)
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RunStarted(_Payload):
    type: Literal["run_started"] = "run_started"
    tasks: int
    waves: int
    wave_ids: list[list[str]]


class TaskQueued(_Payload):
    type: Literal["task_queued"] = "task_queued"
    title: str
    kind: str


class TaskStarted(_Payload):
    type: Literal["task_started"] = "task_started"
    model: str
    tier: str = ""
    reason: str = ""
    fallbacks: list[str] = Field(default_factory=list)


class AttemptFailed(_Payload):
    type: Literal["attempt_failed"] = "attempt_failed"
    model: str
    error_class: str
    message: str = ""
    http_status: int | None = None
    attempt: int = 1


class Retrying(_Payload):
    type: Literal["retrying"] = "retrying"
    model: str
    delay_s: float
    attempt: int
    error_class: str


class FellBack(_Payload):
    type: Literal["fallback"] = "fallback"
    from_model: str = Field(alias="from")
    to_model: str = Field(alias="to")
    reason: str = ""


class RestartedOn(_Payload):
    type: Literal["restarted_on"] = "restarted_on"
    model: str
    reason: str = ""


class BudgetWarned(_Payload):
    type: Literal["budget_warning"] = "budget_warning"
    message: str
    budget: str
    provider: str = ""


class TaskDone(_Payload):
    type: Literal["task_done"] = "task_done"
    model: str
    tier: str = ""
    cost_usd: Decimal | None = None
    resumed: bool = False
    cached: bool = False  # answered by the response cache ($0, no HTTP request)
    text: str = ""


class TaskFailed(_Payload):
    type: Literal["task_failed"] = "task_failed"
    kind: FailureKind = "error"
    reason: str = ""


class TaskSkipped(_Payload):
    type: Literal["task_skipped"] = "task_skipped"
    kind: FailureKind = "dependency_failed"
    reason: str = ""


class TaskCancelled(_Payload):
    type: Literal["task_cancelled"] = "task_cancelled"


class RunDone(_Payload):
    type: Literal["run_done"] = "run_done"
    status: str
    cost_usd: Decimal | None = None


Payload = Annotated[
    RunStarted | TaskQueued | TaskStarted | AttemptFailed | Retrying | FellBack | RestartedOn
    | BudgetWarned | TaskDone | TaskFailed | TaskSkipped | TaskCancelled | RunDone,
    Field(discriminator="type"),
]
EventType = Literal["run_started", "task_queued", "task_started", "attempt_failed", "retrying",
                    "fallback", "restarted_on", "budget_warning", "task_done", "task_failed",
                    "task_skipped", "task_cancelled", "run_done"]


class RunEvent(BaseModel):
    """One step of a run: its typed ``payload``, and where and when it happened."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    task_id: str = ""
    wave: int | None = None
    ts: float = Field(default_factory=time.time)
    payload: Payload

    @property
    def type(self) -> EventType:
        """The payload's tag."""
        return self.payload.type

    @property
    def data(self) -> dict[str, Any]:
        """The payload's fields as plain data (for JSON output and display)."""
        return self.payload.model_dump(by_alias=True, exclude={"type"})

    def line(self) -> str:
        """A one-line, human-readable rendering for terminals and logs."""
        who = f"[wave {self.wave}] {self.task_id}: " if self.task_id else ""
        return who + _describe(self.run_id, self.payload)


def _describe(run_id: str, p: BaseModel) -> str:  # noqa: C901 - one line per event type
    match p:
        case RunStarted():
            return f"run {run_id}: {p.tasks} tasks in {p.waves} waves"
        case TaskQueued():
            return "queued"
        case TaskStarted():
            return f"running on {p.model} ({p.reason})"
        case AttemptFailed():
            return f"{p.model} failed: {p.error_class} {p.message}"
        case Retrying():
            return f"retrying {p.model} in {p.delay_s:.2f}s"
        case FellBack():
            return f"fell back from {p.from_model} to {p.to_model}: {p.reason}"
        case RestartedOn():
            return f"stream restarted on {p.model}"
        case BudgetWarned():
            return f"budget warning: {p.message}"
        case TaskDone():
            return (f"done on {p.model} for {_money(p.cost_usd)}"
                    + (" (resumed, not called again)" if p.resumed else "")
                    + (" (from the response cache)" if p.cached else ""))
        case TaskFailed():
            return f"FAILED ({p.kind}): {p.reason}"
        case TaskSkipped():
            return f"skipped: {p.reason}"
        case TaskCancelled():
            return "cancelled"
        case RunDone():
            return f"run {run_id} {p.status}: cost {_money(p.cost_usd)}"
    raise TypeError(f"unknown event payload {type(p).__name__}")


def _money(value: Decimal | None) -> str:
    return "unknown" if value is None else f"${float(value):.4f}"
