"""History queries and export over a small dataset whose every figure is known."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pytest
from pydantic import ValidationError

from core.catalog import Price
from core.errors import ConfigError
from core.ledger import (
    HistoryFilter,
    Ledger,
    attempts_page,
    cost_per_run,
    export_attempts,
    grouped_history,
    headline,
    latency_by_model,
    model_ratings,
    provider_share,
    spend_by_provider_day,
    tokens_over_time,
)
from core.types import AttemptRecord

DAY1, DAY2 = date(2025, 3, 1), date(2025, 3, 2)


def at(day: date, hour: int, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()


def attempt(attempt_id, provider, model, tier, mode, status, run_id, cost, latency, tokens,
            started, ttft=None):
    input_tokens, cached, output_tokens = tokens
    return AttemptRecord(
        attempt_id=attempt_id, run_id=run_id, provider=provider, model=model, tier=tier,
        mode=mode, status=status, http_status=429 if status == "error" else 200,
        cost_usd=None if cost is None else Decimal(cost), latency_ms=latency, ttft_ms=ttft,
        input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=output_tokens,
        started_at=started, ended_at=started + latency / 1000,
    )


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "history.duckdb")
    ledger.start_run("r1", "first demand", "sandbox")
    ledger.record_attempts([
        attempt("a1", "openai", "openai:m1", "economy", "sandbox", "ok", "r1", "0.10", 100,
                (1000, 200, 500), at(DAY1, 10), ttft=10),
        attempt("a2", "openai", "openai:m1", "economy", "sandbox", "error", "r1", None, 300,
                (0, 0, 0), at(DAY1, 10, 1)),
        attempt("a3", "anthropic", "anthropic:m2", "premium", "live", "ok", "r2", "0.30", 200,
                (2000, 0, 1000), at(DAY2, 9), ttft=20),
        attempt("a4", "anthropic", "anthropic:m2", "premium", "live", "ok", "", None, 400,
                (100, 0, 100), at(DAY2, 10)),
        attempt("a5", "openai", "openai:m1", "economy", "sandbox", "ok", "r2", "0.05", 600,
                (500, 0, 250), at(DAY2, 11)),
    ])
    return ledger


def test_headline_figures_and_saving_against_a_baseline(ledger):
    baseline = Price(input_per_mtok=Decimal(100), output_per_mtok=Decimal(400),
                     cached_input_per_mtok=Decimal(50))
    head = headline(ledger=ledger, baseline=baseline)
    assert (head.calls, head.failures, head.failure_rate) == (5, 1, 0.2)
    assert head.spend_usd == Decimal("0.45")
    assert head.unpriced_calls == 1
    assert (head.input_tokens, head.output_tokens, head.cached_input_tokens) == (3600, 1850, 200)
    assert head.p50_latency_ms == 300.0  # successful attempts only: 100, 200, 400, 600
    assert head.p95_latency_ms == pytest.approx(570.0)
    # priced attempts a1, a3, a5: 3300 uncached, 200 cached, 1750 output tokens
    assert head.baseline_cost_usd == Decimal("1.04")
    assert head.saving_usd == Decimal("0.59")


def test_headline_respects_every_filter(ledger):
    assert headline(HistoryFilter(providers=["openai"], since=DAY2), ledger=ledger).calls == 1
    assert headline(HistoryFilter(until=DAY1), ledger=ledger).spend_usd == Decimal("0.10")
    assert headline(HistoryFilter(mode="live"), ledger=ledger).calls == 2
    assert headline(HistoryFilter(tiers=["premium"], models=["anthropic:m2"]),
                    ledger=ledger).spend_usd == Decimal("0.30")
    assert headline(HistoryFilter(run_id="r1"), ledger=ledger).failures == 1


def test_headline_of_an_empty_ledger(tmp_path):
    head = headline(ledger=Ledger(tmp_path / "empty.duckdb"))
    assert (head.calls, head.failure_rate, head.spend_usd) == (0, 0.0, Decimal(0))
    assert head.p50_latency_ms is None and head.saving_usd is None


def test_spend_by_provider_day_and_share(ledger):
    spend = spend_by_provider_day(ledger=ledger)
    assert spend[["provider", "calls", "unpriced_calls"]].values.tolist() == [
        ["openai", 2, 0], ["anthropic", 2, 1], ["openai", 1, 0]]
    assert [d.date() if hasattr(d, "date") else d for d in spend["day"]] == [DAY1, DAY2, DAY2]
    assert spend["spend_usd"].tolist() == pytest.approx([0.10, 0.30, 0.05])
    share = provider_share(ledger=ledger)
    assert share[["provider", "calls"]].values.tolist() == [["openai", 3], ["anthropic", 2]]
    assert share["share"].tolist() == pytest.approx([0.6, 0.4])


def test_latency_by_model_counts_successes_only(ledger):
    latency = latency_by_model(ledger=ledger)
    assert latency[["model", "calls"]].values.tolist() == [["anthropic:m2", 2], ["openai:m1", 2]]
    assert latency["p50_ms"].tolist() == pytest.approx([300.0, 350.0])
    assert latency["ttft_p50_ms"].tolist() == pytest.approx([20.0, 10.0])


def test_tokens_over_time(ledger):
    tokens = tokens_over_time(ledger=ledger)
    assert tokens[["input_tokens", "output_tokens", "cached_input_tokens"]].values.tolist() == [
        [1000, 500, 200], [2600, 1350, 0]]
    with pytest.raises(ConfigError):
        tokens_over_time(ledger=ledger, bucket="fortnight")  # type: ignore[arg-type]


def test_cost_per_run_joins_known_runs(ledger):
    runs = cost_per_run(ledger=ledger)
    assert runs["run_id"].tolist() == ["r2", "r1"]
    assert runs[["calls", "failures"]].values.tolist() == [[2, 0], [2, 1]]
    assert runs["spend_usd"].tolist() == pytest.approx([0.35, 0.10])
    assert runs["demand"].tolist()[1] == "first demand"
    assert cost_per_run(ledger=ledger, limit=1)["run_id"].tolist() == ["r2"]


def test_attempts_pages_newest_first(ledger):
    pages = [attempts_page(ledger=ledger, limit=2, offset=offset)["attempt_id"].tolist()
             for offset in (0, 2, 4)]
    assert pages == [["a5", "a4"], ["a3", "a2"], ["a1"]]
    only_errors = attempts_page(HistoryFilter(run_id="r1"), ledger=ledger, limit=10)
    assert only_errors["attempt_id"].tolist() == ["a2", "a1"]


def test_grouped_history(ledger):
    by_model = grouped_history(ledger=ledger, by="model")
    assert by_model[["model", "calls", "failures", "unpriced_calls"]].values.tolist() == [
        ["anthropic:m2", 2, 0, 1], ["openai:m1", 3, 1, 0]]
    assert by_model["spend_usd"].tolist() == pytest.approx([0.30, 0.15])
    by_day = grouped_history(ledger=ledger, by="day")
    assert by_day["calls"].tolist() == [2, 3]
    with pytest.raises(ConfigError):
        grouped_history(ledger=ledger, by="colour")  # type: ignore[arg-type]


def test_model_ratings(ledger):
    ledger.rate("a1", 5)
    ledger.rate("a5", 3, best=True)
    ledger.rate("a3", 4, source="judge")
    ratings = model_ratings(ledger=ledger)
    assert ratings[["model", "ratings", "best_count"]].values.tolist() == [
        ["openai:m1", 2, 1], ["anthropic:m2", 1, 0]]
    assert ratings["mean_rating"].tolist() == pytest.approx([4.0, 4.0])


def test_export_csv_and_parquet(ledger, tmp_path):
    only_openai = HistoryFilter(providers=["openai"])
    target = tmp_path / "out dir" / "it's.csv"
    assert export_attempts(only_openai, target, "csv", ledger=ledger) == 3
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["attempt_id"] for r in rows] == ["a1", "a2", "a5"]
    assert (rows[0]["cost_usd"], rows[1]["cost_usd"]) == ("0.10000000", "")
    parquet = tmp_path / "all.parquet"
    assert export_attempts(None, parquet, "parquet", ledger=ledger) == 5
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchall()[0][0]
    assert count == 5
    with pytest.raises(ConfigError):
        export_attempts(None, tmp_path / "x.xlsx", "xlsx", ledger=ledger)  # type: ignore[arg-type]


def test_filter_validation():
    with pytest.raises(ValidationError):
        HistoryFilter(since=DAY2, until=DAY1)
    with pytest.raises(ValidationError):
        HistoryFilter(provider=["openai"])  # type: ignore[call-arg]
