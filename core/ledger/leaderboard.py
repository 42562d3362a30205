"""The leaderboard: one row per catalog model, its price and limits beside what the ledger saw.

Measured figures come from the attempts of one mode at a time (live and sandbox are never
mixed): p50/p95 latency, median time to first token and output tokens per second of answered
attempts, the failure rate of all attempts, and the cost per successful answer (everything the
model was paid, failed and rejected attempts included, over its answers). Quality comes from
the outcomes (ratings, judge, evals, imported tables), per source with its count, so no one
reads a score off three samples; an outcome tied to an attempt of the other mode is left out.
Answers served by the response cache made no call and are left out of the measured figures.
``task_kind`` narrows both to one kind of task (a run task's kind, or an outcome's kind).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from core.catalog import Catalog, ModelSpec
from core.ledger.writer import Ledger
from core.types import Mode

QualitySource = Literal["person", "judge", "eval", "import"]
SOURCES: tuple[QualitySource, ...] = ("person", "judge", "eval", "import")


class Quality(BaseModel):
    """The mean outcome score (0–1) of one source, and how many outcomes it stands on."""

    model_config = ConfigDict(extra="forbid")

    score: float
    count: int


class LeaderboardRow(BaseModel):
    """One catalog model: its catalog facts, measured figures in ``mode``, quality by source."""

    model_config = ConfigDict(extra="forbid")

    model: str
    provider: str
    tier: str
    mode: Mode
    input_per_mtok: Decimal | None
    output_per_mtok: Decimal | None
    context_window: int
    capabilities: list[str]
    attempts: int = 0
    answers: int = 0
    failure_rate: float | None = None
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    ttft_p50_ms: float | None = None
    output_tokens_per_s: float | None = None
    cost_per_success_usd: Decimal | None = None
    quality: float | None = None
    quality_count: int = 0
    quality_by_source: dict[str, Quality] = Field(default_factory=dict)
    pareto: bool = False

    @property
    def unpriced(self) -> bool:
        """True when the catalog knows no price for this model."""
        return self.input_per_mtok is None


_KIND = """(? IS NULL
    OR a.attempt_id IN (SELECT attempt_id FROM outcomes WHERE kind = ? AND attempt_id IS NOT NULL)
    OR EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = a.run_id AND t.task_id = a.task_id
               AND t.kind = ?))"""

_PERFORMANCE = f"""
    SELECT a.model, a.mode,
           count(*) AS attempts,
           count_if(a.status = 'ok') AS answers,
           count_if(a.status = 'error') AS failures,
           quantile_cont(a.latency_ms, 0.5) FILTER (WHERE a.status = 'ok') AS p50,
           quantile_cont(a.latency_ms, 0.95) FILTER (WHERE a.status = 'ok') AS p95,
           quantile_cont(a.ttft_ms, 0.5) FILTER (WHERE a.status = 'ok') AS ttft,
           quantile_cont(a.output_tokens * 1000.0 / (a.latency_ms - coalesce(a.ttft_ms, 0)), 0.5)
               FILTER (WHERE a.status = 'ok' AND a.output_tokens > 0
                       AND a.latency_ms > coalesce(a.ttft_ms, 0)) AS tps,
           sum(a.cost_usd) AS spend,
           count_if(a.status = 'ok' AND a.cost_usd IS NULL) AS unpriced_answers
    FROM attempts a
    WHERE a.status <> 'cancelled' AND NOT a.cached AND {_KIND}
    GROUP BY a.model, a.mode
"""

_QUALITY = """
    SELECT o.model, o.source, a.mode, count(*) AS n, avg(o.score) AS score
    FROM outcomes o LEFT JOIN attempts a USING (attempt_id)
    WHERE (? IS NULL OR o.kind = ?)
    GROUP BY o.model, o.source, a.mode
