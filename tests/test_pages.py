"""The dashboard's pages through Streamlit's AppTest: real page scripts, real core, sandbox
providers, a temporary ledger and a temporary policy file (the repo's data/policy.toml is never
written)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.ledger import Ledger, headline
from core.policy import DEFAULT_POLICY, load_policy
from ui.components import live_runs, shared_breakers

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = {"run": "app_pages/run.py", "compare": "app_pages/compare.py", "history": "app_pages/history.py",
         "models": "app_pages/models.py"}
POLL_ROUNDS = 120  # bounded polling of a background job: 120 reruns ≈ 30 s at most


@pytest.fixture
def dashboard_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ledger and a copy of the policy, named through the environment."""
    policy = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, policy)
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path / "ledger.duckdb"))
    monkeypatch.setenv("ORCHESTRA_POLICY", str(policy))
    return tmp_path


def open_page(name: str) -> AppTest:
    """The app, switched to one page and run once."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGES[name]).run()
    assert not at.exception, at.exception
    return at


def poll_until(at: AppTest, finished, rounds: int = POLL_ROUNDS) -> None:
    """Rerun the page (as the fragment's timer would) until ``finished()``, bounded."""
    for _ in range(rounds):
        if finished():
            at.run()  # one more rerun renders the final state
            assert not at.exception, at.exception
            return
        time.sleep(0.25)
        at.run()
        assert not at.exception, at.exception
    raise AssertionError("the background job did not finish within the polling bound")


def texts(elements) -> str:
    """Every value of a list of text elements, joined (for 'contains' checks)."""
    return "\n".join(str(e.value) for e in elements)


# ── every page ───────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_with_the_sandbox_banner(dashboard_env: Path, name: str) -> None:
    at = open_page(name)
    banner = texts(at.warning)
    assert "Sandbox mode" in banner and "Anthropic" in banner and "OpenAI" in banner


def test_banner_leaves_out_a_provider_with_a_key(dashboard_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef9f2c")
    at = open_page("models")
    banner = texts(at.warning)
    assert "Anthropic" in banner and "OpenAI" not in banner
    keys = at.table[0].value
    openai = keys[keys["name"] == "openai"].iloc[0]
    assert openai["key"] == "sk-…9f2c" and openai["mode"] == "live"
    assert "0123456789" not in keys.to_string()


def test_keys_from_streamlit_secrets_switch_a_provider_live(dashboard_env: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["ANTHROPIC_API_KEY"] = "sk-ant-secret-0123456789ab7e1d"
    at.run()
    at.switch_page(PAGES["models"]).run()
    assert not at.exception, at.exception
    assert "Anthropic" not in texts(at.warning) and "OpenAI" in texts(at.warning)
    keys = at.table[0].value
    anthropic = keys[keys["name"] == "anthropic"].iloc[0]
    assert anthropic["key"] == "sk-…7e1d" and anthropic["mode"] == "live"
    assert "ANTHROPIC_API_KEY" not in os.environ  # secrets reach the gateway, not the env


# ── history ──────────────────────────────────────────────────────────────────────────────────
def test_history_on_a_fresh_ledger_says_how_to_start(dashboard_env: Path) -> None:
    at = open_page("history")
    assert "No runs yet — start one on the Run page" in texts(at.info)
    assert not at.metric


# ── models & budgets ─────────────────────────────────────────────────────────────────────────
def test_models_page_lists_the_catalog_budgets_and_breakers(dashboard_env: Path) -> None:
    at = open_page("models")
    catalog = at.dataframe[0].value
    assert "openai:gpt-4o-mini" in set(catalog["model"])
    assert set(catalog["mode"]) == {"sandbox"}
    breakers = at.table[1].value
    assert set(breakers["state"]) == {"closed (no calls yet)"}
    burn = at.dataframe[1].value
    assert burn.iloc[-1]["budget"] == "all providers"
    assert burn.iloc[-1]["daily budget ($)"] == pytest.approx(50.0)


def test_policy_edit_is_saved_and_reloaded(dashboard_env: Path) -> None:
    repo_policy = DEFAULT_POLICY.read_text()
    at = open_page("models")
    by_label = {n.label: n for n in at.number_input}
    by_label["Per run"].set_value(2.5)
    by_label["Balanced up to"].set_value(4)
    {s.label: s for s in at.slider}["Max share of calls per provider"].set_value(0.6)
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    assert "Policy saved" in texts(at.success)
    saved = load_policy(dashboard_env / "policy.toml")
    assert str(saved.budget.per_run_usd) == "2.5"
    assert saved.tiers.balanced_max == 4
    assert saved.concentration.cap == pytest.approx(0.6)
    reopened = open_page("models")
    assert {n.label: n.value for n in reopened.number_input}["Per run"] == pytest.approx(2.5)
    assert DEFAULT_POLICY.read_text() == repo_policy


def test_an_invalid_policy_is_refused_with_the_field_named(dashboard_env: Path) -> None:
    before = (dashboard_env / "policy.toml").read_text()
    at = open_page("models")
    by_label = {n.label: n for n in at.number_input}
    by_label["Economy up to"].set_value(4)
    by_label["Balanced up to"].set_value(2)
    at.form_submit_button[0].click().run()
    assert texts(at.error) == ("Not saved. Balanced up to must be at least Economy up to: raise "
                               "Balanced up to or lower Economy up to.")
    assert (dashboard_env / "policy.toml").read_text() == before


# ── compare ──────────────────────────────────────────────────────────────────────────────────
def test_compare_streams_three_answers_and_stores_ratings(dashboard_env: Path) -> None:
    at = open_page("compare")
    assert len(at.multiselect[0].value) == 3
    providers = {m.split(":")[0] for m in at.multiselect[0].value}
    assert len(providers) == 3
    at.text_area(key="compare_prompt").set_value("Explain DuckDB in two sentences.")
    at.button[0].click().run()
    job = at.session_state["compare_job"]
    poll_until(at, lambda: job.done)
    assert job.error is None
    called = shared_breakers().state() or {}
    assert providers <= set(called), "the breakers count the calls Compare made"
    stats = [c.value for c in at.caption if str(c.value).startswith("⏱")]
    assert len(stats) == 3 and all("TTFT" in s and "sandbox" in s for s in stats)
    answers = [a.text for a in job.comparison.results]
    for answer in answers:
        assert answer and answer[:40] in texts(at.markdown)
    star_radios = [r for r in at.radio if r.label.startswith("Your rating of")]
    assert len(star_radios) == 3
    star_radios[0].set_value(5)
    best = next(r for r in at.radio if r.label == "Best answer")
    best.set_value(job.comparison.results[1].attempt_id)
    next(b for b in at.button if b.label == "Save ratings").click().run()
    assert "Saved your ratings of 3 answer(s)" in texts(at.success)
    ratings = Ledger().get_ratings(comparison_id=job.comparison.comparison_id)
    assert sorted((r.rating or 0, r.best) for r in ratings) == [(0, False), (0, True), (5, False)]
    [r for r in at.radio if r.label.startswith("Your rating of")][0].set_value(3)
    next(b for b in at.button if b.label == "Save ratings").click().run()
    again = Ledger().get_ratings(comparison_id=job.comparison.comparison_id)
    assert len(again) == 3, "a second save updates the first, one rating per answer"
    assert sorted(r.rating or 0 for r in again) == [0, 0, 3]


# ── run ──────────────────────────────────────────────────────────────────────────────────────
DEMAND = "Compare PostgreSQL, DuckDB and SQLite for analytics and write a short report"


def plan_demand(at: AppTest, demand: str = DEMAND) -> None:
    """Type a demand and press 'Plan it' (offline planner)."""
    at.text_area[0].set_value(demand)
    next(b for b in at.button if b.label == "Plan it").click().run()
    assert not at.exception, at.exception


def start(at: AppTest):
    """Press 'Start run' and return the run's handle (the run's id is in the URL)."""
    next(b for b in at.button if b.label.startswith("Start run")).click().run()
    assert not at.exception, at.exception
    return live_runs().get(at.query_params["run"])


def test_run_page_starts_empty_with_its_inputs(dashboard_env: Path) -> None:
    at = open_page("run")
    assert at.text_area[0].label == "Demand"
    assert at.radio[0].options == ["Offline (deterministic)", "LLM planner", "Plan file"]
    assert "No run yet" in texts(at.info)
    assert not at.data_editor


def test_a_sandbox_run_finishes_with_its_summary_and_shows_in_history(dashboard_env: Path) -> None:
    at = open_page("run")
    plan_demand(at)
    assert "7 tasks in 5 waves" in texts(at.caption)
    table = at.data_editor[0].value
    assert list(table["id"]) == ["research-1", "research-2", "research-3", "compare", "draft",
                                 "review", "final"]
    live = start(at)
    poll_until(at, lambda: live.done)
    assert live.error is None
    assert "Deliverable — done" in texts(at.subheader)
    figures = {m.label: m.value for m in at.metric}
    assert figures["Tasks done"] == "7/7" and figures["Waves"] == "5"
    assert figures["Failed attempts"] == "0" and figures["Failed tasks"] == "0"
    assert figures["Cost"].startswith("$") and figures["Saving vs baseline"].startswith("$")
    final = next(r for r in live.summary.task_results if r.id == "final")
    assert final.output[:60] in texts(at.markdown)  # the deliverable, shown first
    assert len([e for e in at.expander if "—" in e.label]) == 7
    assert {b.label for b in at.download_button} == {
        "Download deliverable", "Download report (Markdown)", "Download JSON"}
    assert [f"Wave {n}" in texts(at.markdown) for n in range(1, 6)] == [True] * 5

    at.switch_page(PAGES["history"]).run()
    assert not at.exception, at.exception
    assert int({m.label: m.value for m in at.metric}["Calls"]) >= 7
    run_filter = next(s for s in at.sidebar.selectbox if s.label == "Run")
    assert live.run_id in run_filter.options[1] or any(live.run_id[:8] in o
                                                       for o in run_filter.options)
    assert headline().calls >= 7


def test_a_pinned_model_edited_in_the_preview_is_used(dashboard_env: Path) -> None:
    at = open_page("run")
    plan_demand(at)
    editor_key = f"plan_editor_{at.session_state['draft_no']}"
    at.session_state[editor_key] = {"edited_rows": {6: {"model": "openai:gpt-4o-mini"}},
                                    "added_rows": [], "deleted_rows": []}
    at.run()
    live = start(at)
    assert live.plan.task("final").model == "openai:gpt-4o-mini"
    poll_until(at, lambda: live.done)
    final = next(r for r in live.summary.task_results if r.id == "final")
    assert final.model == "openai:gpt-4o-mini"


def test_a_plan_file_is_uploaded_and_a_bad_one_is_explained(dashboard_env: Path) -> None:
    at = open_page("run")
    at.radio[0].set_value("file")
    at.file_uploader[0].upload("broken.json", b'{"demand": "x", "tasks": [{"id": "a"}]}',
                               "application/json")
    next(b for b in at.button if b.label == "Plan it").click().run()
    assert "broken.json" in texts(at.error)
    plan = (b'{"demand": "two steps", "tasks": [{"id": "a", "title": "A", "kind": "research",'
            b' "prompt": "p"}, {"id": "b", "title": "B", "kind": "writing", "prompt": "q",'
            b' "depends_on": ["a"]}]}')
    at.file_uploader[0].upload("plan.json", plan, "application/json")
    next(b for b in at.button if b.label == "Plan it").click().run()
    assert not at.exception, at.exception
    assert "2 tasks in 2 waves" in texts(at.caption)


def test_the_llm_planner_says_where_its_plan_came_from(dashboard_env: Path) -> None:
    at = open_page("run")
    at.radio[0].set_value("llm")
    plan_demand(at)
    notes = texts(at.caption)
    assert "planner: source:" in notes
    assert at.data_editor and "tasks in" in notes
    planning = [a for a in Ledger(dashboard_env / "ledger.duckdb").get_attempts()
                if a.task_id == "plan"]
    assert planning and all(a.status == "ok" and a.input_tokens > 0 for a in planning)


def test_a_running_run_can_be_cancelled(dashboard_env: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_SANDBOX_LATENCY_SCALE", "1")  # slow enough to cancel
    at = open_page("run")
    plan_demand(at)
    live = start(at)
    assert any(b.label == "Cancel run" for b in at.button)
    next(b for b in at.button if b.label == "Cancel run").click().run()
    poll_until(at, lambda: live.done)
    assert live.summary.status == "cancelled"
    assert "Deliverable — cancelled" in texts(at.subheader)
    assert live.summary.cancelled + live.summary.done == 7 and live.summary.cancelled > 0


def test_compare_from_a_library_template(dashboard_env: Path) -> None:
    at = open_page("compare")
    at.radio[0].set_value("Prompt library").run()
    template = next(s for s in at.selectbox if s.label == "Template")
    template.set_value("summarize").run()
    at.text_input(key="var_summarize_text").set_value("DuckDB is an in-process OLAP database.")
    at.multiselect[0].set_value(["openai:gpt-4o-mini", "groq:llama-3.3-70b-versatile"])
    at.button[0].click().run()
    job = at.session_state["compare_job"]
    poll_until(at, lambda: job.done)
    assert job.error is None and len(job.comparison.answered) == 2
    assert "DuckDB is an in-process OLAP database." in job.comparison.prompt
