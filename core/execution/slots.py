"""A concurrency limit that hands free slots to the most urgent waiter first."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PrioritySlots:
    """Like ``asyncio.Semaphore(limit)``, but a freed slot goes to the waiter with the highest
    priority (ties: first come, first served). The executor uses the length of a task's longest
    remaining dependency chain, so the critical path is never queued behind short side tasks.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("PrioritySlots needs a limit of at least 1")
        self._free = limit
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._handout_pending = False

    @asynccontextmanager
    async def slot(self, priority: float = 0.0) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), future))
        self._schedule_handout()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over just as we were cancelled
            raise

    def _release(self) -> None:
        self._free += 1
        self._schedule_handout()

    def _schedule_handout(self) -> None:
        """Hand out slots on the next loop turn, so every task woken by the same event (a
        dependency finishing) is queued before the most urgent one is chosen."""
        if not self._handout_pending:
            self._handout_pending = True
            asyncio.get_running_loop().call_soon(self._handout)

    def _handout(self) -> None:
        self._handout_pending = False
        while self._free > 0 and self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():  # a cancelled waiter is skipped
                self._free -= 1
                future.set_result(None)
