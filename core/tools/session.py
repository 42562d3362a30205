"""A model call with tools, from names to answer: open the registry, pick the tools, run the loop.

Used by ``orchestra ask --tools`` and by plan tasks with a ``tools:`` list. The registry (and
any MCP server it connects) lives for the one loop. Arguments stored in the ledger have the
provider keys of the environment redacted. ``ToolCallWriter`` writes tool-call records to the
ledger on one background thread, so a loop never waits for the database between turns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from core.catalog import Catalog
from core.ledger import Ledger
from core.routing.candidates import RouteRequest
from core.secrets import resolve_key
from core.tools.execute import ExecutedCall
from core.tools.loop import ModelCall, ToolLoopResult, run_tool_loop
from core.tools.records import ToolCallRecord
from core.tools.registry import open_registry
from core.tools.settings import ToolSettings
from core.types import ChatRequest


class ToolCallWriter:
    """Writes tool calls to a ledger off the event loop, in order, coalescing batches.

    Call it with a batch (it returns at once): batches queued while a write is going on go
    into the next one, so a busy loop costs a few transactions. ``close()`` waits for every
    write and raises the first ``LedgerError``, so a failed write is never silent."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tool-calls")
        self._writes: list[Future[None]] = []
        self._pending: list[ToolCallRecord] = []
        self._lock = threading.Lock()
        self._scheduled = False

    def __call__(self, records: list[ToolCallRecord]) -> None:
        with self._lock:
            self._pending.extend(records)
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            self._writes.append(self._pool.submit(self._flush))

    def __enter__(self) -> "ToolCallWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the queued writes; raise the first failure."""
        self._pool.shutdown(wait=True)
        for write in self._writes:
            write.result()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending, self._scheduled = self._pending, [], False
        self._ledger.record_tool_calls(batch)


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
