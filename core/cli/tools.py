"""``orchestra tools list``, and ``orchestra ask --tools``.

``tools list`` shows every tool the policy makes available, its source and its schema:
built-ins, the functions of ``[tools] modules`` and the tools of each ``[[tools.mcp]]`` server
(connected for the listing through the official MCP SDK). ``ask_with_tools`` is the tool-loop
branch of ``orchestra ask``: each tool call and its result are shown as they happen (on
stderr), the answer on stdout, and ``--json`` adds ``tool_calls``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from core.calls.context import CallContext
from core.calls.factory import open_stack
from core.calls.gateway import Gateway
from core.routing.candidates import route_request_for
from core.cli.output import print_json
from core.ledger import Ledger
from core.policy import load_policy
from core.tools.base import Tool
from core.tools.execute import ExecutedCall
from core.tools.loop import ToolLoopResult
from core.tools.registry import open_registry, parse_tool_names
from core.tools.session import ToolCallWriter, call_with_tools
from core.types import ChatRequest


def tool_json(tool: Tool) -> dict[str, Any]:
    """The ``--json`` shape of one tool."""
    return {"name": tool.name, "source": tool.source, "description": tool.spec.description,
            "parameters": tool.spec.parameters}


def arguments_line(parameters: dict[str, Any]) -> str:
    """``expression: string (required), timezone: string = "UTC"`` from a JSON schema."""
    required = set(parameters.get("required", []))
    parts = []
    for name, prop in parameters.get("properties", {}).items():
        kind = ("|".join(json.dumps(v) for v in prop["enum"]) if "enum" in prop
                else str(prop.get("type", "any")))
        suffix = " (required)" if name in required else (
            f" = {json.dumps(prop['default'])}" if "default" in prop else "")
        parts.append(f"{name}: {kind}{suffix}")
    return ", ".join(parts) or "(no arguments)"


async def _list() -> list[Tool]:
    async with open_registry(load_policy().tools) as registry:
        return list(registry)


def _run_list(args: argparse.Namespace) -> int:
    tools = asyncio.run(_list())
    if args.json:
        print_json({"tools": [tool_json(tool) for tool in tools]})
        return 0
    for tool in tools:
        print(f"{tool.name}  [{tool.source}]")
        if tool.spec.description:
            print(f"    {tool.spec.description}")
        print(f"    arguments: {arguments_line(tool.spec.parameters)}")
    return 0


def tool_call_json(item: ExecutedCall) -> dict[str, Any]:
    """The ``--json`` shape of one tool call (arguments as stored: secrets redacted)."""
    record = item.record
    return {"id": item.call.id, "tool": item.call.name, "source": record.source,
            "arguments": json.loads(record.arguments_json), "result": item.result.content,
            "status": record.status, "error": record.error,
            "duration_ms": round(record.duration_ms, 2), "attempt_id": record.attempt_id}


def _show_call(item: ExecutedCall) -> None:
    mark = "→" if item.record.status == "ok" else "✗"
    print(f"{mark} {item.call.name}({item.record.arguments_json}) = "
          f"{item.result.content[:300]}", file=sys.stderr)


async def _ask_tools(args: argparse.Namespace, request: ChatRequest, pin: str | None,
                     names: list[str]) -> ToolLoopResult:
    ledger, policy = Ledger(args.db), load_policy()
    echo = args.stream and not args.json
    async with Gateway() as gateway:
        with ledger.attempt_sink() as sink, ToolCallWriter(ledger) as writer:
            stack = open_stack(gateway, policy, ledger, on_attempt=sink.add)
            route = route_request_for(request, stream=args.stream, model=pin)
            return await call_with_tools(
                lambda r, rt: stack.call(r, rt, context=CallContext(purpose="ask"),
                                         stream=args.stream,
                                         on_delta=(lambda t: print(t, end="", flush=True))
                                         if echo else None),
                request, route, names, policy.tools, gateway.catalog,
                record=writer, on_tool_call=None if args.json else _show_call)


def ask_with_tools(args: argparse.Namespace, request: ChatRequest, pin: str | None) -> int:
    """``orchestra ask --tools NAMES``: the tool loop for one prompt; prints like ``ask``."""
    from core.cli.ask import result_json  # ask imports this module only for --tools

    out = asyncio.run(_ask_tools(args, request, pin, parse_tool_names(args.tools)))
    result = out.result
    if args.json:
        print_json({**result_json(result, len(out.attempts)), "turns": len(out.calls),
                    "stopped": out.stopped, "total_cost_usd": out.cost_usd,
                    "total_usage": out.usage.model_dump(),
                    "tool_calls": [tool_call_json(item) for item in out.tool_calls]})
        return 0
    print("" if args.stream else result.text)  # a streamed answer is on screen already
    cost = "unknown (unpriced)" if out.cost_usd is None else f"${out.cost_usd:.6f}"
    stop = " · stopped at max_turns" if out.stopped == "max_turns" else ""
    print(f"[{result.model} · {result.mode} · {len(out.calls)} model calls, "
          f"{len(out.tool_calls)} tool calls · {out.usage.input_tokens}+"
          f"{out.usage.output_tokens} tokens · {cost}{stop}]", file=sys.stderr)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra tools list``."""
    parser = subparsers.add_parser("tools", help="the tools models can call")
    commands = parser.add_subparsers(dest="tools_command", required=True, metavar="SUBCOMMAND")
    listing = commands.add_parser("list", help="every tool, its source and its schema")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=_run_list)
