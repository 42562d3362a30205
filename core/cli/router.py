"""``orchestra router eval``: the learned router's cost–quality curve on held-out outcomes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.cli.output import print_json, print_table

if TYPE_CHECKING:  # scikit-learn is heavy: loaded only when the command runs
    from core.routing.evaluation import Evaluation, Point


def _money(value: float | None) -> str:
    return "never" if value is None else f"${value:.4f}"


def _distinct(points: list[Point]) -> list[Point]:
    seen: set[tuple[float, float]] = set()
    kept = []
    for point in points:
        key = (round(point.accuracy, 6), round(point.cost_usd, 6))
        if key not in seen:
            seen.add(key)
            kept.append(point)
    return kept


def _print_report(result: Evaluation) -> None:
    from core.routing.evaluation import FOLDS

    chosen = result.chosen
    print(f"chosen by {FOLDS}-fold cross-validation on the train file: features "
          f"{chosen.features}, alpha {chosen.alpha:g}, blend {chosen.blend:g} "
          f"(CV AIQ {chosen.aiq:.4f} vs zero router {chosen.zero_router_aiq:.4f})")
    print("\nrouter curve (quality weight → accuracy, total cost):")
    print_table([{"knob": f"{p.knob:.4f}", "accuracy": f"{p.accuracy:.4f}",
                  "cost": f"${p.cost_usd:.4f}"} for p in _distinct(result.points)],
                ["knob", "accuracy", "cost"])
    print("\nsingle models:")
    print_table([{"model": s.model, "accuracy": f"{s.accuracy:.4f}", "cost": f"${s.cost_usd:.4f}"}
                 for s in sorted(result.singles, key=lambda s: s.cost_usd)],
                ["model", "accuracy", "cost"])
    if result.cascade_points:
        print("\ncascades (answer, agreement check, escalate), chosen on the train file:")
        print_table([{"cascade": f"{c.cascade.answer} ✓{c.cascade.check} ↑{c.cascade.escalate}",
                      "accuracy": f"{c.accuracy:.4f}", "cost": f"${c.cost_usd:.4f}",
                      "escalated": f"{c.escalated:.0%}"} for c in result.cascade_points],
                    ["cascade", "accuracy", "cost", "escalated"])
    low, high = result.cost_range_usd
    best = result.best_single
    print(f"\nrandom choice: {result.random.accuracy:.4f} @ ${result.random.cost_usd:.4f}")
    print(f"oracle:        {result.oracle.accuracy:.4f} @ ${result.oracle.cost_usd:.4f}")
    print(f"AIQ over ${low:.4f}–${high:.4f}: router {result.router_aiq:.4f}, "
          f"zero router {result.zero_router_aiq:.4f}"
          + ("" if result.cascade_aiq is None else f", cascades {result.cascade_aiq:.4f}"))
    print(f"router under the zero router on {result.below_zero_router_share:.0%} of that range "
          f"(by {result.max_shortfall:.4f} at most)")
    print(f"best single model: {best.model} {best.accuracy:.4f} @ ${best.cost_usd:.4f}; "
          f"router reaches it at {_money(result.cost_to_match_best_single_usd)}"
          + ("" if not result.cascade_points else
             f", cascades at {_money(result.cascade_cost_to_match_best_single_usd)}"))


def _eval(args: argparse.Namespace) -> int:
    from core.routing.evaluation import evaluate
    from core.routing.learned import DEFAULT_SEED
    from core.routing.routerbench import read_routerbench

    train, test = read_routerbench(args.train), read_routerbench(args.test)
    result = evaluate(train, test, seed=DEFAULT_SEED if args.seed is None else args.seed)
    if args.json:
        print_json(result.model_dump(mode="json"))
    else:
        _print_report(result)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra router eval``."""
    parser = subparsers.add_parser("router", help="evaluate the learned router offline")
    commands = parser.add_subparsers(dest="router_command", required=True, metavar="ACTION")
    ev = commands.add_parser(
        "eval", help="train on one outcome table, report the cost-quality curve on another")
    ev.add_argument("--train", required=True, help="RouterBench-format CSV to learn from")
    ev.add_argument("--test", required=True, help="RouterBench-format CSV to report on")
    ev.add_argument("--seed", type=int, default=None,
                    help="folds and training seed (default: the learned router's)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=_eval)
