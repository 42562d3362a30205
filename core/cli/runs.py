"""``orchestra run | runs | show | resume | history``: plans run in waves, and their records."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import date
from typing import Any

from core.calls.cache import with_cache
from core.cli.output import print_json, print_table
from core.cli.validate import check_budget, non_negative_int, plan_file, prompt_text
from core.errors import ConfigError
from core.ledger import HistoryFilter, Ledger, export_attempts, grouped_history
from core.local.only import add_flag as add_local_only_flag
from core.execution.resume import reconcile_interrupted
from core.execution.runs import RunSession, new_run_id, plan_run
from core.execution.summary import RunSummary
from core.settings import Settings


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The ``--json`` object of a run: the headline figures and each task's line."""
    data = summary.model_dump()
    data["task_results"] = [
        {k: r[k] for k in ("id", "title", "wave", "model", "tier", "status", "cost_usd",
                           "resumed", "error", "failure", "cached")}
        for r in data["task_results"]
    ]
    return data


async def _execute(session: RunSession, quiet: bool) -> RunSummary:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, session.cancel)
    if not quiet:
        session.on_event(lambda event: print(event.line(), file=sys.stderr, flush=True))
    return await session.run()


def _finish(summary: RunSummary, as_json: bool) -> int:
    if as_json:
        print_json(summary_json(summary))
    else:
        ratio = f" ({summary.saving_ratio:.1f}x cheaper)" if summary.saving_ratio else ""
        print(f"run {summary.run_id}: {summary.status} — {summary.done}/{summary.tasks} tasks "
              f"in {summary.waves} waves, ${summary.cost_usd:.4f}, "
              f"{len(summary.providers_used)}/{summary.providers_available} providers, "
              f"{summary.failures} failed, {summary.makespan_s:.1f}s; "
              f"{summary.baseline_model} alone: ${summary.baseline_cost_usd or 0:.4f}{ratio}"
              + (f"; {summary.cached_tasks} answered from the cache at $0"
                 if summary.cached_tasks else ""))
        if summary.status != "done":
            print(f"continue it with `orchestra resume {summary.run_id}` (add --budget USD to "
                  "raise its budget); finished tasks are not paid for again", file=sys.stderr)
    return 0 if summary.status == "done" else 1


def _run(args: argparse.Namespace) -> int:
    if not args.demand and not args.plan:
        raise ConfigError('give a demand, e.g. orchestra run "compare A and B", or --plan FILE')
    budget = check_budget(args.budget)
    settings = Settings.from_environ(os.environ, db=args.db, local_only=args.local_only)
    run_id = new_run_id()
    planned = asyncio.run(plan_run(args.demand or "", run_id=run_id, settings=settings,
                                   planner=args.planner, plan_file=args.plan, budget_usd=budget))
    session = RunSession(planned.plan, run_id=run_id, budget_usd=budget, settings=settings,
                         policy=with_cache(settings.policy) if args.cache else None)
    if not args.json:
        note = f" ({'; '.join(planned.notes)})" if planned.notes else ""
        print(f"plan: {planned.source}{note}", file=sys.stderr)
    return _finish(asyncio.run(_execute(session, args.json)), args.json)


def _resume(args: argparse.Namespace) -> int:
    settings = Settings.from_environ(os.environ, db=args.db, local_only=args.local_only)
    session = RunSession.resume(args.run_id, db_path=settings.db_path, force=args.force,
                                budget_usd=check_budget(args.budget), settings=settings)
    return _finish(asyncio.run(_execute(session, args.json)), args.json)


def _runs(args: argparse.Namespace) -> int:
    rows = []
    ledger = Ledger(args.db)
    for run in reconcile_interrupted(ledger, ledger.recent_runs(args.limit)):
        summary = json.loads(run.summary_json or "{}")
        rows.append({"run_id": run.run_id, "created": run.created_at.strftime("%Y-%m-%d %H:%M"),
                     "status": run.status, "mode": run.mode, "tasks": summary.get("tasks", ""),
                     "cost_usd": summary.get("cost_usd", ""), "demand": run.demand[:60]})
    if args.json:
        print_json(rows)
    elif rows:
        print_table(rows, ["run_id", "created", "status", "mode", "tasks", "cost_usd", "demand"])
    else:
        print('no runs yet; start one with orchestra run "DEMAND"')
    return 0


