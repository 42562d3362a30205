"""Exporting attempts to CSV or Parquet with DuckDB's ``COPY``."""

from __future__ import annotations

from pathlib import Path

from core.ledger.files import ExportFormat, copy_to_file
from core.ledger.queries import HistoryFilter
from core.ledger.writer import Ledger


def export_attempts(flt: HistoryFilter | None, path: str | Path, fmt: ExportFormat = "csv", *,
                    ledger: Ledger | None = None) -> int:
    """Write the filtered attempts (oldest first, every column) to ``path``; return the row count.

    ``fmt`` is ``csv`` (with a header) or ``parquet``. The parent directory is created.
    """
    where, params = (flt or HistoryFilter()).where()
    select = f"SELECT * FROM attempts WHERE {where} ORDER BY started_at, attempt_id"
    return copy_to_file((ledger or Ledger()).transact, select, params, path, fmt)
