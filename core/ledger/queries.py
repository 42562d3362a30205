"""History queries for the CLI and the dashboard: every aggregation runs in DuckDB SQL.

Each function takes a ``HistoryFilter`` (None = everything) and the ``Ledger`` to read (None =
the default file), and returns a pandas DataFrame, or a small pydantic model for the headline.
Money in DataFrames is float USD (for charts and tables); the headline keeps ``Decimal``.
Latency figures count successful attempts only, so a timeout does not pass for a slow answer.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.catalog import Price
from core.errors import ConfigError
from core.ledger.writer import Ledger
from core.types import Mode

if TYPE_CHECKING:  # DuckDB builds the frames; a process that only makes calls never loads pandas
    import pandas as pd

MTOK = Decimal(1_000_000)
GroupBy = Literal["provider", "model", "tier", "day"]
Bucket = Literal["hour", "day", "week", "month"]


class HistoryFilter(BaseModel):
    """Which attempts a history query looks at; every field left empty means "all".

    ``since``/``until`` are UTC dates, both inclusive.
    """

    model_config = ConfigDict(extra="forbid")

    since: date | None = None
    until: date | None = None
    providers: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list)
    run_id: str | None = None
    mode: Mode | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> "HistoryFilter":
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition on ``attempts`` columns and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for condition, value in (("day >= ?", self.since), ("day <= ?", self.until),
                                 ("run_id = ?", self.run_id), ("mode = ?", self.mode)):
            if value is not None:
                clauses.append(condition)
                params.append(value)
        for column, values in (("provider", self.providers), ("model", self.models),
                               ("tier", self.tiers)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        return " AND ".join(clauses) or "TRUE", params


class Headline(BaseModel):
    """The top-line figures of a period.

    ``spend_usd`` sums priced attempts; ``unpriced_calls`` counts successful ones with no known
    price (their cost is unknown, not zero). ``baseline_cost_usd`` is what the tokens of the
    priced attempts would have cost on the baseline model, and ``saving_usd`` the difference.
    """

    model_config = ConfigDict(extra="forbid")

    calls: int
    failures: int
    failure_rate: float
    spend_usd: Decimal
    unpriced_calls: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    baseline_cost_usd: Decimal | None = None
    saving_usd: Decimal | None = None


def _frame(ledger: Ledger | None, sql: str, flt: HistoryFilter | None,
           extra: list[Any] | None = None) -> pd.DataFrame:
    """Run ``sql`` with ``{where}`` filled from the filter; return the result as a DataFrame."""
    where, params = (flt or HistoryFilter()).where()
    statement = sql.format(where=where)

    def work(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return con.execute(statement, params + (extra or [])).df()

    return (ledger or Ledger()).transact(work)


_HEADLINE = """
    SELECT count(*) AS calls,
           coalesce(count_if(status = 'error'), 0) AS failures,
           coalesce(sum(cost_usd), 0) AS spend_usd,
           coalesce(count_if(status = 'ok' AND cost_usd IS NULL), 0) AS unpriced_calls,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           coalesce(sum(cached_input_tokens), 0) AS cached_input_tokens,
           quantile_cont(latency_ms, 0.5) FILTER (WHERE status = 'ok') AS p50_latency_ms,
           quantile_cont(latency_ms, 0.95) FILTER (WHERE status = 'ok') AS p95_latency_ms,
           coalesce(sum(input_tokens - cached_input_tokens) FILTER (WHERE cost_usd IS NOT NULL),
                    0) AS priced_uncached_tokens,
           coalesce(sum(cached_input_tokens) FILTER (WHERE cost_usd IS NOT NULL), 0)
               AS priced_cached_tokens,
           coalesce(sum(output_tokens) FILTER (WHERE cost_usd IS NOT NULL), 0)
               AS priced_output_tokens
    FROM attempts WHERE {where}
