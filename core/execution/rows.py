"""Task rows in the ledger: coalesced writes on one writer thread, never ahead of attempts.

A run changes task statuses far faster than a file-backed database likes to commit, so the
latest row of each task is kept and written in one transaction at most every
``TASK_FLUSH_INTERVAL_S``, always after the attempts queued so far: a task is never stored as
done while the attempts it paid for are not yet durable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from core.ledger import Ledger, TaskRow
from core.ledger.sink import AttemptSink

TASK_FLUSH_INTERVAL_S = 0.1  # task rows are written at most this often


class TaskRowWriter:
    """Queues task rows and ledger writes for one run, in order, off the event loop."""

    def __init__(self, ledger: Ledger, sink: Callable[[], AttemptSink | None]) -> None:
        self._ledger = ledger
        self._sink = sink
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._pending: dict[str, TaskRow] = {}
        self._lock = threading.Lock()
        self._last_flush = 0.0
        self._scheduled = False

    def submit(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Run one ledger write on the writer thread, after those queued before it."""
        self._writes.submit(fn, *args, **kwargs)

    def put(self, row: TaskRow) -> None:
        """Queue a task's latest row (replacing an unwritten older one)."""
        with self._lock:
            self._pending[row.task_id] = row
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            self.submit(self._persist)

    def close(self) -> None:
        """Wait for every queued write."""
        self._writes.shutdown(wait=True)

    def _persist(self) -> None:
        pause = TASK_FLUSH_INTERVAL_S - (time.monotonic() - self._last_flush)
        if pause > 0:
            time.sleep(pause)  # on the writer thread: let more changes gather into one write
        self._last_flush = time.monotonic()
        with self._lock:
            rows, self._pending = list(self._pending.values()), {}
            self._scheduled = False
        sink = self._sink()
        if sink is not None:
            sink.flush()
        self._ledger.upsert_tasks(rows)
