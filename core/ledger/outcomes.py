"""Outcomes: how well a model answered a prompt, the data the learned ranker learns from.

Write with ``record_outcomes(ledger, rows)`` (re-recording a row with the same ``outcome_id``
changes nothing, so an import can be repeated); read with ``outcome_rows``, ``outcomes_frame``
(a pandas frame for training), ``outcome_summary`` and ``export_outcomes``. A rating of an
attempt also becomes an outcome, in the rating's own transaction (``rating_outcome``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from core.ledger.files import ExportFormat, copy_to_file
from core.ledger.records import RatingRecord, ledger_money, utc_now

if TYPE_CHECKING:  # DuckDB builds the frames; a process that only makes calls never loads pandas
    import pandas as pd

    from core.ledger.writer import Ledger

OutcomeSource = Literal["person", "judge", "eval", "import"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "outcome_id": pa.string(), "prompt": pa.string(), "prompt_hash": pa.string(),
    "kind": pa.string(), "model": pa.string(), "score": pa.float64(), "source": pa.string(),
    "cost_usd": pa.decimal128(18, 8), "input_tokens": pa.int64(), "output_tokens": pa.int64(),
    "latency_ms": pa.float64(), "dataset": pa.string(), "attempt_id": pa.string(),
    "created_at": pa.timestamp("us"),
}
_COLUMNS = tuple(_ARROW_TYPES)


def prompt_hash(text: str) -> str:
    """The sha256 hex digest of a prompt's text (what ``outcomes.prompt_hash`` holds)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_outcome_id(*parts: str) -> str:
    """A deterministic outcome id from its identifying parts, so a repeated import is a no-op."""
    return "o-" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


class OutcomeRecord(BaseModel):
    """One outcome: ``model`` scored ``score`` in [0, 1] on ``prompt`` (from ``source``).

    ``cost_usd`` and the token counts are None when unknown (never 0 for unknown).
    ``prompt_hash`` and ``outcome_id`` are filled in when not given.
    """

    model_config = ConfigDict(extra="forbid")

    outcome_id: str = ""
    prompt: str
    prompt_hash: str = ""
    kind: str = ""
    model: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)
    source: OutcomeSource
    cost_usd: Decimal | None = Field(default=None, ge=0)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0)
    dataset: str = ""
    attempt_id: str | None = None
    created_at: datetime = Field(default_factory=utc_now)

    def model_post_init(self, context: Any, /) -> None:
        """Fill the prompt hash and, when absent, a fresh outcome id."""
        if not self.prompt_hash:
            self.prompt_hash = prompt_hash(self.prompt)
        if not self.outcome_id:
            self.outcome_id = f"o-{uuid.uuid4().hex}"


def _outcomes_table(rows: Iterable[OutcomeRecord]) -> pa.Table:
    unique = {row.outcome_id: row for row in rows}
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    for row in unique.values():
        for name in _COLUMNS:
            columns[name].append(getattr(row, name))
    columns["cost_usd"] = [ledger_money(value) for value in columns["cost_usd"]]
    schema = pa.schema(list(_ARROW_TYPES.items()))
    return pa.table(columns, schema=schema)


def record_outcomes(ledger: "Ledger", rows: Iterable[OutcomeRecord]) -> int:
    """Append outcomes in one transaction; return how many were new (known ids are skipped)."""
    table = _outcomes_table(rows)
    if table.num_rows == 0:
        return 0

    def work(con: duckdb.DuckDBPyConnection) -> int:
        before = int(con.execute("SELECT count(*) FROM outcomes").fetchall()[0][0])
        con.register("outcome_batch", table)
        try:
            con.execute("INSERT OR IGNORE INTO outcomes BY NAME SELECT * FROM outcome_batch")
        finally:
            con.unregister("outcome_batch")
        return int(con.execute("SELECT count(*) FROM outcomes").fetchall()[0][0]) - before

    return ledger.transact(work)


