"""``orchestra outcomes import|list|export``: the outcomes the learned ranker learns from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from core.cli.output import print_json, print_table
from core.errors import ConfigError
from core.ledger import Ledger
from core.ledger.outcomes import (
    OutcomeFilter,
    OutcomeSource,
    export_outcomes,
    outcome_rows,
    record_outcomes,
)

_DB_HELP = "ledger file (default: $ORCHESTRA_DB or data/orchestra.duckdb)"


def _import(args: argparse.Namespace) -> int:
    from core.routing.routerbench import outcome_records, read_routerbench  # scikit-learn

    path = Path(args.file)
    dataset = args.dataset or path.stem
    table = read_routerbench(path)
    records = outcome_records(table, dataset)
    added = record_outcomes(Ledger(args.db), records)
    skipped = table.scores.size - len(records)
    print(f"imported {added} outcomes into dataset {dataset!r} ({len(table.prompts)} prompts x "
          f"{len(table.models)} models; {len(records) - added} already there, "
          f"{skipped} empty scores skipped)")
    return 0


def _filter(args: argparse.Namespace) -> OutcomeFilter:
    return OutcomeFilter(dataset=args.dataset, model=args.model, source=args.source)


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {args.limit}")
    rows = outcome_rows(Ledger(args.db), _filter(args), args.limit)
    if args.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return 0
    table = [{**r.model_dump(), "prompt": r.prompt.replace("\n", " ")[:60],
              "cost": "unknown" if r.cost_usd is None else f"${r.cost_usd}",
              "score": f"{r.score:.2f}"} for r in rows]
    print_table(table, ["created_at", "dataset", "source", "model", "score", "cost", "prompt"])
    return 0


def _export(args: argparse.Namespace) -> int:
    fmt = args.format or Path(args.file).suffix.lstrip(".").lower()
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"cannot tell the format of {args.file!r}; name it .csv or .parquet "
                          f"or pass --format csv|parquet")
    count = export_outcomes(Ledger(args.db), args.file, fmt, _filter(args))  # type: ignore[arg-type]
    print(f"exported {count} outcomes to {args.file}")
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="only this dataset")
    parser.add_argument("--model", help="only this model")
    parser.add_argument("--source", choices=get_args(OutcomeSource), help="only this source")
    parser.add_argument("--db", help=_DB_HELP)


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra outcomes import|list|export``."""
    parser = subparsers.add_parser("outcomes", help="import, list and export outcomes")
    commands = parser.add_subparsers(dest="outcomes_command", required=True, metavar="ACTION")
    imp = commands.add_parser("import", help="import a table of per-prompt outcomes")
    imp.add_argument("file", help="the table (a CSV)")
    imp.add_argument("--format", required=True, choices=["routerbench"],
                     help="the table's format: routerbench (prompt, <model>, <model>|total_cost)")
    imp.add_argument("--dataset", help="dataset name to store (default: the file's stem)")
    imp.add_argument("--db", help=_DB_HELP)
    imp.set_defaults(func=_import)
    lst = commands.add_parser("list", help="the newest outcomes")
    _add_filters(lst)
    lst.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    lst.add_argument("--json", action="store_true", help="print a JSON list")
    lst.set_defaults(func=_list)
    exp = commands.add_parser("export", help="write outcomes to CSV or Parquet")
    exp.add_argument("file", help="target file (.csv or .parquet)")
    exp.add_argument("--format", choices=["csv", "parquet"], help="default: from the suffix")
    _add_filters(exp)
    exp.set_defaults(func=_export)
