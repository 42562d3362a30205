"""The tool registry: every tool the policy makes available, by name, with its source.

``open_registry(settings)`` is an async context manager: it gathers the built-ins, the tools of
each module in ``[tools] modules`` and those of each MCP server in ``[[tools.mcp]]`` (kept
connected until the block ends). Two tools with one name are a ``ConfigError``; ``select``
picks the tools a caller asked for (``all`` for every one), or names the known ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from core.errors import ConfigError
from core.tools.base import Tool
from core.tools.builtins import builtin_tools
from core.tools.errors import UnknownTool
from core.tools.functions import module_tools
from core.tools.mcp_tools import connect_mcp
from core.tools.settings import ToolSettings

ALL = "all"


class ToolRegistry:
    """Tools by name, in the order they were added."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        """Add a tool; a name already taken is a ``ConfigError`` naming both sources."""
        known = self._tools.get(tool.name)
        if known is not None:
            raise ConfigError(f"two tools are named '{tool.name}' ({known.source} and "
                              f"{tool.source}); set a prefix on the MCP server or rename one")
        self._tools[tool.name] = tool

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        """The tool with this name, or ``UnknownTool`` listing the known ones."""
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(f"no tool named '{name}'; known tools: "
                              f"{', '.join(self._tools) or 'none'} "
                              "(see `orchestra tools list`)") from None

    def select(self, names: Sequence[str]) -> list[Tool]:
        """The tools named (``all`` among them: every tool), each once, in the order given."""
        if ALL in names:
            return list(self._tools.values())
        return [self.get(name) for name in dict.fromkeys(names)]


def parse_tool_names(text: str) -> list[str]:
    """``calculator, clock`` → ``["calculator", "clock"]``; empty entries are an error."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or not all(names):
        raise ConfigError(f"--tools '{text}' has an empty name; give names separated by "
                          "commas, e.g. --tools calculator,clock, or --tools all")
    return names


@asynccontextmanager
async def open_registry(settings: ToolSettings, *, needed: Sequence[str] | None = None,
                        http_transport: httpx.AsyncBaseTransport | None = None,
                        ) -> AsyncIterator[ToolRegistry]:
    """Every configured tool, with MCP servers connected for the duration of the block.

    With ``needed`` (tool names, or ``all``), MCP servers are connected only when a needed
    tool is not already a built-in or module tool. An error inside the block comes out as
    itself, not wrapped in the exception group that the MCP clients' task groups put around
    it."""
    try:
        async with AsyncExitStack() as stack:
            registry = ToolRegistry(builtin_tools(settings, http_transport))
            for module in settings.modules:
                for tool in module_tools(module):
                    registry.add(tool)
            wanted = needed is None or ALL in needed or any(n not in registry for n in needed)
            for server in settings.mcp if wanted else ():
                for tool in await connect_mcp(server, stack, settings.timeout_s):
                    registry.add(tool)
            yield registry
    except BaseExceptionGroup as group:
        inner = _sole_exception(group)
        raise inner from inner.__cause__


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-member groups, else the group itself."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return group if isinstance(inner, BaseExceptionGroup) else inner
