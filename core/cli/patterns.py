"""``orchestra compare|refine|moa|vote``: the multi-model patterns, and ``orchestra prompts``.

Each pattern prints a readable report, or with ``--json`` one object (``kind``, per-model
results, ``total_cost_usd`` as a number). Every run is recorded in the ledger as one comparison
with its attempts, every call through the call stack (``--db PATH`` picks the ledger file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from core.catalog import default_catalog
from core.settings import Settings
from core.cli.output import parse_vars, print_json, print_table
from core.cli.validate import check_max_tokens, positive_int, prompt_text, usd_amount
from core.calls.factory import open_stack
from core.local.only import add_flag as add_local_only_flag
from core.calls.stack import CallStack
from core.patterns import compare, moa, refine, vote
from core.patterns.common import ModelAnswer, RecordHook, ledger_recorder


def _models(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _execute(args: argparse.Namespace,
             work: Callable[[CallStack, RecordHook], Awaitable[BaseModel]]) -> BaseModel:
    """Run one pattern on a fresh call stack; its calls and its comparison row go to the
    ledger."""
    settings = Settings.from_environ(os.environ, db=args.db,
                                     local_only=getattr(args, "local_only", False))
    ledger = settings.ledger()

    async def main() -> BaseModel:
        async with settings.gateway() as gateway:
            with ledger.attempt_sink() as sink:
                stack = open_stack(gateway, settings.policy, ledger, on_attempt=sink.add)
                return await work(stack, ledger_recorder(ledger))

    return asyncio.run(main())


def _money(value: Decimal | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def _answer_line(answer: ModelAnswer) -> str:
    if not answer.ok:
        return f"── {answer.model} · FAILED · {answer.error_class}: {answer.error}"
    ttft = "" if answer.ttft_ms is None else f" · first token {answer.ttft_ms:.0f} ms"
    return (f"── {answer.model} · {answer.mode} · {answer.latency_ms:.0f} ms{ttft} · "
            f"{answer.usage.input_tokens}+{answer.usage.output_tokens} tokens · "
            f"{_money(answer.cost_usd)}")


def _emit(args: argparse.Namespace, kind: str, result: BaseModel,
          text: Callable[[Any], None]) -> None:
    if args.json:
        print_json({"kind": kind, **result.model_dump()})
    else:
        text(result)
        print(f"[{kind} {getattr(result, 'comparison_id', '')} · total "
              f"{_money(getattr(result, 'total_cost_usd', None))}]", file=sys.stderr)


# ── compare ───────────────────────────────────────────────────────────────────────────────
def _compare_text(result: Any) -> None:
    for answer in result.results:
        print(_answer_line(answer))
        if answer.ok:
            print(answer.text, end="\n\n")


def _run_compare(args: argparse.Namespace) -> int:
    check_max_tokens(args.max_tokens, _models(args.models), default_catalog())
    result = _execute(args, lambda stack, hook: compare(
        stack, args.prompt, _models(args.models), system=args.system, template=args.template,
        vars=parse_vars(args.var), max_tokens=args.max_tokens, on_record=hook,
    ))
    _emit(args, "compare", result, _compare_text)
    return 0 if result.answered else 1  # type: ignore[attr-defined]


# ── refine ────────────────────────────────────────────────────────────────────────────────
def _refine_text(result: Any) -> None:
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for rnd in result.rounds:
        verdict = rnd.verdict
        score = f"score {verdict.score:.2f}{' passed' if verdict.passed else ''}" \
            if verdict else "no verdict"
        print(f"── round {rnd.round} · {score} · {_money(rnd.cost_usd)} · "
              f"{rnd.latency_ms:.0f} ms")
        for point in verdict.feedback if verdict else []:
            print(f"   - {point}")
    print(f"stopped: {result.stop_reason}{' — ' + result.error if result.error else ''}\n")
    print(result.final_text)


def _run_refine(args: argparse.Namespace) -> int:
    result = _execute(args, lambda stack, hook: refine(
        stack, args.prompt, args.generator, args.evaluator, max_rounds=args.max_rounds,
        threshold=args.threshold, cost_cap_usd=args.cost_cap, on_record=hook,
    ))
    _emit(args, "refine", result, _refine_text)
    return 1 if result.stop_reason.endswith("_failed") else 0  # type: ignore[attr-defined]


# ── moa ───────────────────────────────────────────────────────────────────────────────────
def _moa_text(result: Any) -> None:
    for layer in result.layers:
        print(f"── layer {layer.layer} · {len([a for a in layer.answers if a.ok])}/"
              f"{len(layer.answers)} answered · {_money(layer.cost_usd)} · "
              f"{layer.latency_ms:.0f} ms")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(_answer_line(result.aggregation).replace("──", "── aggregator", 1))
    print(result.final_text)


def _run_moa(args: argparse.Namespace) -> int:
    proposers = _models(args.proposers) if args.proposers else None
    result = _execute(args, lambda stack, hook: moa(
        stack, args.prompt, proposers=proposers, aggregator=args.aggregator,
        layers=args.layers, on_record=hook,
    ))
    _emit(args, "moa", result, _moa_text)
    return 0


# ── vote ──────────────────────────────────────────────────────────────────────────────────
def _vote_text(result: Any) -> None:
    print_table([{"model": b.model, "answer": b.answer or f"FAILED ({b.error_class})",
                  "counted as": b.normalised} for b in result.ballots],
                ["model", "answer", "counted as"])
    votes = sum(result.tally.values())
    if result.winner is None:
        print(f"\ntie: {', '.join(result.tied)} ({votes} votes)")
    else:
        print(f"\n{result.outcome}: {result.winner} "
              f"({result.tally[result.winner]}/{votes}, agreement {result.agreement:.0%})")


def _run_vote(args: argparse.Namespace) -> int:
    choices = _models(args.choices) if args.choices else None
    result = _execute(args, lambda stack, hook: vote(
        stack, args.question, _models(args.models), choices=choices, on_record=hook,
    ))
    _emit(args, "vote", result, _vote_text)
    return 0


# ── prompts ───────────────────────────────────────────────────────────────────────────────
def _run_prompts(args: argparse.Namespace) -> int:
    from core.prompts import default_library

    rows = [{"name": t.name, "version": t.version, "variables": list(t.variables),
             "required": t.required, "description": t.description}
            for t in default_library().values()]
    if args.json:
        print_json(rows)
    else:
        print_table([{**r, "variables": ",".join(r["variables"])} for r in rows],
                    ["name", "version", "variables", "description"])
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--db", default=None, help="ledger file (default: $ORCHESTRA_DB or "
                        "data/orchestra.duckdb)")


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return int(text)


def _threshold(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be a score between 0 and 1, e.g. 0.8")
    return value


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra compare``, ``refine``, ``moa``, ``vote`` and ``prompts``."""
    p = subparsers.add_parser("compare", help="send one prompt to several models side by side")
    p.add_argument("prompt", nargs="?", default=None, type=prompt_text,
                   help="the prompt (or use --template)")
    p.add_argument("--models", required=True, help="comma-separated catalog ids")
    p.add_argument("--system", default=None, help="a system prompt")
    p.add_argument("--template", default=None, help="a prompt-library template name")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="a template variable (repeatable)")
    p.add_argument("--max-tokens", type=positive_int, default=1024,
                   help="most tokens each model writes (at most its output limit)")
    _common(p)
    add_local_only_flag(p)
    p.set_defaults(func=_run_compare)

    p = subparsers.add_parser("refine", help="draft, evaluate and revise until it passes")
    p.add_argument("prompt", type=prompt_text)
    p.add_argument("--generator", required=True, help="the model that drafts")
    p.add_argument("--evaluator", required=True, help="the model that judges (another provider)")
    p.add_argument("--max-rounds", type=_positive_int, default=3)
    p.add_argument("--threshold", type=_threshold, default=0.8, help="pass score, 0-1")
    p.add_argument("--cost-cap", type=usd_amount, default=None,
                   help="stop before spending more than this many USD")
    _common(p)
    p.set_defaults(func=_run_refine)

    p = subparsers.add_parser("moa", help="mixture of agents: proposers, then an aggregator")
    p.add_argument("prompt", type=prompt_text)
    p.add_argument("--proposers", default=None, help="comma-separated ids (default: 3 from "
                   "the catalog)")
    p.add_argument("--aggregator", default=None, help="the model that synthesises")
    p.add_argument("--layers", type=_positive_int, default=1)
    _common(p)
    p.set_defaults(func=_run_moa)

    p = subparsers.add_parser("vote", help="ask several models and take the majority answer")
    p.add_argument("question", type=prompt_text)
    p.add_argument("--models", required=True, help="comma-separated catalog ids")
    p.add_argument("--choices", default=None, help="comma-separated allowed answers")
    _common(p)
    p.set_defaults(func=_run_vote)

    p = subparsers.add_parser("prompts", help="list the prompt library")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_run_prompts)
