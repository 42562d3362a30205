"""The attempt sink: attempts buffered and written in batches from a background thread."""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

from core.errors import LedgerError
from core.types import AttemptRecord

if TYPE_CHECKING:
    from core.ledger.writer import Ledger


class AttemptSink:
    """Buffers attempts and writes them in batches from a background thread.

    A batch is written every ``flush_interval_ms`` (200 ms by default, so an attempt is durable
    soon after it ends and a ``kill -9`` loses only the last moments), or as soon as
    ``max_batch`` records wait, and always on ``close()`` (also at interpreter exit).
    A failed write keeps its records for the next try; ``close()`` raises ``LedgerError`` if
    any remain unwritten. ``add`` never blocks on the database, so it is safe on an event loop.
    """

    def __init__(self, ledger: "Ledger", flush_interval_ms: int = 200, max_batch: int = 500) -> None:
        if not 1 <= flush_interval_ms <= 60_000 or max_batch < 1:
            raise LedgerError("AttemptSink needs 1 <= flush_interval_ms <= 60000, max_batch >= 1")
        self._ledger = ledger
        self._interval_s = flush_interval_ms / 1000
        self._max_batch = max_batch
        self._buffer: list[AttemptRecord] = []
        self._buffer_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.last_error: LedgerError | None = None
        self._thread = threading.Thread(target=self._loop, name="ledger-sink", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def __enter__(self) -> "AttemptSink":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pending(self) -> int:
        """How many attempts wait to be written."""
        with self._buffer_lock:
            return len(self._buffer)

    def add(self, record: AttemptRecord) -> None:
        """Queue one attempt for writing. A run task's answer is written at once (with whatever
        else waits), so it is durable before its task moves on and a resume adopts it; other
        attempts batch."""
        with self._buffer_lock:
            if self._closed:
                raise LedgerError("this attempt sink is closed; open a new one with attempt_sink()")
            self._buffer.append(record)
            now = len(self._buffer) >= self._max_batch or _answers_a_task(record)
        if now:
            self._wake.set()

    def flush(self) -> int:
        """Write every queued attempt now; return how many were new. Raises ``LedgerError``."""
        with self._flush_lock:
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                return self._ledger.record_attempts(batch)
            except LedgerError:
                with self._buffer_lock:
                    self._buffer[:0] = batch
                raise

    def close(self) -> None:
        """Stop the background thread and write what is left."""
        with self._buffer_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        self._thread.join()
        self.flush()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            try:
                self.flush()
            except LedgerError as exc:
                self.last_error = exc  # kept for the next try; close() raises if it persists


def _answers_a_task(record: AttemptRecord) -> bool:
    """An answered attempt of a run's task: what a resume adopts instead of paying again."""
    return record.status == "ok" and record.purpose == "task" and bool(record.run_id)