"""


def baseline_cost(price: Price, uncached: int, cached: int, output: int) -> Decimal:
    """What these token counts cost at ``price`` (cached input at its own rate, if it has one)."""
    cached_rate = price.cached_input_per_mtok
    if cached_rate is None:
        cached_rate = price.input_per_mtok
    total = uncached * price.input_per_mtok + cached * cached_rate + output * price.output_per_mtok
    return total / MTOK


def headline(flt: HistoryFilter | None = None, *, ledger: Ledger | None = None,
             baseline: Price | None = None) -> Headline:
    """Spend, calls, failures, latency quantiles and (given a baseline price) the saving."""
    where, params = (flt or HistoryFilter()).where()

    def work(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        cursor = con.execute(_HEADLINE.format(where=where), params)
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchall()[0], strict=True))

    row = (ledger or Ledger()).transact(work)
    tokens = (row.pop("priced_uncached_tokens"), row.pop("priced_cached_tokens"),
              row.pop("priced_output_tokens"))
    failure_rate = row["failures"] / row["calls"] if row["calls"] else 0.0
    if baseline is not None:
        row["baseline_cost_usd"] = baseline_cost(baseline, *(int(t) for t in tokens))
        row["saving_usd"] = row["baseline_cost_usd"] - row["spend_usd"]
    return Headline(failure_rate=failure_rate, **row)


def spend_by_provider_day(flt: HistoryFilter | None = None, *,
                          ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns day, provider, spend_usd, calls, unpriced_calls; by day then provider."""
    return _frame(ledger, """
        SELECT day, provider, coalesce(sum(cost_usd), 0)::DOUBLE AS spend_usd,
               count(*) AS calls, count_if(status = 'ok' AND cost_usd IS NULL) AS unpriced_calls
        FROM attempts WHERE {where} GROUP BY day, provider ORDER BY day, provider""", flt)


