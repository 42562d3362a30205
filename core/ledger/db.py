"""Opening the ledger file: where it lives, one short transaction per operation, lock retries.

DuckDB lets only one *process* open a database file at a time (not even a read-only second
opener is allowed). The dashboard and a CLI run must share the file, so no one holds it open:
every operation opens the file, does its work in one transaction and closes it again. When
another process holds the lock, the open is retried with jittered backoff until a deadline, and
only then does ``LedgerError`` say what to do.

Timestamps are stored as naive ``TIMESTAMP`` in UTC throughout.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import duckdb

from core.catalog import DATA_DIR
from core.errors import LedgerError
from core.ledger.migrations import apply_migrations

T = TypeVar("T")

DB_ENV = "ORCHESTRA_DB"
DEFAULT_DB = DATA_DIR / "orchestra.duckdb"
DEFAULT_LOCK_TIMEOUT_S = 10.0
_FIRST_BACKOFF_S = 0.005
_MAX_BACKOFF_S = 0.1
_PATH_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def resolve_db_path(path: str | Path | None = None,
                    environ: Mapping[str, str] | None = None) -> Path:
    """The ledger file: an explicit path, else ``ORCHESTRA_DB`` in ``environ`` (default: the
    process environment), else ``data/orchestra.duckdb``."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get(DB_ENV, "").strip() or DEFAULT_DB
    return Path(chosen).expanduser().resolve()


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether opening failed because another process holds the file's lock.

    DuckDB raises ``duckdb.IOException`` for a held lock, but the same type also covers real I/O
    failures (permissions, a full disk, a corrupt file). No error code or subclass tells them
    apart, so this one function reads the message; nothing else in Orchestra does.
    """
    return isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc)


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(
            f"cannot create the ledger directory {path.parent}: {exc.strerror}; "
            f"choose another file with --db PATH or {DB_ENV}"
        ) from exc
    return duckdb.connect(str(path))


def _thread_lock(path: Path) -> threading.RLock:
    """The lock that keeps this process to one open connection per file at a time.

    Threads of one process that open the same file share one DuckDB instance; when their
    connections overlap, closing one can break the other (checked on DuckDB 2.0: a registered
    Arrow batch then fails with "python_arrow_scan does not exist"). Taking turns avoids that,
    and operations are short.
    """
    with _LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(path, threading.RLock())


def _run_once(path: Path, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    con = _open(path)
    try:
        apply_migrations(con)
        con.execute("BEGIN TRANSACTION")
        try:
            result = work(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return result
    finally:
        con.close()


def transact(
    path: Path,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> T:
    """Open ``path``, run ``work(con)`` in one transaction, commit and close; return its result.

    ``work`` must fetch everything it needs before returning (the connection closes after it),
    and may be run more than once: it is retried whole while another process holds the file,
    until ``lock_timeout_s`` has passed. Threads of this process take turns (see
    ``_thread_lock``). Any other DuckDB failure is raised at once as ``LedgerError``.
    """
    deadline = time.monotonic() + lock_timeout_s
    delay = _FIRST_BACKOFF_S
    thread_lock = _thread_lock(path)
    while True:
        if not thread_lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise LedgerError(
                f"ledger {path} stayed busy in this process for {lock_timeout_s:g} s; "
                f"an operation is stuck, or pass a longer lock timeout"
            )
        try:
            return _run_once(path, work)
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise LedgerError(f"ledger {path}: {exc}") from exc
            if time.monotonic() + delay > deadline:
                raise LedgerError(
                    f"ledger {path} stayed locked by another process for {lock_timeout_s:g} s; "
                    f"close the other Orchestra process or use another file with --db PATH"
                ) from exc
        finally:
            thread_lock.release()
        time.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, _MAX_BACKOFF_S)
