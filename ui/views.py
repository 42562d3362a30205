"""View models for the dashboard's Run page, and the formatting every page shares.

Pages call these to turn core objects (plans, run events, summaries) into rows, cards and
labels; every decision about what a figure means lives here or deeper in ``core``, never in a
page. No Streamlit in here. The other pages' view models are in ``ui.figures``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.catalog import TIERS, Catalog
from core.errors import PlanError
from core.execution.events import RunEvent
from core.planning.plan import Plan, parse_plan


# ── formatting ───────────────────────────────────────────────────────────────────────────────
def money(value: Decimal | float | str | None) -> str:
    """USD for display: ``$0.0123``; tiny amounts keep their digits; None is ``unknown``."""
    if value is None:
        return "unknown"
    amount = Decimal(str(value))
    if 0 < abs(amount) < Decimal("0.0001"):
        return f"${amount:.6f}"
    return f"${amount:,.4f}"


def sandbox_banner(modes: Mapping[str, str], catalog: Catalog) -> str | None:
    """The warning shown on every page while any provider runs in sandbox, naming them."""
    sandboxed = [catalog.providers[name].label for name, mode in modes.items() if mode == "sandbox"]
    if not sandboxed:
        return None
    if len(sandboxed) == len(modes):
        who = f"every provider ({', '.join(sandboxed)})"
    else:
        who = ", ".join(sandboxed)
    return (f"Sandbox mode for {who}: answers, latencies and costs are simulated. "
            "Set a provider's API key to call it live.")


# ── plan preview and editing ─────────────────────────────────────────────────────────────────
def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """The plan's tasks as editable rows (dependencies as ``a, b``; no pin as empty text)."""
    waves = plan.wave_numbers()
    return [{
        "id": t.id, "title": t.title, "kind": t.kind, "prompt": t.prompt,
        "depends_on": ", ".join(t.depends_on), "tier": t.tier or "", "model": t.model or "",
        "wave": waves[t.id],
    } for t in plan.tasks]


def plan_from_rows(demand: str, rows: Iterable[Mapping[str, Any]],
                   base: Plan | None = None, catalog: Catalog | None = None) -> Plan:
    """Rebuild a plan from edited rows; fields not shown (complexity, limits...) are kept from
    ``base`` by task id; pinned models are checked against ``catalog`` when given. Raises
    ``PlanError``/``UnknownModel`` with a one-line reason."""
    kept = {t.id: t.model_dump() for t in base.tasks} if base else {}
    tasks = []
    for row in rows:
        task_id = _text(row.get("id"))
        if not task_id:
            continue  # a blank row added in the editor
        task = dict(kept.get(task_id, {}))
        task.update({
            "id": task_id, "title": _text(row.get("title")) or task_id,
            "kind": _text(row.get("kind")) or task.get("kind", "analysis"),
            "prompt": _text(row.get("prompt")),
            "depends_on": [d.strip() for d in _text(row.get("depends_on")).split(",") if d.strip()],
            "tier": _text(row.get("tier")) or None, "model": _text(row.get("model")) or None,
        })
        tasks.append(task)
    if not tasks:
        raise PlanError("the plan has no tasks; add at least one row with an id and a prompt")
    return parse_plan({"demand": demand, "tasks": tasks}, catalog)


def tier_options() -> list[str]:
    """Choices for a task's tier pin ('' = let the router decide)."""
    return ["", *TIERS]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    return str(value).strip()


HEADLINE_CHARS = 160  # a card's status line; a longer reason is shown whole under it


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with '…' if cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


# ── the live run board ───────────────────────────────────────────────────────────────────────
@dataclass
class TaskCard:
    """What one task card shows: status, model, timing, cost and what happened on the way."""

    task_id: str
    title: str
    wave: int
    status: str = "queued"
    model: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    cost_usd: Decimal | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    output: str = ""
    cached: bool = False  # answered by the response cache ($0, no HTTP request)

    def elapsed(self, now: float) -> float | None:
        """Seconds since the task started (to its end once it ended)."""
        if self.started_at is None:
            return None
        return max((self.ended_at or now) - self.started_at, 0.0)

    def headline(self, now: float) -> str:
        """One line: the status with what matters for it."""
        elapsed = self.elapsed(now)
        took = f" · {elapsed:.1f}s" if elapsed is not None else ""
        if self.status == "running":
            return f"running on {self.model}{took}"
        if self.status == "retrying":
            return f"retrying {self.model}{took}"
        if self.status == "done":
            cached = " · cached" if self.cached else ""
            return f"done on {self.model} · {money(self.cost_usd)}{cached}{took}"
        if self.status in ("failed", "skipped"):
            return f"{self.status}: {shorten(self.reason, HEADLINE_CHARS)}"
        return self.status


@dataclass
class Segment:
    """One attempt on the timeline: a task on a model from ``start`` to ``end``."""

    task_id: str
    model: str
    start: float
    end: float | None = None
    outcome: str = "running"
    error_class: str = ""

    @property
    def provider(self) -> str:
        """The provider part of the model id."""
        return self.model.partition(":")[0]


