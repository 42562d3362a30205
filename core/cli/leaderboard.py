"""``orchestra leaderboard``: every catalog model, its price and limits, and what was measured.

One row per model: price in and out, context window, capabilities; p50/p95 latency, time to
first token, output tokens per second and failure rate from the ledger's attempts (the mode
each provider is called in now, or ``--mode``); quality from outcomes with its count; cost per
successful answer. ``*`` marks the cost-against-quality Pareto frontier.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from core.calls.gateway import Gateway
from core.catalog import default_catalog
from core.cli.output import print_json, print_table
from core.ledger import Ledger
from core.ledger.leaderboard import LeaderboardRow, leaderboard

SORTS: dict[str, tuple[str, bool]] = {  # key → (row attribute, descending)
    "quality": ("quality", True), "cost": ("cost_per_success_usd", False),
    "p50": ("p50_latency_ms", False), "p95": ("p95_latency_ms", False),
    "ttft": ("ttft_p50_ms", False), "speed": ("output_tokens_per_s", True),
    "failures": ("failure_rate", False), "price": ("output_per_mtok", False),
    "context": ("context_window", True), "model": ("model", False),
}


def sort_rows(rows: list[LeaderboardRow], key: str) -> list[LeaderboardRow]:
    """Rows ordered by ``key`` (see ``SORTS``); rows without that figure come last."""
    attribute, descending = SORTS[key]
    known = [r for r in rows if getattr(r, attribute) is not None]
    unknown = [r for r in rows if getattr(r, attribute) is None]
    return sorted(known, key=lambda r: getattr(r, attribute), reverse=descending) + unknown


def _filtered(rows: list[LeaderboardRow], args: argparse.Namespace) -> list[LeaderboardRow]:
    if args.tier:
        rows = [r for r in rows if r.tier == args.tier]
    if args.capability:
        rows = [r for r in rows if args.capability in r.capabilities]
    return rows


def _money(value: Decimal | None, places: int = 2) -> str:
    return "unpriced" if value is None else f"${value:.{places}f}"


def _num(value: float | None, fmt: str = ".0f") -> str:
    return "-" if value is None else format(value, fmt)


def _text_row(row: LeaderboardRow) -> dict[str, Any]:
    quality = "-" if row.quality is None else f"{row.quality:.2f} (n={row.quality_count})"
    return {
        "": "*" if row.pareto else "", "model": row.model, "mode": row.mode,
        "in $/M": _money(row.input_per_mtok), "out $/M": _money(row.output_per_mtok),
        "context": f"{row.context_window:,}", "p50 ms": _num(row.p50_latency_ms),
        "p95 ms": _num(row.p95_latency_ms), "ttft ms": _num(row.ttft_p50_ms),
        "tok/s": _num(row.output_tokens_per_s),
        "fail": "-" if row.failure_rate is None else f"{row.failure_rate:.0%}",
        "$/answer": "-" if row.cost_per_success_usd is None and not row.unpriced
        else _money(row.cost_per_success_usd, 6),
        "quality": quality, "answers": row.answers,
    }


def _run(args: argparse.Namespace) -> int:
    catalog = default_catalog()
    gateway = Gateway(catalog)  # only asked which mode each provider is in: nothing is called
    rows = leaderboard(catalog, gateway.mode, ledger=Ledger(args.db),
                       task_kind=args.task_kind, mode=args.mode)
    rows = sort_rows(_filtered(rows, args), args.sort)
    if args.json:
        print_json({"task_kind": args.task_kind, "mode": args.mode,
                    "models": [r.model_dump() for r in rows]})
        return 0
    table = [_text_row(r) for r in rows]
    print_table(table, list(table[0]) if table else ["model"])
    print("\n* on the cost-against-quality Pareto frontier; quality is the mean outcome score "
          "(0-1) of ratings, judge, evals and imports, n = how many")
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra leaderboard``."""
    p = subparsers.add_parser("leaderboard", help="every model: price, speed, failures, quality")
    p.add_argument("--task-kind", default=None, help="only attempts and outcomes of this kind")
    p.add_argument("--mode", choices=("live", "sandbox"), default=None,
                   help="measured figures of this mode (default: each provider's mode now)")
    p.add_argument("--sort", choices=list(SORTS), default="quality", help="order of the rows")
    p.add_argument("--tier", choices=("economy", "balanced", "premium"), default=None)
    p.add_argument("--capability", default=None, help="only models with it, e.g. json_schema")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--db", default=None, help="ledger file (default: $ORCHESTRA_DB or "
                   "data/orchestra.duckdb)")
    p.set_defaults(func=_run)
