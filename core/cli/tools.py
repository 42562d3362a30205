"""``orchestra tools list``: every tool the policy makes available, its source and its schema.

Built-ins, the functions of ``[tools] modules`` and the tools of each ``[[tools.mcp]]`` server
(connected for the listing through the official MCP SDK).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from core.cli.output import print_json
from core.policy import load_policy
from core.tools.base import Tool
from core.tools.registry import open_registry


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


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``orchestra tools list``."""
    parser = subparsers.add_parser("tools", help="the tools models can call")
    commands = parser.add_subparsers(dest="tools_command", required=True, metavar="SUBCOMMAND")
    listing = commands.add_parser("list", help="every tool, its source and its schema")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=_run_list)
