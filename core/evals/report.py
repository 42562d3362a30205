"""What an eval run reports: each case's result on each model, per-model figures, the matrix."""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from core.evals.assertions import CheckResult
from core.ledger.outcomes import OutcomeRecord, stable_outcome_id


class CaseResult(BaseModel):
    """One case on one model (one repeat): the answer or the error, and every check."""

    model_config = ConfigDict(extra="forbid")

    case_id: str
    model: str
    repeat: int = 1
    prompt: str
    output: str = ""
    error_class: str = ""
    error: str = ""
    mode: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cost_usd: Decimal | None = None
    judge_cost_usd: Decimal | None = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    attempt_id: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """The model answered and every assertion passed."""
        return not self.error_class and all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[CheckResult]:
        """The assertions that failed."""
        return [c for c in self.checks if not c.passed]

    @property
    def score(self) -> float:
        """The outcome score in [0, 1]: 1 for a pass, 0 otherwise."""
        return 1.0 if self.passed else 0.0


class ModelSummary(BaseModel):
    """One model's figures over the suite: passes, cost (answers and judging) and latency."""

    model_config = ConfigDict(extra="forbid")

    model: str
    runs: int
    passed: int
    errors: int
    pass_rate: float
    cost_usd: Decimal | None
    judge_cost_usd: Decimal | None
    p50_latency_ms: float | None
    mean_latency_ms: float | None


def _sum(values: list[Decimal | None]) -> Decimal | None:
    """The sum, or None when any value is unknown (unpriced is never $0)."""
    if any(v is None for v in values):
        return None
    return sum((v for v in values if v is not None), Decimal(0))


def summarise(model: str, results: list[CaseResult]) -> ModelSummary:
    """The figures of one model's results."""
    latencies = [r.latency_ms for r in results if not r.error_class]
    passed = sum(r.passed for r in results)
    return ModelSummary(
        model=model, runs=len(results), passed=passed,
        errors=sum(bool(r.error_class) for r in results),
        pass_rate=passed / len(results) if results else 0.0,
        cost_usd=_sum([r.cost_usd for r in results if not r.error_class]),
        judge_cost_usd=_sum([r.judge_cost_usd for r in results]),
        p50_latency_ms=statistics.median(latencies) if latencies else None,
        mean_latency_ms=statistics.fmean(latencies) if latencies else None,
    )


class EvalReport(BaseModel):
    """A finished eval run: every result, per-model summaries and the total cost."""

    model_config = ConfigDict(extra="forbid")

    eval_id: str
    suite: str
    kind: str
    models: list[str]
    case_ids: list[str]
    repeat: int
    results: list[CaseResult]
    summaries: list[ModelSummary]
    total_cost_usd: Decimal | None
    wall_ms: float

    def matrix(self) -> dict[str, dict[str, dict[str, int]]]:
        """case id → model → passes and runs (``repeat`` runs per cell)."""
        cells: dict[str, dict[str, dict[str, int]]] = {
            case: {model: {"passed": 0, "runs": 0} for model in self.models}
            for case in self.case_ids}
        for result in self.results:
            cell = cells[result.case_id][result.model]
            cell["runs"] += 1
            cell["passed"] += int(result.passed)
        return cells

    def cell(self, case_id: str, model: str) -> list[CaseResult]:
        """The results (one per repeat) of one case on one model."""
        return [r for r in self.results if r.case_id == case_id and r.model == model]

    def failures(self) -> list[CaseResult]:
        """Every result that did not pass, in run order."""
        return [r for r in self.results if not r.passed]

    def outcomes(self) -> list[OutcomeRecord]:
        """One ``source="eval"`` outcome per answered result (see ``outcomes_of``)."""
        return outcomes_of(self.results, self.eval_id, self.suite, self.kind)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: suite, matrix, per-model summaries, every result."""
        return {**self.model_dump(), "matrix": self.matrix(),
                "passed": sum(r.passed for r in self.results), "runs": len(self.results)}


def outcomes_of(results: list[CaseResult], eval_id: str, suite: str,
                kind: str) -> list[OutcomeRecord]:
    """One ``source="eval"`` outcome per answered result (dataset = the suite's name).

    A call that gave no answer is not an outcome: its failure is in the attempts, where
    failure rates are counted, and it says nothing of the quality of an answer.
    """
    return [OutcomeRecord(
        outcome_id=stable_outcome_id("eval", eval_id, r.case_id, r.model, str(r.repeat)),
        prompt=r.prompt, kind=kind, model=r.model, score=r.score, source="eval",
        cost_usd=r.cost_usd, input_tokens=r.input_tokens, output_tokens=r.output_tokens,
        latency_ms=r.latency_ms, dataset=suite, attempt_id=r.attempt_id,
    ) for r in results if not r.error_class]


def build_report(eval_id: str, suite: str, kind: str, models: list[str], case_ids: list[str],
                 repeat: int, results: list[CaseResult], wall_ms: float) -> EvalReport:
    """The report of a run's results, with each model's summary and the total cost."""
    summaries = [summarise(m, [r for r in results if r.model == m]) for m in models]
    total = _sum([s.cost_usd for s in summaries] + [s.judge_cost_usd for s in summaries])
    return EvalReport(eval_id=eval_id, suite=suite, kind=kind, models=models,
                      case_ids=case_ids, repeat=repeat, results=results, summaries=summaries,
                      total_cost_usd=total, wall_ms=wall_ms)
