"""Writing a query's rows to a CSV or Parquet file with DuckDB's ``COPY`` (exports)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb

from core.errors import ConfigError, LedgerError

ExportFormat = Literal["csv", "parquet"]
Transact = Callable[[Callable[[duckdb.DuckDBPyConnection], int]], int]


def copy_to_file(transact: Transact, select: str, params: Sequence[Any], path: str | Path,
                 fmt: ExportFormat) -> int:
    """Write the rows of ``select`` to ``path`` as ``fmt`` (CSV with a header, or Parquet),
    creating the parent folder; return how many rows were written."""
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"export format must be csv or parquet, not {fmt!r}")
    target = Path(path).expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create {target.parent}: {exc.strerror}") from exc
    literal = "'" + str(target).replace("'", "''") + "'"  # COPY takes its file as a literal
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
    statement = f"COPY ({select}) TO {literal} ({options})"
    return transact(lambda con: int(con.execute(statement, list(params)).fetchall()[0][0]))
