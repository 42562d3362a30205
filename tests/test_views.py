"""The dashboard's view models: plan editing, the live run board, and the figures pages show."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from core.catalog import default_catalog
from core.errors import ConfigError, PlanError, UnknownModel
from core.execution.events import RunEvent
from ui.figures import breaker_rows, budget_rows, edited_policy, key_rows
from core.planning.plan import parse_plan
from core.policy import Policy
from core.settings import Settings
from ui.charts import provider_colours
from ui.views import board_from_events, money, plan_from_rows, plan_rows, sandbox_banner

PLAN = parse_plan({"demand": "d", "tasks": [
    {"id": "a", "title": "A", "kind": "research", "prompt": "pa", "complexity": 2},
    {"id": "b", "title": "B", "kind": "research", "prompt": "pb"},
    {"id": "c", "title": "C", "kind": "writing", "prompt": "pc", "depends_on": ["a", "b"],
     "max_output_tokens": 300},
]})


def event(type_: str, task_id: str = "", ts: float = 0.0, **data: object) -> RunEvent:
    """A run event at a chosen time: its typed payload, tagged on ``type``."""
    return RunEvent(run_id="r1", task_id=task_id, ts=ts,  # type: ignore[arg-type]
                    payload={"type": type_, **data})


def test_money_keeps_tiny_amounts_and_says_unknown() -> None:
    assert money(Decimal("1.23456")) == "$1.2346"
    assert money(Decimal("0.0000426")) == "$0.000043"
    assert money(None) == "unknown"


def test_banner_names_only_the_sandboxed_providers() -> None:
    catalog = default_catalog()
    modes = {name: "sandbox" for name in catalog.providers}
    assert "every provider" in (sandbox_banner(modes, catalog) or "")
    modes = {name: "live" for name in catalog.providers} | {"groq": "sandbox"}
    banner = sandbox_banner(modes, catalog) or ""
    assert catalog.providers["groq"].label in banner and "OpenAI" not in banner
    assert sandbox_banner({name: "live" for name in catalog.providers}, catalog) is None


def test_edited_rows_become_a_plan_keeping_hidden_fields() -> None:
    rows = plan_rows(PLAN)
    assert rows[2]["depends_on"] == "a, b" and rows[2]["wave"] == 1
    rows[1]["depends_on"] = "a"
    rows[2].update(depends_on="b", model="openai:gpt-4o-mini", prompt="new prompt")
    rows.append({"id": None, "title": None})  # a blank row added in the editor
    plan = plan_from_rows("d", rows, base=PLAN)
    assert plan.waves() == [["a"], ["b"], ["c"]]
    assert plan.task("c").model == "openai:gpt-4o-mini"
    assert plan.task("c").max_output_tokens == 300 and plan.task("a").complexity == 2


def test_edits_that_break_the_plan_are_refused_with_a_reason() -> None:
    rows = plan_rows(PLAN)
    rows[0]["depends_on"] = "c"
    with pytest.raises(PlanError, match="cycle"):
        plan_from_rows("d", rows, base=PLAN)
    rows = plan_rows(PLAN)
    rows[0]["model"] = "openai:gpt-nine"
    with pytest.raises(UnknownModel):
        plan_from_rows("d", rows, base=PLAN, catalog=default_catalog())


def test_board_follows_retries_fallbacks_and_costs() -> None:
    events = [
        event("run_started", ts=0, tasks=3, waves=2, wave_ids=[["a", "b"], ["c"]]),
        event("task_queued", "a", title="A", kind="research"),
        event("task_queued", "b", title="B", kind="research"),
        event("task_started", "a", 1.0, model="openai:gpt-4o-mini"),
        event("task_started", "b", 1.0, model="groq:llama-3.3-70b-versatile"),
        event("attempt_failed", "a", 2.0, model="openai:gpt-4o-mini", error_class="RateLimited"),
        event("retrying", "a", 2.0, model="openai:gpt-4o-mini", delay_s=0.5, attempt=2,
              error_class="RateLimited"),
        event("attempt_failed", "a", 3.0, model="openai:gpt-4o-mini", error_class="RateLimited"),
        event("fallback", "a", 3.0, **{"from": "openai:gpt-4o-mini",
                                       "to": "google:gemini-2.0-flash",
                                       "reason": "RateLimited twice on openai"}),
        event("task_done", "a", 4.0, model="google:gemini-2.0-flash", cost_usd=Decimal("0.01"),
              text="answer a"),
        event("task_failed", "b", 4.5, reason="AllModelsFailed: every model failed"),
        event("task_skipped", "c", 4.5, reason="dependency b did not finish"),
    ]
    board = board_from_events(PLAN, events)
    a, b, c = (board.cards[t] for t in "abc")
    assert a.status == "done" and a.model == "google:gemini-2.0-flash" and a.output == "answer a"
    assert a.notes == ["openai:gpt-4o-mini failed: RateLimited",
                       "openai:gpt-4o-mini failed: RateLimited",
                       "fell back from openai:gpt-4o-mini to google:gemini-2.0-flash: "
                       "RateLimited twice on openai"]  # every note kept, the fallback says why
    assert (board.failed_attempts, board.retries, board.fallbacks) == (2, 1, 1)
    assert a.headline(now=10) == "done on google:gemini-2.0-flash · $0.0100 · 3.0s"
    assert b.status == "failed" and "AllModelsFailed" in b.headline(now=10)
    assert c.status == "skipped"
    assert board.cost_usd == Decimal("0.01") and not board.finished
    rows = board.timeline_rows(now=10)
    assert [(r["task"], r["provider"], r["outcome"]) for r in rows] == [
        ("a", "openai", "failed"), ("b", "groq", "failed"), ("a", "openai", "failed"),
        ("a", "google", "ok")]
    assert rows[0]["label"] == "✗ RateLimited" and rows[3]["label"] == ""
    assert rows[2]["start"] == 2.5  # the retry starts after its backoff
    board = board_from_events(PLAN, [*events, event("run_done", ts=5, status="failed", cost_usd=Decimal("0.01"))])
    assert board.finished and board.status == "failed"


def test_a_running_task_shows_its_model_and_elapsed_time() -> None:
    board = board_from_events(PLAN, [event("task_started", "a", 100.0, model="openai:gpt-4o")])
    assert board.cards["a"].headline(now=102.5) == "running on openai:gpt-4o · 2.5s"
    assert board.timeline_rows(now=102.5)[0]["end"] == 102.5
    assert board.counts() == {"running": 1, "queued": 2}


def test_a_task_answered_from_the_cache_says_so_on_its_card() -> None:
    events = [event("task_started", "a", 1.0, model="openai:gpt-4o-mini"),
              event("task_done", "a", 1.5, model="openai:gpt-4o-mini", cost_usd=Decimal(0),
                    cached=True, text="the Nile"),
              event("task_started", "b", 1.0, model="openai:gpt-4o-mini"),
              event("task_done", "b", 2.0, model="openai:gpt-4o-mini",
                    cost_usd=Decimal("0.0001"), text="the Baltic")]
    board = board_from_events(PLAN, events)
    assert board.cards["a"].headline(now=3.0) == "done on openai:gpt-4o-mini · $0.0000 · cached · 0.5s"
    assert "cached" not in board.cards["b"].headline(now=3.0)


def test_keys_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value-1234abcd")
    rows = {r["name"]: r for r in key_rows(Settings.from_environ(os.environ), {})}
    assert rows["anthropic"]["key"] == "sk-…abcd"
    assert rows["openai"]["key"] == "not set"
    assert "secret" not in str(rows)


def test_budget_burn_and_breakers() -> None:
    rows = budget_rows(Policy(), {"openai": 5.0, "groq": 1.0}, ["openai", "groq"])
    assert rows[0] == {"budget": "openai", "spent today ($)": 5.0, "daily budget ($)": 20.0,
                       "burn": 0.25}
    assert rows[-1]["budget"] == "all providers" and rows[-1]["spent today ($)"] == 6.0
    state = {"openai": {"state": "open", "failures": 5, "retry_in_s": 12.5}}
    breakers = {r["provider"]: r for r in breaker_rows(["openai", "groq"], state)}
    assert breakers["openai"]["state"] == "open"
    assert breakers["groq"]["state"] == "closed (no calls yet)"


def test_policy_edits_are_validated() -> None:
    policy = edited_policy(Policy(), {"budget": {"per_run_usd": "2.5"},
                                      "tiers": {"economy_max": 1}})
    assert policy.budget.per_run_usd == Decimal("2.5") and policy.tiers.economy_max == 1
    with pytest.raises(ConfigError) as info:
        edited_policy(Policy(), {"concentration": {"cap": 1.5}})
    assert str(info.value) == ("Max share of calls per provider must be at most 1.0: change it "
                               "and save again.")
    with pytest.raises(ConfigError) as info:
        edited_policy(Policy(), {"tiers": {"economy_max": 4, "balanced_max": 2}})
    assert str(info.value).startswith("Balanced up to must be at least Economy up to")


def test_each_provider_keeps_one_colour_on_every_chart() -> None:
    names = list(default_catalog().providers)
    colours = provider_colours(names)
    assert provider_colours(reversed(names)) == colours  # order or subset does not matter
    assert provider_colours(["groq"]) == {"groq": colours["groq"]}
    assert len(set(colours.values())) == len(names)
    assert provider_colours(["acme"])["acme"] == provider_colours(["zed", "acme"])["acme"]


def test_a_long_failure_reason_is_cut_on_the_card_headline() -> None:
    board = board_from_events(PLAN, [event("task_failed", "a", 1.0, reason="BudgetExceeded: "
                                           + "over budget " * 40)])
    card = board.cards["a"]
    line = card.headline(now=2)
    assert line.startswith("failed: BudgetExceeded: over budget") and line.endswith(" …")
    assert len(line) <= len("failed: ") + 162 and len(card.reason) > 400
