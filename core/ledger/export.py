"""Exporting attempts to CSV or Parquet with DuckDB's ``COPY``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import duckdb

from core.errors import ConfigError, LedgerError
from core.ledger.queries import HistoryFilter
from core.ledger.writer import Ledger

ExportFormat = Literal["csv", "parquet"]


def _sql_string(text: str) -> str:
    """A SQL string literal (COPY takes its file name as a literal, not a parameter)."""
    return "'" + text.replace("'", "''") + "'"


def export_attempts(flt: HistoryFilter | None, path: str | Path, fmt: ExportFormat = "csv", *,
                    ledger: Ledger | None = None) -> int:
    """Write the filtered attempts (oldest first, every column) to ``path``; return the row count.

    ``fmt`` is ``csv`` (with a header) or ``parquet``. The parent directory is created.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"export format must be csv or parquet, not {fmt!r}")
    target = Path(path).expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create {target.parent}: {exc.strerror}") from exc
    where, params = (flt or HistoryFilter()).where()
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
    statement = (f"COPY (SELECT * FROM attempts WHERE {where} ORDER BY started_at, attempt_id) "
                 f"TO {_sql_string(str(target))} ({options})")

    def work(con: duckdb.DuckDBPyConnection) -> int:
        return int(con.execute(statement, params).fetchall()[0][0])

    return (ledger or Ledger()).transact(work)