@dataclass
class RunBoard:
    """The live state of a run, folded from its events."""

    cards: dict[str, TaskCard] = field(default_factory=dict)
    waves: list[list[str]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    cost_usd: Decimal = Decimal(0)
    warnings: list[str] = field(default_factory=list)
    finished: bool = False
    status: str = "starting"
    failed_attempts: int = 0
    retries: int = 0
    fallbacks: int = 0

    def counts(self) -> dict[str, int]:
        """How many tasks are in each status."""
        counts: dict[str, int] = {}
        for card in self.cards.values():
            counts[card.status] = counts.get(card.status, 0) + 1
        return counts

    def timeline_rows(self, now: float) -> list[dict[str, Any]]:
        """Rows for a Gantt chart: one per attempt, still-running ones ending ``now``; a failed
        attempt is labelled with its error class."""
        return [{
            "task": s.task_id, "model": s.model, "provider": s.provider, "outcome": s.outcome,
            "start": s.start, "end": max(s.end if s.end is not None else now, s.start),
            "label": f"✗ {s.error_class or 'failed'}" if s.outcome == "failed" else "",
        } for s in self.segments]


def board_from_events(plan: Plan, events: Iterable[RunEvent]) -> RunBoard:
    """Fold a run's events (in order) into task cards, attempt segments and the cost so far."""
    waves = plan.waves()
    numbers = plan.wave_numbers()
    board = RunBoard(waves=waves, cards={
        t.id: TaskCard(task_id=t.id, title=t.title, wave=numbers[t.id]) for t in plan.tasks
    })
    for event in events:
        _apply(board, event)
    return board


def _apply(board: RunBoard, event: RunEvent) -> None:
    data, card = event.data, board.cards.get(event.task_id)
    if event.type == "run_started":
        board.status = "running"
    elif event.type == "run_done":
        board.finished, board.status = True, str(data.get("status", "done"))
    elif event.type == "budget_warning":
        board.warnings.append(str(data.get("message", "")))
    elif card is not None:
        _apply_task_event(board, card, event)


def _apply_task_event(board: RunBoard, card: TaskCard, event: RunEvent) -> None:
    data, kind = event.data, event.type
    if kind == "task_started":
        card.status, card.model = "running", str(data.get("model", ""))
        card.started_at = card.started_at or event.ts
        _open_segment(board, card.task_id, card.model, event.ts)
    elif kind == "attempt_failed":
        error_class = str(data.get("error_class", ""))
        _close_segment(board, card.task_id, event.ts, "failed", error_class)
        board.failed_attempts += 1
        card.notes.append(f"{data.get('model')} failed: {error_class}".strip())
    elif kind == "retrying":
        card.status = "retrying"
        board.retries += 1
        _open_segment(board, card.task_id, str(data.get("model", card.model)),
                      event.ts + float(data.get("delay_s") or 0))
    elif kind == "fallback":
        card.model, card.status = str(data.get("to", card.model)), "running"
        board.fallbacks += 1
        card.notes.append(fallback_note(str(data.get("from")), card.model,
                                        str(data.get("reason") or "")))
        _open_segment(board, card.task_id, card.model, event.ts)
    elif kind == "restarted_on":
        card.notes.append(f"stream restarted on {data.get('model')}")
    elif kind == "task_done":
        _finish_card(board, card, event, "done")
        card.model = str(data.get("model") or card.model)
        card.cost_usd = _decimal(data.get("cost_usd"))
        card.output = str(data.get("text", ""))
        card.cached = bool(data.get("cached"))
        board.cost_usd += card.cost_usd or Decimal(0)
    elif kind in ("task_failed", "task_skipped", "task_cancelled"):
        _finish_card(board, card, event, kind.removeprefix("task_"))
        card.reason = str(data.get("reason", ""))


def _finish_card(board: RunBoard, card: TaskCard, event: RunEvent, status: str) -> None:
    card.status, card.ended_at = status, event.ts
    _close_segment(board, card.task_id, event.ts, "ok" if status == "done" else status)


def _open_segment(board: RunBoard, task_id: str, model: str, start: float) -> None:
    _close_segment(board, task_id, start, "failed")
    board.segments.append(Segment(task_id=task_id, model=model, start=start))


def _close_segment(board: RunBoard, task_id: str, end: float, outcome: str,
                   error_class: str = "") -> None:
    for segment in reversed(board.segments):
        if segment.task_id == task_id and segment.end is None:
            segment.end, segment.outcome = max(end, segment.start), outcome
            segment.error_class = error_class or segment.error_class
            return


def fallback_note(from_model: str, to_model: str, reason: str) -> str:
    """A card's note for a fallback, saying why it happened."""
    return f"fell back from {from_model} to {to_model}" + (f": {reason}" if reason else "")


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
