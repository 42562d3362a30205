"""The leaderboard query: catalog facts beside measured figures and quality, mode by mode."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from core.ledger import Ledger
from core.ledger.leaderboard import LeaderboardRow, leaderboard, leaderboard_frame, pareto_frontier
from core.ledger.outcomes import OutcomeRecord, record_outcomes
from core.ledger.records import TaskRow
from core.types import AttemptRecord

MINI, HAIKU, FLASH = "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash"


def _attempt(model: str, *, status: str = "ok", latency: float = 1000.0, ttft: float | None = 200,
             out: int = 80, cost: str | None = "0.001", mode: str = "sandbox",
             run_id: str = "", task_id: str = "") -> AttemptRecord:
    provider = model.split(":")[0]
    now = time.time()
    return AttemptRecord(
        attempt_id=uuid.uuid4().hex, provider=provider, model=model, mode=mode, status=status,
        run_id=run_id, task_id=task_id,
        error_class="ServerError" if status == "error" else "", input_tokens=10,
        output_tokens=out if status == "ok" else 0, latency_ms=latency,
        ttft_ms=ttft if status == "ok" else None,
        cost_usd=(Decimal(cost) if cost is not None else None) if status == "ok" else None,
        started_at=now - latency / 1000, ended_at=now)


def _outcome(model: str, score: float, source: str, attempt: AttemptRecord | None = None,
             kind: str = "") -> OutcomeRecord:
    return OutcomeRecord(prompt="p", model=model, score=score, source=source, kind=kind,
                         attempt_id=attempt.attempt_id if attempt else None)


def _rows(ledger: Ledger, catalog, **options) -> dict[str, LeaderboardRow]:
    return {r.model: r for r in leaderboard(catalog, lambda p: "sandbox", ledger=ledger,
                                            **options)}


def test_every_catalog_model_has_a_row_with_its_catalog_facts(tmp_path, catalog):
    rows = _rows(Ledger(tmp_path / "l.duckdb"), catalog)
    assert list(rows) == list(catalog.models)
    for model_id, row in rows.items():
        spec = catalog.model(model_id)
        assert row.context_window == spec.context_window
        assert set(row.capabilities) == set(spec.capabilities)
        if spec.price is None:
            assert row.input_per_mtok is None and row.unpriced
        else:
            assert (row.input_per_mtok, row.output_per_mtok) == (spec.price.input_per_mtok,
                                                                 spec.price.output_per_mtok)
        assert row.attempts == 0 and row.p50_latency_ms is None and row.quality is None


def test_measured_figures_come_from_the_attempts_of_one_mode(tmp_path, catalog):
    ledger = Ledger(tmp_path / "l.duckdb")
    answered = [_attempt(MINI, latency=lat, ttft=100, out=90) for lat in (400, 600, 1000, 2000)]
    failed = [_attempt(MINI, status="error", latency=50)]
    live = [_attempt(MINI, latency=9000, mode="live", cost="0.5")]
    ledger.record_attempts([*answered, *failed, *live])
    row = _rows(ledger, catalog)[MINI]
    assert (row.attempts, row.answers, row.mode) == (5, 4, "sandbox")
    assert row.failure_rate == pytest.approx(0.2)
    assert row.p50_latency_ms == pytest.approx(800)
    assert row.p95_latency_ms == pytest.approx(1000 + 0.85 * 1000)
    assert row.ttft_p50_ms == pytest.approx(100)
    # 90 tokens over (latency - ttft): 300, 500, 900, 1900 ms → median of 300, 180, 100, 47.4
    assert row.output_tokens_per_s == pytest.approx((180 + 100) / 2)
    assert row.cost_per_success_usd == Decimal("0.004") / 4
    live_row = _rows(ledger, catalog, mode="live")[MINI]
    assert (live_row.attempts, live_row.p50_latency_ms) == (1, 9000)
    assert live_row.cost_per_success_usd == Decimal("0.5")


def test_cost_per_success_counts_paid_failures_and_unknown_cost_is_none(tmp_path, catalog):
    ledger = Ledger(tmp_path / "l.duckdb")
    rejected = _attempt(HAIKU, cost="0.002")
    rejected = rejected.model_copy(update={"status": "error", "error_class": "InvalidOutput"})
    ledger.record_attempts([rejected, _attempt(HAIKU, cost="0.002"),
                            _attempt("ollama:llama3.2", cost=None)])
    rows = _rows(ledger, catalog)
    assert rows[HAIKU].cost_per_success_usd == Decimal("0.004")
    assert rows[HAIKU].failure_rate == 0.5
    assert rows["ollama:llama3.2"].answers == 1
    assert rows["ollama:llama3.2"].cost_per_success_usd is None  # unpriced, never $0


def test_quality_by_source_with_counts_kept_apart_by_mode(tmp_path, catalog):
    ledger = Ledger(tmp_path / "l.duckdb")
    sandbox, live = _attempt(FLASH), _attempt(FLASH, mode="live")
    ledger.record_attempts([sandbox, live])
    record_outcomes(ledger, [
        _outcome(FLASH, 1.0, "eval", sandbox), _outcome(FLASH, 0.0, "eval", sandbox),
        _outcome(FLASH, 0.75, "person", sandbox), _outcome(FLASH, 0.5, "import"),
        _outcome(FLASH, 0.0, "judge", live),
    ])
    row = _rows(ledger, catalog)[FLASH]
    assert {s: (q.score, q.count) for s, q in row.quality_by_source.items()} == {
        "eval": (0.5, 2), "person": (0.75, 1), "import": (0.5, 1)}
    assert row.quality_count == 4 and row.quality == pytest.approx((1 + 0 + .75 + .5) / 4)
    live_row = _rows(ledger, catalog, mode="live")[FLASH]
    assert set(live_row.quality_by_source) == {"judge", "import"}


def test_task_kind_narrows_attempts_and_outcomes(tmp_path, catalog):
    ledger = Ledger(tmp_path / "l.duckdb")
    run_task = _attempt(MINI, run_id="r1", task_id="t1", latency=300)
    eval_answer = _attempt(MINI, latency=700)
    other = _attempt(MINI, latency=5000)
    ledger.record_attempts([run_task, eval_answer, other])
    ledger.start_run("r1", "demand", mode="sandbox")
    ledger.upsert_task(TaskRow(run_id="r1", task_id="t1", kind="extract", status="done"))
    record_outcomes(ledger, [_outcome(MINI, 1.0, "eval", eval_answer, kind="extract"),
                             _outcome(MINI, 0.0, "eval", other, kind="math")])
    row = _rows(ledger, catalog, task_kind="extract")[MINI]
    assert row.attempts == 2 and row.p50_latency_ms == pytest.approx(500)
    assert (row.quality, row.quality_count) == (1.0, 1)
    assert _rows(ledger, catalog)[MINI].attempts == 3


def _row(model: str, cost: str | None, quality: float | None) -> LeaderboardRow:
    return LeaderboardRow(model=model, provider="p", tier="economy", mode="sandbox",
                          input_per_mtok=Decimal(1), output_per_mtok=Decimal(1),
                          context_window=1, capabilities=[], quality=quality,
                          cost_per_success_usd=None if cost is None else Decimal(cost))


def test_pareto_frontier_keeps_only_models_nothing_beats_on_both():
    rows = [_row("cheap-ok", "0.001", 0.6), _row("dear-best", "0.01", 0.9),
            _row("dear-worse", "0.02", 0.8), _row("cheap-worse", "0.001", 0.5),
            _row("middle", "0.005", 0.7), _row("unmeasured", None, 0.99),
            _row("tie", "0.001", 0.6)]
    assert pareto_frontier(rows) == {"cheap-ok", "tie", "dear-best", "middle"}


def test_the_frame_flattens_money_and_sources(tmp_path, catalog):
    ledger = Ledger(tmp_path / "l.duckdb")
    answer = _attempt(MINI)
    ledger.record_attempts([answer])
    record_outcomes(ledger, [_outcome(MINI, 1.0, "eval", answer)])
    rows = leaderboard(catalog, lambda p: "sandbox", ledger=ledger)
    frame = leaderboard_frame(rows)
    assert len(frame) == len(catalog.models)
    mini = frame.set_index("model").loc[MINI]
    assert mini["eval_score"] == 1.0 and mini["eval_count"] == 1 and mini["person_count"] == 0
    assert isinstance(mini["cost_per_success_usd"], float) and bool(mini["pareto"])


def test_answers_served_by_the_cache_are_not_measured(tmp_path, catalog):
    ledger = Ledger(tmp_path / "l.duckdb")
    hit = _attempt(MINI, latency=1.0, cost="0").model_copy(update={"cached": True})
    ledger.record_attempts([_attempt(MINI, latency=800), hit])
    row = _rows(ledger, catalog)[MINI]
    assert (row.attempts, row.p50_latency_ms) == (1, 800)
