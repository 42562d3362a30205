"""A model call with tools, from names to answer: open the registry, pick the tools, run the loop.

Used by ``orchestra ask --tools`` and by plan tasks with a ``tools:`` list. The registry (and
any MCP server it connects) lives for the one loop. Arguments stored in the ledger have the
provider keys of the environment redacted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.catalog import Catalog
from core.routing.candidates import RouteRequest
from core.secrets import resolve_key
from core.tools.execute import ExecutedCall
from core.tools.loop import ModelCall, ToolLoopResult, run_tool_loop
from core.tools.records import ToolCallRecord
from core.tools.registry import open_registry
from core.tools.settings import ToolSettings
from core.types import ChatRequest


def provider_keys(catalog: Catalog) -> list[str]:
    """The API keys set in the environment for the catalog's providers (to redact)."""
    keys = (resolve_key(provider) for provider in catalog.providers.values())
    return [key for key in keys if key]


async def call_with_tools(
    call: ModelCall, request: ChatRequest, route: RouteRequest, names: Sequence[str],
    settings: ToolSettings, catalog: Catalog, *, run_id: str = "", task_id: str = "",
    record: Callable[[list[ToolCallRecord]], None] | None = None,
    on_tool_call: Callable[[ExecutedCall], None] | None = None,
) -> ToolLoopResult:
    """Run the tool loop for ``request`` with the tools ``names`` (``all``: every tool)."""
    async with open_registry(settings, needed=names) as registry:
        tools = registry.select(names)
        return await run_tool_loop(
            call, request, route, tools, max_turns=settings.max_turns,
            timeout_s=settings.timeout_s, run_id=run_id, task_id=task_id, record=record,
            on_tool_call=on_tool_call, secrets=provider_keys(catalog))
