"""``orchestra ask``: one prompt (or prompt-library template) to one model, with fallback.

With ``--model`` the model is pinned (it still falls back along its chain if it fails, and the
answer says which model gave it); without it the router picks the cheapest model that fits.
Every attempt is written to the ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from core.catalog import default_catalog
from core.settings import Settings
from core.cli.output import parse_vars, print_json
from core.cli.validate import check_max_tokens, positive_int, prompt_text
from core.calls.cache import with_cache
from core.calls.structured import call_structured, load_schema_file
from core.calls.context import CallContext
from core.calls.factory import open_stack
from core.calls.context import CallOutcome
from core.routing.candidates import route_request_for
from core.errors import ConfigError
from core.local.only import add_flag as add_local_only_flag
from core.prompts import get_template
from core.types import ChatRequest, ChatResult


def result_json(result: ChatResult, attempts: int = 1) -> dict[str, Any]:
    """The ``--json`` shape of one call."""
    return {
        "model": result.model,
        "provider": result.provider,
        "mode": result.mode,
        "text": result.text,
        "usage": result.usage.model_dump(),
        "cost_usd": result.cost_usd,
        "latency_ms": round(result.latency_ms, 2),
        "ttft_ms": None if result.ttft_ms is None else round(result.ttft_ms, 2),
        "finish_reason": result.finish_reason,
        "citations": result.citations,
        "attempts": attempts,
        "cached": result.cached,
    }


def _request(args: argparse.Namespace) -> tuple[ChatRequest, str | None]:
    """The request and the model pin (from --model, else the template's preferred model)."""
    if args.template:
        template = get_template(args.template)
        values = parse_vars(args.var)
        if args.prompt:
            if not template.input:
                raise ConfigError(f"template '{template.name}' takes no free text; pass "
                                  "--var NAME=VALUE for its variables instead")
            values.setdefault(template.input, args.prompt)
        pin = args.model or template.model
        return template.request(values, pin or ""), pin
    if not args.prompt:
        raise ConfigError('give a prompt, e.g. orchestra ask "hello", or --template NAME')
    if args.var:
        raise ConfigError("--var goes with --template NAME")
    request = ChatRequest.of(args.model or "", args.prompt, system=args.system,
                             max_tokens=args.max_tokens)
    return request, args.model


async def _ask(args: argparse.Namespace, request: ChatRequest, pin: str | None) -> CallOutcome:
    settings = Settings.from_environ(os.environ, db=args.db, local_only=args.local_only)
    ledger = settings.ledger()
    echo = args.stream and not args.json
    async with settings.gateway() as gateway:
        with ledger.attempt_sink() as sink:
            policy = with_cache(settings.policy) if args.cache else settings.policy
            stack = open_stack(gateway, policy, ledger, on_attempt=sink.add)
            route = route_request_for(request, stream=args.stream, model=pin)
            if pin is None and args.template and get_template(args.template).tier:
                route = route_request_for(request, stream=args.stream,
                                          tier=get_template(args.template).tier)
            decision = stack.route(route)
            pinned = request.model_copy(update={"model": decision.model})
            if request.json_schema is not None:  # --schema: validated, repaired once
                _, outcome = await call_structured(stack, pinned, request.json_schema,
                                                   route=route, decision=decision,
                                                   context=CallContext(purpose="ask"))
                return outcome
            outcome = await stack.call(
                pinned, route, decision=decision,
                context=CallContext(purpose="ask"), stream=args.stream,
                on_delta=(lambda text: print(text, end="", flush=True)) if echo else None)
    if echo:
        print()
    return outcome


def _run(args: argparse.Namespace) -> int:
    # an unknown model, or --max-tokens beyond its limit → one-line error before any call
    check_max_tokens(args.max_tokens, [args.model] if args.model else [], default_catalog())
    request, pin = _request(args)
    if args.schema:
        request = request.model_copy(update={"json_schema": load_schema_file(args.schema)})
    if args.tools:  # the tool loop (core/cli/tools.py)
        from core.cli.tools import ask_with_tools
        return ask_with_tools(args, request, pin)
    outcome = asyncio.run(_ask(args, request, pin))
    result = outcome.result
    if args.json:
        print_json(result_json(result, len(outcome.attempts)))
        return 0
    if not args.stream:
        print(result.text)
    cost = "unknown (unpriced)" if result.cost_usd is None else f"${result.cost_usd:.6f}"
    fell_back = f" · fell back from {pin}" if pin and outcome.model != pin else ""
    fell_back += " · cached" if result.cached else ""
    print(f"[{result.model} · {result.mode} · {result.usage.input_tokens}+"
          f"{result.usage.output_tokens} tokens · {cost} · {result.latency_ms:.0f} ms{fell_back}]",
          file=sys.stderr)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra ask``."""
    parser = subparsers.add_parser("ask", help="send one prompt to one model")
    parser.add_argument("prompt", nargs="?", default=None, type=prompt_text,
                        help="the prompt text")
    parser.add_argument("--model", help="catalog id, e.g. openai:gpt-4o-mini (default: routed)")
    parser.add_argument("--template", help="a prompt-library template (see `orchestra prompts`)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a template variable (repeatable)")
    parser.add_argument("--system", default=None, help="a system prompt")
    parser.add_argument("--max-tokens", type=positive_int, default=1024,
                        help="most tokens to write (at most the model's output limit)")
    parser.add_argument("--stream", action="store_true", help="print text as it arrives")
    parser.add_argument("--schema", metavar="FILE",
                        help="a JSON schema file: the answer is JSON matching it (validated)")
    parser.add_argument("--cache", action="store_true",
                        help="answer an exact repeat from the response cache at $0")
    add_local_only_flag(parser)
    parser.add_argument("--tools", metavar="NAMES",
                        help="let the model call tools: names separated by commas, or all "
                             "(see `orchestra tools list`)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--db", help="ledger file (default: $ORCHESTRA_DB or data/orchestra.duckdb)")
    parser.set_defaults(func=_run)