class OutcomeFilter(BaseModel):
    """Which outcomes to read: each field narrows (None or empty = any)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = None
    model: str | None = None
    source: OutcomeSource | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        clauses, params = ["true"], []
        for column in ("dataset", "model", "source"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        return " AND ".join(clauses), params


def outcome_rows(
    ledger: "Ledger", flt: OutcomeFilter | None = None, limit: int = 100
) -> list[OutcomeRecord]:
    """The newest ``limit`` outcomes matching ``flt``, newest first."""
    where, params = (flt or OutcomeFilter()).where()
    sql = f"SELECT * FROM outcomes WHERE {where} ORDER BY created_at DESC, outcome_id LIMIT ?"

    def work(con: duckdb.DuckDBPyConnection) -> list[OutcomeRecord]:
        cursor = con.execute(sql, [*params, int(limit)])
        names = [d[0] for d in cursor.description]
        return [OutcomeRecord(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    return ledger.transact(work)


def outcomes_frame(ledger: "Ledger", flt: OutcomeFilter | None = None) -> pd.DataFrame:
    """Every matching outcome as a frame (prompt, prompt_hash, kind, model, score, cost_usd as
    float, tokens, dataset), oldest first: what the learned ranker trains on."""
    where, params = (flt or OutcomeFilter()).where()
    sql = f"""SELECT prompt, prompt_hash, kind, model, score, cost_usd::DOUBLE AS cost_usd,
                     input_tokens, output_tokens, dataset, source
              FROM outcomes WHERE {where} ORDER BY created_at, outcome_id"""
    return ledger.transact(lambda con: con.execute(sql, params).df())


class ModelOutcomes(BaseModel):
    """Per-model totals of the outcomes: how many, their mean score and mean known cost."""

    model: str
    count: int
    mean_score: float
    mean_cost_usd: Decimal | None


def outcome_summary(ledger: "Ledger", flt: OutcomeFilter | None = None) -> list[ModelOutcomes]:
    """Per-model count, mean score and mean cost (None when no cost is known), most first."""
    where, params = (flt or OutcomeFilter()).where()
    sql = f"""SELECT model, count(*), avg(score), avg(cost_usd)::DECIMAL(18, 8)
              FROM outcomes WHERE {where} GROUP BY model ORDER BY count(*) DESC, model"""
    rows = ledger.transact(lambda con: con.execute(sql, params).fetchall())
    return [ModelOutcomes(model=m, count=int(n), mean_score=float(s), mean_cost_usd=c)
            for m, n, s, c in rows]


def export_outcomes(
    ledger: "Ledger", path: str | Path, fmt: ExportFormat = "csv",
    flt: OutcomeFilter | None = None,
) -> int:
    """Write the matching outcomes (oldest first, every column) to ``path``; return the count."""
    where, params = (flt or OutcomeFilter()).where()
    select = f"SELECT * FROM outcomes WHERE {where} ORDER BY created_at, outcome_id"
    return copy_to_file(ledger.transact, select, params, path, fmt)


_RATING_OUTCOME = """
    INSERT OR REPLACE INTO outcomes
    SELECT ?, p.prompt, sha256(p.prompt), p.kind, a.model, ?, ?,
           a.cost_usd, a.input_tokens, a.output_tokens, a.latency_ms, 'ratings', a.attempt_id, ?
    FROM attempts a,
         LATERAL (SELECT COALESCE(NULLIF((SELECT c.prompt FROM comparisons c
                                          WHERE c.comparison_id = a.comparison_id), ''),
                                  NULLIF((SELECT r.demand FROM runs r WHERE r.run_id = a.run_id),
                                         '')) AS prompt,
                         COALESCE((SELECT t.kind FROM tasks t WHERE t.run_id = a.run_id
                                   AND t.task_id = a.task_id), '') AS kind) p
    WHERE a.attempt_id = ? AND p.prompt IS NOT NULL
"""


def rating_score(rating: int | None, best: bool) -> float | None:
    """A rating as a score in [0, 1]: 1–5 stars → 0, .25 … 1; "best" alone → 1; else None."""
    if rating is not None:
        return (rating - 1) / 4
    return 1.0 if best else None


def rating_outcome(con: duckdb.DuckDBPyConnection, rating: RatingRecord) -> None:
    """Write the outcome a rating implies (``source`` person|judge, dataset ``ratings``).

    One outcome per answer and rater, as ratings are (m006): rating again replaces it, and a
    rating that no longer carries a score removes it. Nothing is written when the attempt (or
    its prompt: the comparison's prompt, else the run's demand) is not in the ledger.
    """
    outcome_id = stable_outcome_id("rating", rating.attempt_id, rating.source, rating.rater)
    score = rating_score(rating.rating, rating.best)
    if score is None:
        con.execute("DELETE FROM outcomes WHERE outcome_id = ?", [outcome_id])
        return
    con.execute(_RATING_OUTCOME, [outcome_id, score, rating.source, rating.created_at,
                                  rating.attempt_id])
