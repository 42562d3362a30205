"""``orchestra eval SUITE.yaml --models a,b,c``: an eval suite across models.

Every case runs on every model (``--repeat`` times) concurrently through the call stack, within
the run budget (``--budget``, default the policy's per-run budget), with a progress bar on
stderr. It prints the pass/fail matrix, each model's pass rate, cost and latency, and each
failed assertion with the output that failed it (``--json``: one object). Attempts and each
answered result (an outcome, source ``eval``) go to the ledger; an interrupted run keeps what
it finished. Exits 0 when every case passed, 1 when some failed, 2 on a caller mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from decimal import Decimal

from core.cli.output import print_json, print_table
from core.cli.validate import usd_amount
from core.evals import load_suite
from core.evals.report import CaseResult, EvalReport
from core.evals.session import eval_policy, evaluate
from core.settings import Settings

BAR_WIDTH = 30
OUTPUT_SHOWN = 300


def _models(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return int(text)


def progress_bar(done: int, total: int) -> None:
    """Draw ``done``/``total`` as a bar on stderr (one line, redrawn in place)."""
    filled = BAR_WIDTH * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}", end=end,
          file=sys.stderr, flush=True)


def _money(value: Decimal | None) -> str:
    return "unpriced" if value is None else f"${value:.6f}"


def _print_text(report: EvalReport) -> None:
    matrix = report.matrix()
    rows = [{"case": case, **{m: _cell(c["passed"], c["runs"]) for m, c in cells.items()}}
            for case, cells in matrix.items()]
    print(f"suite {report.suite} · {len(report.case_ids)} cases × {len(report.models)} models"
          f" × {report.repeat} · {report.wall_ms / 1000:.1f} s")
    print_table(rows, ["case", *report.models])
    print()
    print_table([{"model": s.model, "passed": f"{s.passed}/{s.runs}",
                  "pass rate": f"{s.pass_rate:.0%}", "errors": s.errors,
                  "cost": _money(s.cost_usd), "judge cost": _money(s.judge_cost_usd),
                  "p50 ms": _ms(s.p50_latency_ms), "mean ms": _ms(s.mean_latency_ms)}
                 for s in report.summaries],
                ["model", "passed", "pass rate", "errors", "cost", "judge cost", "p50 ms",
                 "mean ms"])
    failures = report.failures()
    if failures:
        print("\nfailed:")
    for result in failures:
        _print_failure(result)
    print(f"\ntotal cost {_money(report.total_cost_usd)}", file=sys.stderr)


def _cell(passed: int, runs: int) -> str:
    if runs == 1:
        return "PASS" if passed else "FAIL"
    return f"{passed}/{runs}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _print_failure(result: CaseResult) -> None:
    where = f"── {result.case_id} · {result.model}" + (
        f" · run {result.repeat}" if result.repeat > 1 else "")
    if result.error_class:
        print(f"{where} · no answer: {result.error_class}: {result.error}")
        return
    for check in result.failed_checks:
        print(f"{where} · {check.type}: {check.message}")
    shown = result.output if len(result.output) <= OUTPUT_SHOWN else \
        result.output[:OUTPUT_SHOWN] + "…"
    print("   output: " + shown.replace("\n", "\n           "))


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_environ(os.environ, db=args.db)
    suite = load_suite(args.suite, settings.catalog)
    for model in _models(args.models):
        settings.catalog.model(model)  # an unknown model is a one-line error before any call
    report = asyncio.run(evaluate(
        suite, _models(args.models), ledger=None if args.no_ledger else settings.ledger(),
        policy=eval_policy(args.budget, settings.policy, cache=args.cache),
        repeat=args.repeat, judge_model=args.judge, concurrency=args.concurrency,
        on_progress=None if args.json else progress_bar, gateway=settings.gateway()))
    if args.json:
        print_json(report.to_json())
    else:
        _print_text(report)
    return 0 if all(r.passed for r in report.results) else 1


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra eval``."""
    p = subparsers.add_parser("eval", help="run an eval suite across models")
    p.add_argument("suite", help="a suite file, e.g. data/evals/extraction.yaml")
    p.add_argument("--models", required=True, help="comma-separated catalog ids")
    p.add_argument("--repeat", type=_positive_int, default=1, help="runs of each case per model")
    p.add_argument("--budget", type=usd_amount, default=None,
                   help="USD this eval may spend (default: the policy's per-run budget)")
    p.add_argument("--cache", action="store_true",
                   help="answer exact repeats from the response cache at $0 (reruns)")
    p.add_argument("--judge", default=None, help="the model grading llm-rubric assertions")
    p.add_argument("--concurrency", type=_positive_int, default=None,
                   help="cases in flight (default: the policy's per-run concurrency)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--db", default=None, help="ledger file (default: $ORCHESTRA_DB or "
                   "data/orchestra.duckdb)")
    p.add_argument("--no-ledger", action="store_true", help="record nothing")
    p.set_defaults(func=_run)
