"""The Evals and Leaderboard pages through Streamlit's AppTest: real scripts, sandbox models,
a temporary ledger (the repo's data/orchestra.duckdb is never touched)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.ledger import Ledger
from core.ledger.outcomes import OutcomeFilter, outcome_rows

ROOT = Path(__file__).resolve().parent.parent
POLL_ROUNDS = 120


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.duckdb"
    monkeypatch.setenv("ORCHESTRA_DB", str(path))
    return path


def _page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [s.value for s in at.subheader]
    parts += [e.value for e in at.success] + [e.value for e in at.error]
    parts += [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def test_evals_page_runs_a_suite_and_shows_matrix_and_a_cell(ledger_path):
    at = _page("evals")
    assert "Pick a suite" in _text(at)
    at.selectbox[0].set_value("classification").run()
    at.multiselect[0].set_value(["openai:gpt-4o-mini", "google:gemini-2.0-flash"]).run()
    at.button[0].click().run()
    job = at.session_state["eval_job"]
    for _ in range(POLL_ROUNDS):
        if job.done:
            break
        time.sleep(0.25)
    at.run()
    assert not at.exception, at.exception
    text = _text(at)
    assert job.error is None and "passed · total $" in text and "Pass/fail matrix" in text
    matrix = at.dataframe[0].value
    assert list(matrix.columns) == ["case", "openai:gpt-4o-mini", "google:gemini-2.0-flash"]
    assert set(matrix["case"]) == {"refund", "crash", "dark-mode", "hello"}
    assert "refund · openai:gpt-4o-mini" in text  # the first cell, until another is clicked
    assert "json-schema" in text and at.code  # its assertions and its output
    rows = outcome_rows(Ledger(ledger_path), OutcomeFilter(source="eval"))
    assert len(rows) == 8
