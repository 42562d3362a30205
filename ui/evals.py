"""Evals view: the shipped suites, and a finished report as tables for the page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.catalog import DATA_DIR
from core.evals.report import CaseResult, EvalReport

EVALS_DIR = DATA_DIR / "evals"


def shipped_suites(directory: Path = EVALS_DIR) -> dict[str, Path]:
    """Suite name (file stem) → path, for the suites in ``data/evals``."""
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))}


def matrix_frame(report: EvalReport) -> pd.DataFrame:
    """One row per case, one column per model: PASS/FAIL (or passes/runs with repeats)."""
    rows = []
    for case, cells in report.matrix().items():
        row: dict[str, str] = {"case": case}
        for model, cell in cells.items():
            if cell["runs"] == 1:
                row[model] = "✅ pass" if cell["passed"] else "❌ fail"
            else:
                row[model] = f"{cell['passed']}/{cell['runs']}"
        rows.append(row)
    return pd.DataFrame(rows)


def summary_frame(report: EvalReport) -> pd.DataFrame:
    """Per model: passes, pass rate, errors, cost of answers and of judging, latency."""
    return pd.DataFrame([{
        "model": s.model, "passed": f"{s.passed}/{s.runs}", "pass rate": s.pass_rate,
        "errors": s.errors,
        "cost": None if s.cost_usd is None else float(s.cost_usd),
        "judge cost": None if s.judge_cost_usd is None else float(s.judge_cost_usd),
        "p50 ms": s.p50_latency_ms, "mean ms": s.mean_latency_ms,
    } for s in report.summaries])


def cell_lines(result: CaseResult) -> list[tuple[bool, str]]:
    """(passed, line) for each assertion of one result, or its error."""
    if result.error_class:
        return [(False, f"no answer: {result.error_class}: {result.error}")]
    return [(c.passed, c.type + ("" if c.passed else f": {c.message}")) for c in result.checks]
