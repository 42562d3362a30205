"""MCP servers as tool sources, through the official ``mcp`` SDK (no protocol of our own).

``connect_mcp(server, stack, timeout_s)`` opens an ``mcp.Client`` (a stdio subprocess, or a
streamable HTTP URL) on the given exit stack, lists the server's tools and returns one ``Tool``
per tool; each call is the client's ``call_tool``. A result flagged ``isError`` raises
``ToolFailed`` with the server's text. The SDK is imported only when a server is configured.
"""

from __future__ import annotations

import json
import re
import sys
from contextlib import AsyncExitStack
from typing import Any, TextIO

from core.errors import ConfigError
from core.tools.base import Tool
from core.tools.errors import ToolFailed
from core.tools.settings import MCPServerSettings
from core.types import ToolSpec

_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]")


async def connect_mcp(server: MCPServerSettings, stack: AsyncExitStack,
                      timeout_s: float) -> list[Tool]:
    """Connect to ``server`` for the life of ``stack`` and return its tools."""
    from mcp import Client, StdioServerParameters, stdio_client

    target: Any = server.url or stdio_client(
        StdioServerParameters(command=server.command, args=list(server.args)),
        errlog=_errlog())
    try:
        client = await stack.enter_async_context(
            Client(target, read_timeout_seconds=timeout_s))
        listed = await _list_all(client)
    except Exception as exc:  # the SDK raises OS, HTTP, protocol and group errors here
        raise ConfigError(
            f"MCP server '{server.name}' ({server.transport}: {server.command or server.url}) "
            f"could not be reached: {_describe(exc)}; fix [[tools.mcp]] in the policy") from exc
    return [_as_tool(server, client, tool) for tool in listed]


async def _list_all(client: Any) -> list[Any]:
    """Every tool of the server, across pages."""
    tools: list[Any] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def _as_tool(server: MCPServerSettings, client: Any, mcp_tool: Any) -> Tool:
    remote_name: str = mcp_tool.name
    name = _NOT_A_NAME.sub("_", f"{server.prefix}_{remote_name}" if server.prefix
                           else remote_name)[:64]
    schema = dict(mcp_tool.input_schema or {"type": "object", "properties": {}})
    schema.pop("title", None)
    spec = ToolSpec(name=name, description=mcp_tool.description or "", parameters=schema)

    async def run(arguments: dict[str, Any]) -> str:
        result = await client.call_tool(remote_name, arguments)
        text = _result_text(result)
        if result.is_error:
            raise ToolFailed(f"{name} (MCP server {server.name}): {text or 'failed'}")
        return text

    return Tool(spec=spec, run=run, source=f"mcp:{server.name}")


def _result_text(result: Any) -> str:
    """The text of a ``CallToolResult``: its text blocks, else its structured content."""
    texts = [block.text for block in result.content if getattr(block, "type", "") == "text"]
    if texts:
        return "\n".join(texts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content, default=str)
    return "\n".join(json.dumps(block.model_dump(mode="json")) for block in result.content)


def _errlog() -> TextIO:
    """Where a stdio server's stderr goes: ours, when it is a real file (not a capture)."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None and stream.fileno() >= 0:
                return stream
        except (AttributeError, OSError):
            continue
    raise ConfigError("no stderr to give an MCP server; run with a standard error stream")


def _describe(exc: BaseException) -> str:
    """One line for an error that may be an exception group (anyio task groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