def provider_share(flt: HistoryFilter | None = None, *,
                   ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns provider, calls, share (0–1 of all calls), spend_usd; most calls first."""
    return _frame(ledger, """
        SELECT provider, count(*) AS calls,
               count(*) / sum(count(*)) OVER () AS share,
               coalesce(sum(cost_usd), 0)::DOUBLE AS spend_usd
        FROM attempts WHERE {where} GROUP BY provider ORDER BY calls DESC, provider""", flt)


def latency_by_model(flt: HistoryFilter | None = None, *,
                     ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns model, calls, p50/p90/p95/p99_ms, mean_ms, ttft_p50_ms over successful attempts."""
    return _frame(ledger, """
        SELECT model, count(*) AS calls,
               quantile_cont(latency_ms, 0.5) AS p50_ms,
               quantile_cont(latency_ms, 0.9) AS p90_ms,
               quantile_cont(latency_ms, 0.95) AS p95_ms,
               quantile_cont(latency_ms, 0.99) AS p99_ms,
               avg(latency_ms) AS mean_ms,
               quantile_cont(ttft_ms, 0.5) AS ttft_p50_ms
        FROM attempts WHERE status = 'ok' AND {where}
        GROUP BY model ORDER BY p50_ms, model""", flt)


def tokens_over_time(flt: HistoryFilter | None = None, *, bucket: Bucket = "day",
                     ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns period (start of each ``bucket``), input/output/cached_input/reasoning_tokens."""
    if bucket not in ("hour", "day", "week", "month"):
        raise ConfigError(f"bucket must be hour, day, week or month, not {bucket!r}")
    return _frame(ledger, f"""
        SELECT date_trunc('{bucket}', started_at) AS period,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               sum(cached_input_tokens) AS cached_input_tokens,
               sum(reasoning_tokens) AS reasoning_tokens
        FROM attempts WHERE {{where}} GROUP BY period ORDER BY period""", flt)


def cost_per_run(flt: HistoryFilter | None = None, *, limit: int = 50,
                 ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns run_id, demand, status, created_at, calls, failures, spend_usd, unpriced_calls,
    last_at; the runs with the latest attempts first (attempts outside runs are left out)."""
    return _frame(ledger, """
        WITH per_run AS (
            SELECT run_id, count(*) AS calls, count_if(status = 'error') AS failures,
                   coalesce(sum(cost_usd), 0)::DOUBLE AS spend_usd,
                   count_if(status = 'ok' AND cost_usd IS NULL) AS unpriced_calls,
                   max(ended_at) AS last_at
            FROM attempts WHERE run_id <> '' AND {where} GROUP BY run_id)
        SELECT p.run_id, r.demand, r.status, r.created_at, p.calls, p.failures, p.spend_usd,
               p.unpriced_calls, p.last_at
        FROM per_run p LEFT JOIN runs r USING (run_id)
        ORDER BY p.last_at DESC, p.run_id LIMIT ?""", flt, [limit])


def attempts_page(flt: HistoryFilter | None = None, *, limit: int = 50, offset: int = 0,
                  ledger: Ledger | None = None) -> pd.DataFrame:
    """One page of attempts (every column), newest first.

    The page's row ids are found first from the two ordering columns alone, and only then are
    the page's whole rows read: sorting a million full rows for 50 of them is what this avoids.
    """
    return _frame(ledger, """
        WITH page AS (
            SELECT rowid AS page_row FROM attempts WHERE {where}
            ORDER BY started_at DESC, attempt_id LIMIT ? OFFSET ?)
        SELECT * FROM attempts WHERE rowid IN (SELECT page_row FROM page)
        ORDER BY started_at DESC, attempt_id""", flt, [limit, offset])


def grouped_history(flt: HistoryFilter | None = None, *, by: GroupBy = "provider",
                    ledger: Ledger | None = None) -> pd.DataFrame:
    """Per provider, model, tier or day: calls, failures, spend_usd, unpriced_calls, tokens and
    p50_latency_ms (the first column is named after ``by``)."""
    if by not in ("provider", "model", "tier", "day"):
        raise ConfigError(f"group by provider, model, tier or day, not {by!r}")
    order = "day" if by == "day" else f"spend_usd DESC, calls DESC, {by}"
    return _frame(ledger, f"""
        SELECT {by}, count(*) AS calls, count_if(status = 'error') AS failures,
               coalesce(sum(cost_usd), 0)::DOUBLE AS spend_usd,
               count_if(status = 'ok' AND cost_usd IS NULL) AS unpriced_calls,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               quantile_cont(latency_ms, 0.5) FILTER (WHERE status = 'ok') AS p50_latency_ms
        FROM attempts WHERE {{where}} GROUP BY {by} ORDER BY {order}""", flt)


def model_ratings(flt: HistoryFilter | None = None, *,
                  ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns model, ratings, mean_rating, best_count over rated attempts; best rated first."""
    return _frame(ledger, """
        WITH chosen AS (SELECT attempt_id, model FROM attempts WHERE {where})
        SELECT c.model, count(r.rating) AS ratings, avg(r.rating) AS mean_rating,
               count_if(r.best) AS best_count
        FROM ratings r JOIN chosen c USING (attempt_id)
        GROUP BY c.model ORDER BY mean_rating DESC NULLS LAST, best_count DESC, c.model""", flt)


def runs_list(statuses: list[str] | None = None, search: str = "", *, limit: int = 50,
              ledger: Ledger | None = None) -> pd.DataFrame:
    """Recent runs, newest first: run_id, demand, status, created_at, makespan_s, cost_usd,
    calls, failed_attempts, providers (comma-separated). ``statuses`` keeps those statuses
    (empty = all); ``search`` keeps demands or run ids containing it (case-insensitive)."""
    chosen = list(statuses or [])
    status_clause = f"r.status IN ({', '.join('?' * len(chosen))})" if chosen else "TRUE"
    sql = f"""
        WITH chosen AS (
            SELECT * FROM runs r
            WHERE {status_clause} AND (? = '' OR r.demand ILIKE ? OR r.run_id ILIKE ?)
            ORDER BY r.created_at DESC, r.run_id LIMIT ?),
        spent AS (
            SELECT a.run_id, count(*) AS calls, count_if(a.status = 'error') AS failed_attempts,
                   sum(a.cost_usd)::DOUBLE AS cost_usd,
                   string_agg(DISTINCT a.provider, ', ' ORDER BY a.provider) AS providers
            FROM attempts a WHERE a.run_id IN (SELECT run_id FROM chosen) GROUP BY a.run_id)
        SELECT c.run_id, c.demand, c.status, c.created_at,
               coalesce(TRY_CAST(json_extract_string(c.summary_json, '$.makespan_s') AS DOUBLE),
                        epoch(c.finished_at) - epoch(c.created_at)) AS makespan_s,
               coalesce(s.cost_usd, 0.0) AS cost_usd, coalesce(s.calls, 0) AS calls,
               coalesce(s.failed_attempts, 0) AS failed_attempts,
               coalesce(s.providers, '') AS providers
        FROM chosen c LEFT JOIN spent s USING (run_id)
        ORDER BY c.created_at DESC, c.run_id"""
    pattern = f"%{search.strip()}%"
    params: list[Any] = [*chosen, search.strip(), pattern, pattern, limit]

    def work(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return con.execute(sql, params).df()

    return (ledger or Ledger()).transact(work)


def failures_by_provider_day(flt: HistoryFilter | None = None, *,
                             ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns day, provider, calls, failures, failure_rate (0–1); by day then provider."""
    return _frame(ledger, """
        SELECT day, provider, count(*) AS calls, count_if(status = 'error') AS failures,
               count_if(status = 'error') / count(*) AS failure_rate
        FROM attempts WHERE {where} GROUP BY day, provider ORDER BY day, provider""", flt)


def error_classes(flt: HistoryFilter | None = None, *,
                  ledger: Ledger | None = None) -> pd.DataFrame:
    """Columns error_class, provider, failures over failed attempts; most frequent first."""
    return _frame(ledger, """
        SELECT error_class, provider, count(*) AS failures
        FROM attempts WHERE status = 'error' AND {where}
        GROUP BY error_class, provider ORDER BY failures DESC, error_class, provider""", flt)


def history_frames(flt: HistoryFilter | None = None, *,
                   ledger: Ledger | None = None) -> dict[str, pd.DataFrame]:
    """Every frame the History page charts, read in one opening of the ledger (each query's
    own call opens and closes the file): spend, share, latency, tokens, runs (the latest 30),
    failure_rate and error_classes, each as its query function returns it."""
    shared = _SharedLedger(ledger or Ledger())
    names = {"spend": spend_by_provider_day, "share": provider_share,
             "latency": latency_by_model, "tokens": tokens_over_time,
             "failure_rate": failures_by_provider_day, "error_classes": error_classes}

    def work(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
        shared.con = con
        frames = {key: query(flt, ledger=shared)  # type: ignore[arg-type]
                  for key, query in names.items()}
        frames["runs"] = cost_per_run(flt, limit=30, ledger=shared)  # type: ignore[arg-type]
        return frames

    return shared.ledger.transact(work)


class _SharedLedger:
    """A stand-in ``Ledger`` whose ``transact`` runs on one already open connection."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.con: duckdb.DuckDBPyConnection | None = None

    def transact(self, work: Any) -> Any:
        """Run ``work`` on the shared connection."""
        return work(self.con)


def ledger_version(*, ledger: Ledger | None = None) -> tuple[int, str, int, int]:
    """A cheap fingerprint of what History shows: attempts (count, latest end), runs and
    ratings counts. It changes whenever a call, a run or a rating is recorded, so a cached
    History draw is reused only while the ledger is unchanged."""
    def work(con: duckdb.DuckDBPyConnection) -> tuple[int, str, int, int]:
        attempts, last = con.execute(
            "SELECT count(*), max(ended_at) FROM attempts").fetchall()[0]
        runs = con.execute("SELECT count(*) FROM runs").fetchall()[0][0]
        statuses = con.execute(
            "SELECT count(*) FROM runs WHERE status = 'running'").fetchall()[0][0]
        return int(attempts), str(last), int(runs), int(statuses)

    return (ledger or Ledger()).transact(work)
