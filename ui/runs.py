"""A run read back from the ledger, and what every finished run shows: the deliverable first,
the figures (failures named one by one), the report and the downloads. No Streamlit in here.

A run's live view folds its events (``ui.views.board_from_events``); once it has ended, or when
it is reopened from its URL in another session, the same board is rebuilt from the ledger's
task rows and attempts, so a finished run looks the same however it is opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
from pydantic import ValidationError

from core.ledger import Ledger, RunRecord, TaskRow
from core.planning.plan import Plan, parse_plan
from core.execution.summary import RunSummary, TaskResult
from core.types import AttemptRecord
from ui.views import RunBoard, Segment, TaskCard, fallback_note, money


@dataclass
class RunView:
    """Everything the dashboard shows of a run that is not running here."""

    run: RunRecord
    plan: Plan
    board: RunBoard
    summary: RunSummary | None
    attempts: list[AttemptRecord]


def open_run(run_id: str, ledger: Ledger) -> RunView | None:
    """The run with this id from the ledger (plan, board, summary), or None if unknown."""
    run = ledger.get_run(run_id)
    if run is None:
        return None
    plan = parse_plan(json.loads(run.plan_json))
    tasks = ledger.get_tasks(run_id)
    attempts = ledger.get_attempts(run_id=run_id)
    board = board_from_ledger(plan, tasks, attempts)
    board.status, board.finished = run.status, run.status != "running"
    return RunView(run=run, plan=plan, board=board, summary=summary_from_ledger(run, tasks),
                   attempts=attempts)


def _unix(moment: datetime | None) -> float | None:
    return None if moment is None else moment.replace(tzinfo=timezone.utc).timestamp()


def board_from_ledger(plan: Plan, tasks: Iterable[TaskRow],
                      attempts: Iterable[AttemptRecord]) -> RunBoard:
    """The board of a run from its task rows and attempts: cards, segments, failure counts."""
    numbers = plan.wave_numbers()
    board = RunBoard(waves=plan.waves(), cards={
        t.id: TaskCard(task_id=t.id, title=t.title, wave=numbers[t.id]) for t in plan.tasks})
    for row in tasks:
        card = board.cards.get(row.task_id)
        if card is None:
            continue
        card.status, card.model, card.cost_usd = row.status, row.model, row.cost_usd
        card.started_at, card.ended_at = _unix(row.started_at), _unix(row.ended_at)
        card.reason, card.output = row.error, row.output or ""
        board.cost_usd += row.cost_usd or 0
    last: dict[str, AttemptRecord] = {}
    for attempt in sorted(attempts, key=lambda a: (a.started_at, a.attempt_no)):
        card = board.cards.get(attempt.task_id)
        if card is None:
            continue
        _fold_attempt(board, card, last.get(attempt.task_id), attempt)
        last[attempt.task_id] = attempt
    return board


def _fold_attempt(board: RunBoard, card: TaskCard, previous: AttemptRecord | None,
                  attempt: AttemptRecord) -> None:
    """One attempt onto the board: its segment, and the retry, fallback or failure it was."""
    if previous is not None and previous.model == attempt.model and previous.status == "error":
        board.retries += 1
    elif previous is not None and previous.model != attempt.model and attempt.fallback_from:
        board.fallbacks += 1
        card.notes.append(fallback_note(previous.model, attempt.model, attempt.reason))
    if attempt.status == "ok":
        card.cached = attempt.cached  # the answer came from the response cache
    outcome = {"ok": "ok", "error": "failed"}.get(attempt.status, attempt.status)
    board.segments.append(Segment(task_id=attempt.task_id, model=attempt.model,
                                  start=attempt.started_at, end=attempt.ended_at,
                                  outcome=outcome, error_class=attempt.error_class))
    if attempt.status == "error":
        board.failed_attempts += 1
        card.notes.append(f"{attempt.model} failed: {attempt.error_class}")


def summary_from_ledger(run: RunRecord, tasks: Iterable[TaskRow]) -> RunSummary | None:
    """The run's stored summary with each task's result, or None while it has none."""
    stored = json.loads(run.summary_json or "{}")
    if not stored:
        return None
    results = [TaskResult(id=t.task_id, title=t.title, wave=t.wave, status=t.status,
                          model=t.model, tier=t.tier, cost_usd=t.cost_usd, error=t.error,
                          output=t.output or "") for t in tasks]
    try:
        return RunSummary.model_validate({**stored, "task_results": results})
    except ValidationError:
        return None  # a summary of an older shape: the board still shows the run


def summary_figures(summary: RunSummary, board: RunBoard) -> list[tuple[str, str]]:
    """The figures users quote at the end of a run, failures counted one kind at a time."""
    saving = "n/a"
    if summary.saving_usd is not None:
        ratio = f" ({summary.saving_ratio:.1f}×)" if summary.saving_ratio else ""
        saving = f"{money(summary.saving_usd)}{ratio}"
    unpriced = f" + {summary.unpriced_tasks} unpriced" if summary.unpriced_tasks else ""
    return [
        ("Tasks done", f"{summary.done}/{summary.tasks}"),
        ("Waves", str(summary.waves)),
        ("Cost", money(summary.cost_usd) + unpriced),
        ("Makespan", f"{summary.makespan_s:.1f}s"),
        ("Failed attempts", str(board.failed_attempts)),
        ("Retries", str(board.retries)),
        ("Fallbacks", str(board.fallbacks)),
        ("Failed tasks", str(summary.failures)),
        ("Skipped tasks", str(summary.skipped)),
        ("Providers used", f"{len(summary.providers_used)} of {summary.providers_available}"),
        ("Saving vs baseline", saving),
    ]


def deliverable(plan: Plan, summary: RunSummary) -> str:
    """What the run was for: the output of its final tasks (those nothing depends on), as
    Markdown; a final task without output says why."""
    needed = {dep for task in plan.tasks for dep in task.depends_on}
    results = {r.id: r for r in summary.task_results}
    parts = []
    for task in plan.tasks:
        result = results.get(task.id)
        if task.id in needed or result is None:
            continue
        parts.append(result.output or f"_{task.title}: {result.status}"
                     f"{' — ' + result.error if result.error else ''}_")
    return "\n\n---\n\n".join(parts)


def run_json(plan: Plan, summary: RunSummary, attempts: Iterable[AttemptRecord]) -> str:
    """The run as JSON: demand, plan, summary (task outputs included) and every attempt."""
    return json.dumps({
        "run_id": summary.run_id, "demand": plan.demand,
        "plan": plan.model_dump(mode="json"), "summary": summary.model_dump(mode="json"),
        "attempts": [a.model_dump(mode="json", exclude={"output"}) for a in attempts],
    }, indent=2)


def run_markdown(plan: Plan, summary: RunSummary, board: RunBoard) -> str:
    """The run as a Markdown report: the deliverable, the figures, then each task by wave."""
    lines = [f"# Orchestra run {summary.run_id}", "", f"> {plan.demand}", "",
             "## Deliverable", "", deliverable(plan, summary), "",
             "| figure | value |", "| --- | --- |"]
    lines += [f"| {label} | {value} |" for label, value in summary_figures(summary, board)]
    lines += ["", f"Providers used: {', '.join(summary.providers_used) or 'none'}", ""]
    for result in sorted(summary.task_results, key=lambda r: r.wave):
        where = f" on {result.model}, {money(result.cost_usd)}" if result.model else ""
        lines += [f"## Wave {result.wave + 1} · {result.title} ({result.status}{where})", ""]
        lines += [result.output or f"_{result.error or 'no output'}_", ""]
    return "\n".join(lines)


def run_list_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The runs list as display rows: a label (id and demand), status with its failed
    attempts, cost, makespan, providers and when it started (UTC)."""
    rows = []
    for run in frame.to_dict("records"):
        failed = int(run["failed_attempts"])
        rows.append({
            "run_id": run["run_id"], "label": f"{run['run_id'][:8]} · {run['demand'][:70]}",
            "status": run["status"] + (f" · {failed} failed attempts" if failed else ""),
            "cost": money(run["cost_usd"]),
            "makespan": "—" if pd.isna(run["makespan_s"]) else f"{run['makespan_s']:.1f}s",
            "providers": run["providers"] or "—",
            "when": pd.Timestamp(run["created_at"]).strftime("%Y-%m-%d %H:%M UTC"),
        })
    return rows
