"""``orchestra route "TASK"``: show where a task would go and why, without calling anything."""

from __future__ import annotations

import argparse
import os

from core.catalog import TIERS
from core.settings import Settings
from core.cli.output import print_json
from core.cli.validate import prompt_text
from core.routing.state import routing_state
from core.routing.candidates import RouteRequest
from core.routing.router import RouteDecision, Router

CAPABILITIES = ("stream", "json_schema", "tools", "live_search", "reasoning", "vision")


def decide(args: argparse.Namespace) -> RouteDecision:
    """The router's decision for the command's task, with this machine's keys and policy."""
    settings = Settings.from_environ(os.environ)
    gateway, policy = settings.gateway(), settings.policy
    router = Router(settings.catalog, policy, routing_state(policy, configured=gateway.available))
    request = RouteRequest(text=args.task, kind=args.kind or "", tier=args.tier,
                           capabilities=tuple(dict.fromkeys(args.capability or ())))
    return router.route(request)


def _run(args: argparse.Namespace) -> int:
    decision = decide(args)
    if args.json:
        data = decision.to_dict()
        print_json({k: data[k] for k in ("complexity", "tier", "model", "fallbacks", "reason")})
        return 0
    print(f"model:      {decision.model}")
    print(f"complexity: {decision.complexity}  tier: {decision.tier}")
    print(f"reason:     {decision.reason}")
    print(f"fallbacks:  {', '.join(decision.fallbacks) or '(none)'}")
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra route``."""
    parser = subparsers.add_parser(
        "route", help="show which model a task would be routed to, and why (calls nothing)")
    parser.add_argument("task", type=prompt_text, help="the task text")
    parser.add_argument("--kind", help="task kind (classify, code, research, design, ...)")
    parser.add_argument("--tier", choices=TIERS, help="pin the tier instead of scoring")
    parser.add_argument("--capability", action="append", choices=CAPABILITIES, metavar="C",
                        help=f"required capability, repeatable ({', '.join(CAPABILITIES)})")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.set_defaults(func=_run)
