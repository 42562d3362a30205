"""The ledger: runs, tasks, attempts (every HTTP try), comparisons and ratings in DuckDB.

Write with ``Ledger`` (one short transaction per call, so several processes can share the file)
and ``Ledger.attempt_sink()`` for batched attempts; read history with the functions of
``core.ledger.queries`` and export with ``export_attempts``.
"""

from core.ledger.db import DB_ENV, DEFAULT_DB, resolve_db_path
from core.ledger.export import export_attempts
from core.ledger.queries import (
    Headline,
    HistoryFilter,
    attempts_page,
    cost_per_run,
    error_classes,
    failures_by_provider_day,
    grouped_history,
    headline,
    history_frames,
    latency_by_model,
    ledger_version,
    model_ratings,
    provider_share,
    runs_list,
    spend_by_provider_day,
    tokens_over_time,
)
from core.ledger.records import ComparisonRecord, RatingRecord, RunRecord, TaskRow
from core.ledger.sink import AttemptSink
from core.ledger.writer import Ledger

__all__ = [
    "DB_ENV",
    "DEFAULT_DB",
    "AttemptSink",
    "ComparisonRecord",
    "Headline",
    "HistoryFilter",
    "Ledger",
    "RatingRecord",
    "RunRecord",
    "TaskRow",
    "attempts_page",
    "cost_per_run",
    "error_classes",
    "export_attempts",
    "failures_by_provider_day",
    "grouped_history",
    "headline",
    "history_frames",
    "latency_by_model",
    "ledger_version",
    "model_ratings",
    "provider_share",
    "resolve_db_path",
    "runs_list",
    "spend_by_provider_day",
    "tokens_over_time",
]
