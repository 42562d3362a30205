"""Resuming a run: who owns it, and what it already paid for.

A run records its owner (``host:pid``). ``claim`` refuses to resume a run whose owner is still
alive, and takes over one whose owner is gone (``--force`` for an owner on another host, which
cannot be checked from here). ``completed_tasks`` reads what the run already has: every task
whose row says done, and every task whose answer reached the ledger even if its row did not
(a ``kill -9`` between the two) — so a resume never pays twice for an answer it holds.
"""

from __future__ import annotations

import os
import socket

from core.errors import ConfigError
from core.execution.executor import TaskOutput
from core.ledger import Ledger
from core.ledger.records import RunRecord
from core.planning.plan import PATTERN_KINDS, Plan
from core.types import AttemptRecord, Usage


def this_process() -> str:
    """``host:pid`` of this process, as stored in a run's ``owner``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_state(owner: str) -> str:
    """``alive``, ``gone`` (a process of this host that no longer exists) or ``elsewhere``
    (another host, or an owner that cannot be read)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return "elsewhere"
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "alive"
    return "alive"


def reconcile_interrupted(ledger: Ledger, runs: list[RunRecord]) -> list[RunRecord]:
    """Runs as listed, with those left ``running`` by a process that is gone (killed, crashed)
    marked ``interrupted`` in the ledger, so `orchestra resume` is the obvious next step."""
    out = []
    for run in runs:
        if run.status == "running" and run.owner and owner_state(run.owner) == "gone":
            ledger.mark_interrupted(run.run_id)
            run = run.model_copy(update={"status": "interrupted"})
        out.append(run)
    return out


def claim(run: RunRecord, *, force: bool = False) -> None:
    """Check that this process may resume ``run``; raises ``ConfigError`` saying why not."""
    if run.status != "running" or not run.owner or run.owner == this_process():
        return
    state = owner_state(run.owner)
    if state == "alive":
        raise ConfigError(f"run {run.run_id} is still running in process {run.owner}; wait for "
                          "it to finish or stop that process, then resume")
    if state == "elsewhere" and not force:
        raise ConfigError(f"run {run.run_id} is owned by {run.owner} on another host; resume "
                          "with --force only if that process is gone")


def completed_tasks(ledger: Ledger, run_id: str, plan: Plan) -> dict[str, TaskOutput]:
    """Tasks that need no new call: done rows, and answers the ledger holds for the others."""
    attempts = ledger.get_attempts(run_id=run_id)
    usage = _task_usage(attempts)
    done = {
        row.task_id: TaskOutput(text=row.output or "", model=row.model, tier=row.tier,
                                cost_usd=row.cost_usd, usage=usage.get(row.task_id, Usage()))
        for row in ledger.get_tasks(run_id) if row.status == "done"
    }
    # a task answered by one call; a pattern's or a tool loop's answer is made of several
    single_call = {t.id for t in plan.tasks if t.kind not in PATTERN_KINDS and not t.tools}
    for attempt in attempts:  # oldest first: the first answer of a task is the one adopted
        if (attempt.task_id in single_call and attempt.task_id not in done
                and attempt.status == "ok" and attempt.purpose == "task"
                and attempt.output is not None):
            done[attempt.task_id] = TaskOutput(
                text=attempt.output, model=attempt.model, tier=attempt.tier,
                cost_usd=attempt.cost_usd, usage=usage.get(attempt.task_id, Usage()))
    return done


def _task_usage(attempts: list[AttemptRecord]) -> dict[str, Usage]:
    """Each task's answered token usage (what the savings baseline is priced on)."""
    usage: dict[str, Usage] = {}
    for attempt in attempts:
        if attempt.status == "ok" and attempt.purpose == "task":
            usage[attempt.task_id] = usage.get(attempt.task_id, Usage()) + Usage(
                input_tokens=attempt.input_tokens, output_tokens=attempt.output_tokens,
                cached_input_tokens=attempt.cached_input_tokens,
                reasoning_tokens=attempt.reasoning_tokens)
    return usage
