"""The ledger's record types (``AttemptRecord`` lives in ``core.types``) and time/money helpers.

Datetimes are naive UTC, as the ledger stores them. Money is ``Decimal`` with at most eight
decimal places (the columns are ``DECIMAL(18,8)``); None means unknown, never $0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["running", "done", "failed", "cancelled", "interrupted"]
RunMode = Literal["live", "sandbox", "mixed"]
TaskStatus = Literal["queued", "running", "done", "failed", "cancelled", "skipped"]
ComparisonKind = Literal["compare", "refine", "moa", "vote"]
RatingSource = Literal["person", "judge"]

_EIGHT_PLACES = Decimal("0.00000001")


def utc_now() -> datetime:
    """The current time as the ledger stores it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def from_unix(seconds: float) -> datetime:
    """Unix seconds as a naive UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def ledger_money(value: Decimal | None) -> Decimal | None:
    """A USD amount rounded to the ledger's eight decimal places (None stays None)."""
    return None if value is None else value.quantize(_EIGHT_PLACES)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRecord(_Record):
    """One run: the demand, its plan, how it went. ``budget_usd`` None means no budget."""

    run_id: str
    demand: str
    created_at: datetime = Field(default_factory=utc_now)
    status: RunStatus = "running"
    mode: RunMode
    budget_usd: Decimal | None = None
    plan_json: str = "{}"
    summary_json: str = "{}"
    finished_at: datetime | None = None
    owner: str = ""  # host:pid of the process running it


class TaskRow(_Record):
    """One task of a run, as last upserted. ``output`` of a done task is what resume reuses."""

    run_id: str
    task_id: str
    wave: int = 0
    title: str = ""
    kind: str = ""
    status: TaskStatus = "queued"
    model: str = ""
    tier: str = ""
    output: str | None = None
    cost_usd: Decimal | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str = ""


class ComparisonRecord(_Record):
    """One compare/refine/moa/vote; its answers are the attempts carrying its id."""

    comparison_id: str
    kind: ComparisonKind
    prompt: str
    created_at: datetime = Field(default_factory=utc_now)
    meta_json: str = "{}"


class RatingRecord(_Record):
    """A judgement of one attempt by a person or a judge model (``rating`` 1–5 or None)."""

    attempt_id: str
    rating: int | None = Field(default=None, ge=1, le=5)
    best: bool = False
    rater: str = ""
    source: RatingSource = "person"
    note: str = ""
    created_at: datetime = Field(default_factory=utc_now)


def record_from_row(model: type[_Record], columns: list[str], row: tuple[Any, ...]) -> Any:
    """Build a record from a fetched row and its column names."""
    return model(**dict(zip(columns, row, strict=True)))