"""


def _fetch(ledger: Ledger, task_kind: str | None) -> tuple[list[tuple[Any, ...]],
                                                           list[tuple[Any, ...]]]:
    def work(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[Any, ...]],
                                                      list[tuple[Any, ...]]]:
        perf = con.execute(_PERFORMANCE, [task_kind] * 3).fetchall()
        quality = con.execute(_QUALITY, [task_kind] * 2).fetchall()
        return perf, quality

    return ledger.transact(work)


def _measured(row: LeaderboardRow, perf: tuple[Any, ...]) -> LeaderboardRow:
    _, _, attempts, answers, failures, p50, p95, ttft, tps, spend, unpriced = perf
    cost = None
    if answers and not unpriced and spend is not None and not row.unpriced:
        cost = Decimal(spend) / answers
    return row.model_copy(update={
        "attempts": int(attempts), "answers": int(answers),
        "failure_rate": failures / attempts if attempts else None,
        "p50_latency_ms": p50, "p95_latency_ms": p95, "ttft_p50_ms": ttft,
        "output_tokens_per_s": tps, "cost_per_success_usd": cost})


def _with_quality(row: LeaderboardRow, groups: list[tuple[Any, ...]]) -> LeaderboardRow:
    """Fold the outcome groups of this model (its mode, or tied to no attempt) into the row."""
    totals: dict[str, list[float]] = {}
    for _, source, mode, count, score in groups:
        if mode is not None and mode != row.mode:
            continue
        total = totals.setdefault(source, [0.0, 0.0])
        total[0] += score * count
        total[1] += count
    by_source = {s: Quality(score=t[0] / t[1], count=int(t[1]))
                 for s in SOURCES if (t := totals.get(s)) and t[1]}
    count = sum(q.count for q in by_source.values())
    mean = sum(q.score * q.count for q in by_source.values()) / count if count else None
    return row.model_copy(update={"quality": mean, "quality_count": count,
                                  "quality_by_source": by_source})


def _catalog_row(spec: ModelSpec, mode: Mode) -> LeaderboardRow:
    price = spec.price
    return LeaderboardRow(
        model=spec.id, provider=spec.provider, tier=spec.tier, mode=mode,
        input_per_mtok=price.input_per_mtok if price else None,
        output_per_mtok=price.output_per_mtok if price else None,
        context_window=spec.context_window, capabilities=sorted(spec.capabilities))


def pareto_frontier(rows: Sequence[LeaderboardRow]) -> set[str]:
    """The models no other model beats on both cost per success (lower) and quality (higher)."""
    scored = [r for r in rows if r.cost_per_success_usd is not None and r.quality is not None]
    frontier = set()
    for row in scored:
        assert row.cost_per_success_usd is not None and row.quality is not None
        dominated = any(
            o.cost_per_success_usd is not None and o.quality is not None
            and o.cost_per_success_usd <= row.cost_per_success_usd and o.quality >= row.quality
            and (o.cost_per_success_usd < row.cost_per_success_usd or o.quality > row.quality)
            for o in scored)
        if not dominated:
            frontier.add(row.model)
    return frontier


def leaderboard(catalog: Catalog, mode_of: Callable[[str], Mode], *,
                ledger: Ledger | None = None, task_kind: str | None = None,
                mode: Mode | None = None) -> list[LeaderboardRow]:
    """One row per catalog model, in catalog order.

    Each row's figures are those of ``mode``, or else of the mode its provider is called in
    now (``mode_of(provider)``, e.g. ``Gateway.mode``): what a call made now would see.
    """
    perf, quality = _fetch(ledger or Ledger(), task_kind or None)
    perf_by = {(p[0], p[1]): p for p in perf}
    rows = []
    for spec in catalog.models.values():
        row = _catalog_row(spec, mode or mode_of(spec.provider))
        if (measured := perf_by.get((spec.id, row.mode))) is not None:
            row = _measured(row, measured)
        rows.append(_with_quality(row, [q for q in quality if q[0] == spec.id]))
    frontier = pareto_frontier(rows)
    return [r.model_copy(update={"pareto": r.model in frontier}) for r in rows]


def leaderboard_frame(rows: Sequence[LeaderboardRow]) -> pd.DataFrame:
    """The rows as a flat frame for tables and charts (money as float, one column per source)."""
    records = []
    for row in rows:
        flat = row.model_dump(exclude={"quality_by_source"})
        for money in ("input_per_mtok", "output_per_mtok", "cost_per_success_usd"):
            flat[money] = None if flat[money] is None else float(flat[money])
        flat["capabilities"] = ", ".join(row.capabilities)
        for source in SOURCES:
            q = row.quality_by_source.get(source)
            flat[f"{source}_score"] = q.score if q else None
            flat[f"{source}_count"] = q.count if q else 0
        records.append(flat)
    return pd.DataFrame.from_records(records)


def task_kinds(ledger: Ledger | None = None) -> list[str]:
    """Every task kind the ledger knows (of run tasks and of outcomes), sorted."""
    sql = """SELECT kind FROM tasks WHERE kind <> '' UNION
             SELECT kind FROM outcomes WHERE kind <> '' ORDER BY kind"""
    return [row[0] for row in (ledger or Ledger()).transact(lambda con: con.execute(sql)
                                                            .fetchall())]
