"""The router: filtering, ranking, concentration cap, fallbacks, context-length re-routing."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.routing.budget import BudgetManager
from core.catalog import default_catalog
from core.errors import AllModelsFailed, BudgetExceeded
from core.policy import BudgetSettings, ConcentrationSettings, Policy
from core.routing.candidates import RouteRequest
from core.calls.resilience import BreakerBoard
from core.routing.router import Router
from core.routing.state import LatencyTracker, RoutingState, ShareTracker


def _router(catalog, policy=None, *, available=None, budget=None, latency=None,
            poorly_rated=None):
    """A router over a fresh routing state holding just what a test sets."""
    policy = policy or Policy()
    if available is not None and not callable(available):
        available = frozenset(available).__contains__
    state = RoutingState(budget=budget, breakers=BreakerBoard(policy.breaker),
                         shares=ShareTracker(policy.concentration),
                         latency=latency or LatencyTracker(), configured=available,
                         poorly_rated=dict(poorly_rated or {}))
    return Router(catalog, policy, state)


def _expected_cost(model, prompt, out):
    return float(model.price.input_per_mtok) * prompt + float(model.price.output_per_mtok) * out


def _skips(decision):
    return {s.model: s.reason for s in decision.skipped}


def test_primary_is_the_cheapest_viable_model_of_the_tier(catalog):
    request = RouteRequest("Summarise the meeting notes.", complexity=3, prompt_tokens=800,
                           max_output_tokens=400)
    decision = _router(catalog).route(request)
    balanced = catalog.by_tier("balanced")
    least = min(_expected_cost(m, 800, 400) for m in balanced)
    # Prices move with the clock (DeepSeek's off-peak hours), and two models may tie: any of
    # the cheapest is right.
    cheapest = {m.id for m in balanced if _expected_cost(m, 800, 400) - least < 1e-9}
    assert decision.tier == "balanced" and decision.model in cheapest
    assert decision.reason.startswith(f"complexity 3 → balanced; {decision.model} cheapest")


def test_capability_filter_and_reason(catalog):
    decision = _router(catalog).route(RouteRequest("What happened today?", complexity=1,
                                                  capabilities=("live_search",)))
    assert decision.model == "perplexity:sonar"
    assert "cheapest with live_search" in decision.reason
    assert _skips(decision)["openai:gpt-4o-mini"] == "lacks live_search"


def test_context_window_counts_prompt_plus_output(catalog):
    request = RouteRequest("long", complexity=1, prompt_tokens=150_000, max_output_tokens=4000)
    decision = _router(catalog).route(request)
    for model_id in decision.chain():
        assert catalog.model(model_id).context_window >= 154_000
    assert "context 128,000 < 154,000" in _skips(decision)["openai:gpt-4o-mini"]


def test_unavailable_providers_and_open_breakers_are_skipped(catalog):
    router = _router(catalog, available=lambda provider: provider != "ollama")
    router.state.mark_unavailable("groq", "key refused (HTTP 401/403)")
    for _ in range(router.policy.breaker.failure_threshold):
        router.state.breakers.get("google").record_failure()
    decision = router.route(RouteRequest("hello", complexity=1))
    providers = {catalog.model(m).provider for m in decision.chain()}
    assert providers.isdisjoint({"ollama", "groq", "google"})
    assert "ollama not configured" in _skips(decision)["ollama:llama3.2"]
    assert "google breaker open → skipped" in decision.reason
    assert "groq unavailable: key refused" in decision.reason


def test_models_over_budget_are_skipped_and_no_room_at_all_says_budget(catalog):
    budget = BudgetManager(BudgetSettings(per_run_usd=Decimal("0.001")))
    router = _router(catalog, budget=budget)
    decision = router.route(RouteRequest("x", complexity=1, prompt_tokens=100, max_output_tokens=1000))
    assert "over budget" in _skips(decision)["anthropic:claude-haiku-4-5"]
    assert "anthropic:claude-haiku-4-5" not in decision.chain()
    tiny = _router(catalog, budget=BudgetManager(BudgetSettings(per_run_usd=Decimal("0.0000001"))),
                  available=lambda p: p != "ollama")
    with pytest.raises(BudgetExceeded, match="per_run_usd|budget"):
        tiny.route(RouteRequest("x", complexity=1, max_output_tokens=1000))


def test_no_viable_model_is_all_models_failed(catalog):
    with pytest.raises(AllModelsFailed, match="no model can take this task"):
        _router(catalog).route(RouteRequest("x", complexity=1,
                                           capabilities=("vision", "live_search")))


def test_an_economy_task_no_economy_model_can_take_goes_up_to_balanced(catalog):
    decision = _router(catalog).route(RouteRequest("x", complexity=1, capabilities=("reasoning",)))
    assert decision.tier == "balanced"
    assert "no viable economy model → balanced" in decision.reason


def test_an_empty_tier_falls_to_the_tier_below(catalog):
    decision = _router(catalog).route(RouteRequest("x", complexity=5,
                                                  capabilities=("json_schema", "live_search")))
    assert decision.tier == "premium"  # grok-4 has both
    decision = _router(catalog, available=lambda p: p != "xai").route(
        RouteRequest("x", complexity=5, capabilities=("json_schema", "live_search")))
    assert (decision.tier, decision.model) == ("balanced", "perplexity:sonar-pro")
    assert "no viable premium model → balanced" in decision.reason


def test_fallbacks_other_providers_then_same_provider_then_lower_tier(catalog):
    decision = _router(catalog).route(RouteRequest("x", complexity=3))
    chain = decision.chain()
    assert len(chain) == len(set(chain))
    primary_provider = catalog.model(decision.model).provider
    tiers = [catalog.model(m).tier for m in chain]
    assert tiers == sorted(tiers, key=["balanced", "economy"].index)
    balanced_fallbacks = [m for m in decision.fallbacks if catalog.model(m).tier == "balanced"]
    providers = [catalog.model(m).provider for m in balanced_fallbacks]
    same = [i for i, p in enumerate(providers) if p == primary_provider]
    assert all(i >= len(providers) - len(same) for i in same)
    assert set(chain) == {m.id for m in catalog.models.values()
                          if m.tier in ("balanced", "economy") and not m.route_only_for}


def test_context_length_reroute_goes_to_bigger_windows_even_up_a_tier(catalog):
    router = _router(catalog)
    request = RouteRequest("x", complexity=1, prompt_tokens=100_000, max_output_tokens=1000)
    bigger = router.bigger_context(request, "groq:llama-3.3-70b-versatile",
                                   exclude=["anthropic:claude-haiku-4-5"])
    windows = [catalog.model(m).context_window for m in bigger]
    assert all(w > 131_072 for w in windows)
    assert "groq:llama-3.3-70b-versatile" not in bigger
    assert "anthropic:claude-haiku-4-5" not in bigger
    tiers = [catalog.model(m).tier for m in bigger]
    assert tiers[0] == "economy" and "balanced" in tiers and "premium" in tiers
    assert tiers == sorted(tiers, key=["economy", "balanced", "premium"].index)


def test_pinned_model_and_pinned_tier(catalog):
    router = _router(catalog)
    decision = router.route(RouteRequest("x", model="openai:gpt-4o"))
    assert decision.model == "openai:gpt-4o" and decision.tier == "balanced"
    assert "openai:gpt-4o" not in decision.fallbacks and "pinned" in decision.reason
    decision = router.route(RouteRequest("classify this", tier="premium"))
    assert decision.tier == "premium" and decision.reason.startswith("tier premium pinned")


def test_a_pinned_model_tried_alone_has_the_pinned_decision_without_fallbacks(catalog):
    router = _router(catalog)
    request = RouteRequest("write a haiku about tea", model="openai:gpt-4o")
    full, alone = router.route(request), router.pinned_alone(request)
    assert (alone.model, alone.tier, alone.complexity, alone.reason) == (
        full.model, full.tier, full.complexity, full.reason)
    assert full.fallbacks and alone.fallbacks == [] and alone.skipped == []
    assert alone.chain() == ["openai:gpt-4o"]


def test_unpriced_models_rank_at_the_tiers_priciest_and_are_flagged(catalog):
    models = dict(catalog.models)
    models["ollama:llama3.2"] = models["ollama:llama3.2"].model_copy(update={"price": None})
    unpriced_catalog = catalog.model_copy(update={"models": models})
    router = _router(unpriced_catalog)
    decision = router.route(RouteRequest("x", complexity=1))
    assert decision.model != "ollama:llama3.2"
    pinned = router.route(RouteRequest("x", model="ollama:llama3.2"))
    assert pinned.unpriced
    only = _router(unpriced_catalog, available=lambda p: p == "ollama").route(
        RouteRequest("x", complexity=1))
    assert only.model == "ollama:llama3.2" and "unpriced: ranked at economy's priciest" in only.reason


def test_observed_latency_breaks_cost_ties(catalog):
    models = dict(catalog.models)
    price = models["openai:gpt-4o-mini"].price
    models["deepseek:deepseek-chat"] = models["deepseek:deepseek-chat"].model_copy(
        update={"price": price})
    tied = catalog.model_copy(update={"models": models})
    latency = LatencyTracker()
    router = _router(tied, latency=latency, available=lambda p: p in ("openai", "deepseek"))
    latency.observe("openai:gpt-4o-mini", 900)
    latency.observe("deepseek:deepseek-chat", 200)
    assert router.route(RouteRequest("x", complexity=1)).model == "deepseek:deepseek-chat"
    for _ in range(10):
        latency.observe("deepseek:deepseek-chat", 5000)
    assert router.route(RouteRequest("x", complexity=1)).model == "openai:gpt-4o-mini"


def test_cap_skips_a_provider_over_its_share_and_says_so(catalog):
    router = _router(catalog)
    first = router.route(RouteRequest("x", complexity=1))
    provider = catalog.model(first.model).provider
    for _ in range(5):
        router.state.shares.record(provider)
    decision = router.route(RouteRequest("x", complexity=1))
    assert catalog.model(decision.model).provider != provider
    assert f"{provider} at 100% of calls → skipped" in decision.reason


def test_cap_yields_when_no_other_provider_can_take_it(catalog):
    router = _router(catalog)
    for _ in range(6):
        router.state.shares.record("perplexity")
    decision = router.route(RouteRequest("x", complexity=1, capabilities=("live_search",)))
    assert decision.model == "perplexity:sonar"
    assert "cap yields" in decision.reason


def test_day_window_counts_expire():
    now = [0.0]
    tracker = ShareTracker(ConcentrationSettings(cap=0.5, min_calls=2), clock=lambda: now[0],
                           history=[(-10.0, "openai"), (-5.0, "openai")])
    assert tracker.over_cap("openai") == 1.0
    now[0] = 86_400.0
    assert tracker.over_cap("openai") is None


TASKS = st.tuples(st.integers(1, 5), st.sampled_from([(), ("json_schema",), ("tools",),
                                                       ("stream", "json_schema")]))


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.5, max_value=0.95), st.lists(TASKS, min_size=1, max_size=60))
def test_no_provider_exceeds_the_cap_by_more_than_one_call(cap, tasks):
    catalog = default_catalog()
    min_calls = max(1, int(1 / (1 - cap) + 1e-9))
    policy = Policy(concentration=ConcentrationSettings(cap=cap, min_calls=min_calls))
    router = _router(catalog, policy)
    counts: Counter[str] = Counter()
    for total, (complexity, caps) in enumerate(tasks, start=1):
        decision = router.route(RouteRequest("task", complexity=complexity, capabilities=caps))
        provider = catalog.model(decision.model).provider
        router.state.shares.record(provider)
        counts[provider] += 1
        if total >= min_calls:
            assert all(n <= cap * total + 1 for n in counts.values()), (counts, total)


def test_available_may_be_a_set_of_providers(catalog):
    decision = _router(catalog, available={"openai", "anthropic"}).route(RouteRequest("x", complexity=1))
    assert {catalog.model(m).provider for m in decision.chain()} == {"openai", "anthropic"}


def test_orchestra_route_prints_the_decision(capsys):
    from core.cli import main

    assert main(["route", "Extract the dates", "--kind", "extract", "--capability", "json_schema",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"complexity", "tier", "model", "fallbacks", "reason"}
    assert (data["complexity"], data["tier"]) == (1, "economy")
    assert "json_schema" in data["reason"] and data["model"] not in data["fallbacks"]
    assert main(["route", "Design a proof", "--tier", "premium"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model:") and "tier: premium" in lines[1]
    assert any(line.startswith("fallbacks:") for line in lines)


def test_search_models_are_routed_to_only_when_the_task_needs_live_search(catalog):
    router = _router(catalog)
    general = router.route(RouteRequest("write a haiku", complexity=1))
    assert all(catalog.model(m).provider != "perplexity" for m in general.chain())
    assert "kept for tasks needing live_search" in _skips(general)["perplexity:sonar"]
    search = router.route(RouteRequest("latest news", complexity=1, capabilities=("live_search",)))
    assert search.model == "perplexity:sonar"


def test_a_poorly_rated_model_is_ranked_after_the_others_of_its_tier_and_says_why(catalog):
    baseline = _router(catalog).route(RouteRequest("write a haiku", complexity=1))
    cheapest = baseline.model
    router = _router(catalog, poorly_rated={cheapest: "rated 1.7/5 over 3 ratings"})
    decision = router.route(RouteRequest("write a haiku", complexity=1))
    assert decision.model != cheapest
    assert cheapest in decision.fallbacks  # still a fallback, ranked after its tier's others
    assert f"{cheapest} rated 1.7/5 over 3 ratings → ranked last" in decision.reason