def _show(args: argparse.Namespace) -> int:
    ledger = Ledger(args.db)
    run = ledger.get_run(args.run_id)
    if run is None:
        raise ConfigError(f"no run '{args.run_id}' in {ledger.path}; `orchestra runs` lists them")
    run = reconcile_interrupted(ledger, [run])[0]
    tasks = [t.model_dump(mode="json") for t in ledger.get_tasks(args.run_id)]
    attempts = ledger.get_attempts(run_id=args.run_id)
    if args.json:
        print_json({**run.model_dump(mode="json", exclude={"plan_json", "summary_json"}),
                    "summary": json.loads(run.summary_json or "{}"), "tasks": tasks,
                    "attempts": [a.model_dump(mode="json") for a in attempts]})
        return 0
    print(f"run {run.run_id} · {run.status} · {run.mode} · {run.demand}")
    print_table(tasks, ["task_id", "wave", "status", "model", "cost_usd", "title"])
    failed = sum(1 for a in attempts if a.status == "error")
    print(f"{len(attempts)} attempts, {failed} failed")
    return 0


def _history(args: argparse.Namespace) -> int:
    flt = HistoryFilter(since=args.since)
    ledger = Ledger(args.db)
    for fmt in ("csv", "parquet"):
        path = getattr(args, fmt)
        if path:
            count = export_attempts(flt, path, fmt, ledger=ledger)
            print(f"wrote {count} attempts to {path}")
            return 0
    frame = grouped_history(flt, by=args.by, ledger=ledger)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso"))
    elif frame.empty:
        print("no attempts recorded yet")
    else:
        print(frame.to_string(index=False))
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"use YYYY-MM-DD, not {text!r}") from None


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``run``, ``resume``, ``runs``, ``show`` and ``history``."""
    run = subparsers.add_parser("run", help="plan a demand and run it in waves")
    run.add_argument("demand", nargs="?", default=None, type=prompt_text,
                     help="what you want done")
    run.add_argument("--plan", type=plan_file,
                     help="a plan file (JSON or YAML) instead of the planner")
    run.add_argument("--planner", choices=("offline", "llm"), default="offline")
    add_local_only_flag(run)
    run.add_argument("--cache", action="store_true",
                     help="answer exact repeats of earlier calls from the response cache at $0")
    run.set_defaults(func=_run)
    resume = subparsers.add_parser("resume", help="continue an interrupted run")
    resume.add_argument("run_id")
    resume.add_argument("--force", action="store_true",
                        help="take over a run whose owner process was on another host")
    add_local_only_flag(resume)
    resume.set_defaults(func=_resume)
    for parser in (run, resume):
        parser.add_argument("--budget",
                            help="this run's budget in USD, at least 0.00000001 (default: policy)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
    runs = subparsers.add_parser("runs", help="list recent runs")
    runs.add_argument("--limit", type=non_negative_int, default=20, help="most runs to list")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=_runs)
    show = subparsers.add_parser("show", help="one run: its tasks and attempts")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)
    history = subparsers.add_parser("history", help="spend, calls and latency over time")
    history.add_argument("--since", type=_date, help="YYYY-MM-DD")
    history.add_argument("--by", choices=("provider", "model", "tier", "day"), default="provider")
    history.add_argument("--csv", metavar="PATH", help="export the attempts as CSV")
    history.add_argument("--parquet", metavar="PATH", help="export the attempts as Parquet")
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=_history)
    for parser in (run, resume, runs, show, history):
        parser.add_argument("--db", help="ledger file (default: $ORCHESTRA_DB or data/orchestra.duckdb)")
