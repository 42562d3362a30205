"""The Router page: renders, evaluates the ledger's own outcomes, retrains; the view model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.ledger import Ledger
from core.ledger.outcomes import record_outcomes
from core.policy import DEFAULT_POLICY
from core.routing.learned_ranker import model_file
from core.routing.routerbench import outcome_records, read_routerbench
from tests.routerbench_tables import write_table
from ui.router_view import curve_figure, evaluate_uploads, policy_point

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def env(tmp_path, monkeypatch):
    policy = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, policy)
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "ledger.duckdb"))
    monkeypatch.setenv("ORCHESTRA_POLICY", str(policy))
    return tmp_path


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page("app_pages/router.py").run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label.startswith(label))


def test_the_page_on_an_empty_ledger_says_how_to_start(env):
    at = _page()
    assert any("Router" in t.value for t in at.title)
    _button(at, "Evaluate the ledger").click().run()
    assert not at.exception, at.exception
    assert "orchestra outcomes import" in "\n".join(i.value for i in at.info)


def test_ledger_evaluation_and_retraining(env):
    table = read_routerbench(write_table(env / "t.csv", rows=90, seed=1))
    record_outcomes(Ledger(env / "ledger.duckdb"), outcome_records(table, "synthetic"))
    at = _page()
    _button(at, "Evaluate the ledger").click().run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart"), "the curve is drawn"
    labels = [m.label for m in at.metric]
    assert "router AIQ" in labels and "zero router AIQ" in labels
    _button(at, "Retrain now").click().run()
    assert not at.exception, at.exception
    assert "Trained on 90 prompts" in at.success[0].value
    assert model_file(Ledger(env / "ledger.duckdb")).exists()


def test_uploaded_tables_give_a_figure_with_the_policy_point(tmp_path):
    train = write_table(tmp_path / "train.csv", rows=100, seed=1).read_bytes()
    test = write_table(tmp_path / "test.csv", rows=50, seed=2).read_bytes()
    result = evaluate_uploads(train, test)
    figure = curve_figure(result, 0.7)
    names = [trace.name for trace in figure.data]
    assert any(n.startswith("zero router") for n in names)
    assert {"oracle", "single models", "random choice"} <= set(names)
    assert any(n.startswith("policy (quality weight 0.70)") for n in names)
    point = policy_point(result, 0.7)
    assert point.knob == min((p.knob for p in result.points), key=lambda k: abs(k - 0.7))
