"""The ledger's read/write API: runs, tasks, attempts, comparisons and ratings.

``Ledger`` never keeps the file open: each method is one short transaction (see ``db.py``), so a
dashboard and a CLI run can use the same file at once. Attempts are written in bulk through an
Arrow table; ``AttemptSink`` batches them for the executor and flushes in the background.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from core.ledger.db import DEFAULT_LOCK_TIMEOUT_S, resolve_db_path, transact
from core.ledger.outcomes import rating_outcome
from core.ledger.sink import AttemptSink
from core.ledger.records import (
    from_unix,
    ComparisonKind,
    ComparisonRecord,
    RatingRecord,
    RatingSource,
    RunMode,
    RunRecord,
    RunStatus,
    TaskRow,
    ledger_money,
    record_from_row,
    utc_now,
)
from core.tools.records import ToolCallRecord
from core.types import AttemptRecord

T = TypeVar("T")

ATTEMPT_FIELDS: tuple[str, ...] = tuple(AttemptRecord.model_fields)
_ARROW_TYPES = {
    "wave": pa.int32(),
    "attempt_no": pa.int32(),
    "http_status": pa.int32(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "cached_input_tokens": pa.int64(),
    "reasoning_tokens": pa.int64(),
    "cost_usd": pa.decimal128(18, 8),
    "latency_ms": pa.float64(),
    "ttft_ms": pa.float64(),
    "started_at": pa.float64(),
    "ended_at": pa.float64(),
    "cached": pa.bool_(),
}
_MICROS = "make_timestamp(({0} * 1e6)::BIGINT)"
_INSERT_ATTEMPTS = f"""
    INSERT OR IGNORE INTO attempts BY NAME
    SELECT * REPLACE ({_MICROS.format('started_at')} AS started_at,
                      {_MICROS.format('ended_at')} AS ended_at),
           {_MICROS.format('started_at')}::DATE AS day
    FROM attempt_batch
"""
_SELECT_ATTEMPTS = """
    SELECT * EXCLUDE (day) REPLACE (epoch(started_at) AS started_at, epoch(ended_at) AS ended_at)
    FROM attempts
"""
_TASK_TYPES = {
    "run_id": pa.string(), "task_id": pa.string(), "wave": pa.int32(), "title": pa.string(),
    "kind": pa.string(), "status": pa.string(), "model": pa.string(), "tier": pa.string(),
    "output": pa.string(), "cost_usd": pa.decimal128(18, 8), "started_at": pa.timestamp("us"),
    "ended_at": pa.timestamp("us"), "error": pa.string(),
}
_UPSERT_TASKS = f"""
    INSERT INTO tasks BY NAME SELECT * FROM task_batch
    ON CONFLICT (run_id, task_id) DO UPDATE SET
    {", ".join(f"{n} = excluded.{n}" for n in _TASK_TYPES if n not in ("run_id", "task_id"))}
