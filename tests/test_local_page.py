"""The Models page's local-model panel through Streamlit's AppTest: start the real llama.cpp
server with its button, see its model and state, turn real sandbox text and the local-only
preset on and off, stop it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.local.sandbox_text import TEXT_ENV
from core.local.state import STATE_ENV, read_record
from core.policy import DEFAULT_POLICY, load_policy
from ui.components import dashboard_choices

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def page_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    policy = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, policy)
    monkeypatch.setenv("ORCHESTRA_POLICY", str(policy))
    state = tmp_path / "local_server.json"
    monkeypatch.setenv(STATE_ENV, str(state))
    monkeypatch.delenv(TEXT_ENV, raising=False)
    yield state
    dashboard_choices().sandbox_text = None  # the process-wide choice the page made


def _models_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str) -> object:
    found = [b for b in at.button if b.label == label]
    assert found, [b.label for b in at.button]
    return found[0]


def test_start_toggle_and_stop_from_the_models_page(page_env: Path) -> None:
    at = _models_page()
    assert any("Stopped" in str(m.value) for m in at.markdown)
    _button(at, "Start the local server").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    record = read_record(page_env)
    assert record is not None
    try:
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Model"] == f"local:{record.model_id}"
        assert metrics["Context"] == "8,192 tokens"
        toggle = next(t for t in at.toggle if t.label.startswith("Real text"))
        toggle.set_value(True).run()
        assert TEXT_ENV not in os.environ  # a choice of the dashboard, not an env variable
        assert dashboard_choices().sandbox_text is True
        assert any("written by the local model" in str(i.value) for i in at.info)
        next(t for t in at.toggle if t.label.startswith("Real text")).set_value(False).run()
        assert dashboard_choices().sandbox_text is False
        assert not any("written by the local model" in str(i.value) for i in at.info)
        next(t for t in at.toggle if t.label.startswith("Local only")).set_value(True).run()
        assert not at.exception, at.exception
        assert load_policy().routing.local_only
        assert any("Local-only mode is on" in str(i.value) for i in at.info)
        next(t for t in at.toggle if t.label.startswith("Local only")).set_value(False).run()
        assert not load_policy().routing.local_only
    finally:
        _button(at, "Stop the local server").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    assert read_record(page_env) is None
    assert any("Stopped" in str(m.value) for m in at.markdown)