"""
_FINAL_RUN_STATES = ("done", "failed", "cancelled", "interrupted")


def attempts_table(records: Iterable[AttemptRecord]) -> pa.Table:
    """Attempt records as an Arrow table (one column per field), duplicates of an id dropped."""
    unique = {r.attempt_id: r.__dict__ for r in records}
    rows = list(unique.values())
    columns = {name: [row[name] for row in rows] for name in ATTEMPT_FIELDS}
    columns["cost_usd"] = [ledger_money(value) for value in columns["cost_usd"]]
    schema = pa.schema([(name, _ARROW_TYPES.get(name, pa.string())) for name in ATTEMPT_FIELDS])
    return pa.table(columns, schema=schema)


def _fetch_records(
    con: duckdb.DuckDBPyConnection, model: type[T], sql: str, params: list[Any]
) -> list[T]:
    cursor = con.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return [record_from_row(model, columns, row) for row in cursor.fetchall()]  # type: ignore


class Ledger:
    """The ledger file at ``path`` (explicit, else ``$ORCHESTRA_DB``, else data/orchestra.duckdb).

    ``lock_timeout_s`` is how long an operation waits for another process to release the file
    before raising ``LedgerError``.
    """

    def __init__(
        self, path: str | Path | None = None, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    ) -> None:
        self.path = resolve_db_path(path)
        self.lock_timeout_s = lock_timeout_s

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def transact(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work(con)`` in one transaction on a freshly opened file (see ``db.transact``)."""
        return transact(self.path, work, self.lock_timeout_s)

    def _execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.transact(lambda con: con.execute(sql, params or []).fetchall())

    # -- runs ------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        demand: str,
        mode: RunMode,
        budget_usd: Decimal | None = None,
        plan_json: str = "{}",
        owner: str = "",
    ) -> RunRecord:
        """Record a run as running (``owner``: the ``host:pid`` running it). Starting a known
        ``run_id`` again (a resume) reopens it."""
        run = RunRecord(
            run_id=run_id, demand=demand, mode=mode,
            budget_usd=ledger_money(budget_usd), plan_json=plan_json, owner=owner,
        )
        self._execute(
            """INSERT INTO runs (run_id, demand, created_at, status, mode, budget_usd, plan_json,
                                 owner)
               VALUES (?, ?, ?, 'running', ?, ?, ?, ?)
               ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL,
                   mode = excluded.mode, budget_usd = excluded.budget_usd,
                   plan_json = excluded.plan_json, owner = excluded.owner""",
            [run.run_id, run.demand, run.created_at, run.mode, run.budget_usd, run.plan_json,
             run.owner],
        )
        return run

    def update_run(
        self, run_id: str, *, status: RunStatus | None = None, summary_json: str | None = None
    ) -> None:
        """Change a run's status and/or summary; a final status also stamps ``finished_at``."""
        finished = utc_now() if status in _FINAL_RUN_STATES else None
        self._execute(
            """UPDATE runs SET status = coalesce(?, status),
                   summary_json = coalesce(?, summary_json),
                   finished_at = coalesce(?, finished_at)
               WHERE run_id = ?""",
            [status, summary_json, finished, run_id],
        )

    def mark_interrupted(self, run_id: str) -> None:
        """Mark a run that stopped without finishing (a crash, Ctrl-C) as interrupted.

        Its tasks still queued or running become ``cancelled`` with error ``interrupted``; the
        outputs of done tasks stay for a resume.
        """
        def work(con: duckdb.DuckDBPyConnection) -> None:
            now = utc_now()
            con.execute(
                """UPDATE runs SET status = 'interrupted', finished_at = ?
                   WHERE run_id = ? AND status = 'running'""",
                [now, run_id],
            )
            con.execute(
                """UPDATE tasks SET status = 'cancelled', error = 'interrupted',
                       ended_at = coalesce(ended_at, ?)
                   WHERE run_id = ? AND status IN ('queued', 'running')""",
                [now, run_id],
            )

        self.transact(work)

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or None."""
        runs = self.transact(
            lambda con: _fetch_records(con, RunRecord, "SELECT * FROM runs WHERE run_id = ?",
                                       [run_id])
        )
        return runs[0] if runs else None

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""
        return self.transact(
            lambda con: _fetch_records(
                con, RunRecord, "SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", [limit]
            )
        )

    # -- tasks -----------------------------------------------------------------------------

    def upsert_task(self, task: TaskRow) -> None:
        """Insert a task or replace its row (called at each status change)."""
        self.upsert_tasks([task])

    def upsert_tasks(self, tasks: Iterable[TaskRow]) -> None:
        """Insert or replace task rows in one transaction, as one batch (the last row given for
        a task wins)."""
        latest = {(t.run_id, t.task_id): t.__dict__ for t in tasks}
        if not latest:
            return
        rows = list(latest.values())
        columns = {name: [row[name] for row in rows] for name in _TASK_TYPES}
        columns["cost_usd"] = [ledger_money(value) for value in columns["cost_usd"]]
        table = pa.table(columns, schema=pa.schema(list(_TASK_TYPES.items())))

        def work(con: duckdb.DuckDBPyConnection) -> None:
            con.register("task_batch", table)
            try:
                con.execute(_UPSERT_TASKS)
            finally:
                con.unregister("task_batch")

        self.transact(work)

    def get_tasks(self, run_id: str) -> list[TaskRow]:
        """The tasks of a run, by wave then id."""
        return self.transact(
            lambda con: _fetch_records(
                con, TaskRow, "SELECT * FROM tasks WHERE run_id = ? ORDER BY wave, task_id",
                [run_id],
            )
        )

    # -- attempts --------------------------------------------------------------------------

    def record_attempts(self, records: Iterable[AttemptRecord]) -> int:
        """Write attempts in one transaction; return how many were new (known ids are ignored)."""
        table = attempts_table(records)
        if table.num_rows == 0:
            return 0

        def work(con: duckdb.DuckDBPyConnection) -> int:
            con.register("attempt_batch", table)
            try:
                return int(con.execute(_INSERT_ATTEMPTS).fetchall()[0][0])
            finally:
                con.unregister("attempt_batch")

        return self.transact(work)

    def run_spend(self, run_id: str) -> Decimal:
        """What a run's attempts cost so far (priced ones): where a resumed run's budget starts."""
        return self.transact(lambda con: Decimal(str(con.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM attempts WHERE run_id = ?",
            [run_id]).fetchall()[0][0])))

    def calls_since(self, since: float) -> list[tuple[float, str]]:
        """(unix start time, provider) of every attempt started since ``since`` (unix seconds),
        oldest first: seeds the rolling-day concentration cap."""
        return self.transact(lambda con: [
            (float(ts), str(provider)) for ts, provider in con.execute(
                "SELECT epoch(started_at), provider FROM attempts WHERE started_at >= ? "
                "ORDER BY started_at", [from_unix(since)]).fetchall()])

    def record_attempt(self, record: AttemptRecord) -> bool:
        """Write one attempt now; return False if its id was already recorded."""
        return self.record_attempts([record]) == 1

    def attempt_sink(self, flush_interval_ms: int = 200, max_batch: int = 500) -> AttemptSink:
        """A buffered writer that flushes in the background (see ``AttemptSink``)."""
        return AttemptSink(self, flush_interval_ms=flush_interval_ms, max_batch=max_batch)

    def get_attempts(
        self, run_id: str | None = None, comparison_id: str | None = None
    ) -> list[AttemptRecord]:
        """Attempts of a run and/or a comparison (every attempt if neither), oldest first."""
        sql = _SELECT_ATTEMPTS + """
            WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR comparison_id = ?)
            ORDER BY started_at, attempt_id"""
        params = [run_id, run_id, comparison_id, comparison_id]
        return self.transact(lambda con: _fetch_records(con, AttemptRecord, sql, params))

    # -- tool calls ------------------------------------------------------------------------

    def record_tool_calls(self, records: Iterable[ToolCallRecord]) -> None:
        """Write tool calls in one transaction (a known (attempt_id, call_id) is ignored)."""
        rows = [[r.run_id, r.task_id, r.attempt_id, r.call_id, r.tool, r.source,
                 r.arguments_json, from_unix(r.started_at), r.duration_ms, r.status, r.error]
                for r in records]
        if rows:
            self.transact(lambda con: con.executemany(
                "INSERT OR IGNORE INTO tool_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows))

    def get_tool_calls(self, run_id: str | None = None,
                       attempt_ids: Iterable[str] | None = None) -> list[ToolCallRecord]:
        """Tool calls of a run and/or asked by some attempts (every one if neither), oldest
        first."""
        ids = None if attempt_ids is None else list(attempt_ids)
        sql = """SELECT * REPLACE (epoch(started_at) AS started_at) FROM tool_calls
                 WHERE (? IS NULL OR run_id = ?) AND (?::VARCHAR[] IS NULL OR
                       list_contains(?::VARCHAR[], attempt_id))
                 ORDER BY started_at, call_id"""
        params = [run_id, run_id, ids, ids]
        return self.transact(lambda con: _fetch_records(con, ToolCallRecord, sql, params))

    # -- comparisons and ratings -----------------------------------------------------------

    def record_comparison(
        self,
        comparison_id: str,
        kind: ComparisonKind,
        prompt: str,
        meta: dict[str, Any] | None = None,
    ) -> ComparisonRecord:
        """Record a comparison; its answers are attempts written with the same id."""
        record = ComparisonRecord(
            comparison_id=comparison_id, kind=kind, prompt=prompt,
            meta_json=json.dumps(meta or {}, default=str),
        )
        self._execute(
            "INSERT INTO comparisons VALUES (?, ?, ?, ?, ?)",
            [record.comparison_id, record.kind, record.prompt, record.created_at,
             record.meta_json],
        )
        return record

    def get_comparison(self, comparison_id: str) -> ComparisonRecord | None:
        """The comparison with this id, or None."""
        found = self.transact(
            lambda con: _fetch_records(
                con, ComparisonRecord, "SELECT * FROM comparisons WHERE comparison_id = ?",
                [comparison_id],
            )
        )
        return found[0] if found else None

    def rate(
        self,
        attempt_id: str,
        rating: int | None = None,
        *,
        best: bool = False,
        rater: str = "",
        source: RatingSource = "person",
        note: str = "",
    ) -> RatingRecord:
        """Record a judgement of an attempt (1–5 stars and/or "best of its comparison"); the
        same rater (``source`` and ``rater``) judging it again replaces the earlier one."""
        record = RatingRecord(
            attempt_id=attempt_id, rating=rating, best=best, rater=rater, source=source, note=note
        )
        self._execute(
            """INSERT INTO ratings (attempt_id, rating, best, rater, source, note, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (attempt_id, source, rater) DO UPDATE SET rating = excluded.rating,
                   best = excluded.best, note = excluded.note, created_at = excluded.created_at""",
            [record.attempt_id, record.rating, record.best, record.rater, record.source,
             record.note, record.created_at],
        )
        self.transact(lambda con: rating_outcome(con, record))  # the rating as an outcome
        return record

    def get_ratings(
        self, attempt_id: str | None = None, comparison_id: str | None = None
    ) -> list[RatingRecord]:
        """Ratings of one attempt, or of every attempt of a comparison, oldest first."""
        sql = """SELECT r.* FROM ratings r
                 WHERE (? IS NULL OR r.attempt_id = ?)
                   AND (? IS NULL OR r.attempt_id IN
                        (SELECT attempt_id FROM attempts WHERE comparison_id = ?))
                 ORDER BY r.created_at"""
        params = [attempt_id, attempt_id, comparison_id, comparison_id]
        return self.transact(lambda con: _fetch_records(con, RatingRecord, sql, params))
