"""The heuristic as a ranker on its own (tier, price, ratings, latency, fall-down; it never
abstains while a model of its tiers is viable), and the router composing rankers: an optional
ranker first, the heuristic deciding when it abstains, the cap and filters kept by the router."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalog import TIERS, default_catalog
from core.errors import AllModelsFailed
from core.policy import Policy, TierThresholds
from core.routing.candidates import Candidate, RouteRequest
from core.routing.heuristic import HeuristicRanker
from core.routing.rankers import Ranking
from core.routing.router import Router
from core.routing.state import RoutingSnapshot, routing_state

CATALOG = default_catalog()
CANDIDATES = {m.id: Candidate(m, CATALOG) for m in CATALOG.models.values()}
GENERAL = [c for c in CANDIDATES.values() if not c.only_for]  # no search-only models
REQUEST = RouteRequest("Summarise the notes.", complexity=1, prompt_tokens=800,
                       max_output_tokens=400)


def _cost(cand: Candidate) -> tuple[float, float]:
    """Expected cost of REQUEST from the catalog's prices; ties go to the lower output price."""
    price = CATALOG.model(cand.id).price
    assert price is not None
    return (float(price.input_per_mtok) * 800 + float(price.output_per_mtok) * 400,
            float(price.output_per_mtok))


def _shuffled(cands: list[Candidate], seed: int = 3) -> list[Candidate]:
    out = list(cands)
    random.Random(seed).shuffle(out)
    return out


def _ids(cands: list[Candidate]) -> list[str]:
    return [c.id for c in cands]


# ── the heuristic on its own ─────────────────────────────────────────────────────────────
def test_it_ranks_the_tier_of_the_complexity_cheapest_first_then_the_tiers_below():
    ranking = HeuristicRanker().rank(REQUEST, _shuffled(GENERAL))
    economy = sorted((c for c in GENERAL if c.tier == "economy"), key=_cost)
    balanced = sorted((c for c in GENERAL if c.tier == "balanced"), key=_cost)
    assert not ranking.abstained
    assert _ids(ranking.order) == _ids(economy)
    assert ranking.reason == "complexity 1 → economy" and ranking.tiers == ("economy",)
    fallbacks = _ids(ranking.fallbacks(ranking.order[0]))
    assert fallbacks[len(economy) - 1:] == _ids(balanced)  # the tier below economy: balanced

    premium = HeuristicRanker().rank(RouteRequest("x", complexity=5), _shuffled(GENERAL))
    assert {c.tier for c in premium.order} == {"premium"}
    chain = [premium.order[0], *premium.fallbacks(premium.order[0])]
    assert [c.tier for c in chain] == sorted((c.tier for c in chain),
                                             key=("premium", "balanced", "economy").index)


def test_the_policy_thresholds_pick_the_tier_and_a_pinned_tier_wins():
    ranker = HeuristicRanker(TierThresholds(economy_max=0, balanced_max=1))
    assert ranker.rank(RouteRequest("x", complexity=1), GENERAL).order[0].tier == "balanced"
    pinned = ranker.rank(RouteRequest("x", complexity=1, tier="premium"), GENERAL)
    assert pinned.order[0].tier == "premium"
    assert pinned.reason == "tier premium pinned (complexity 1)"
    scored = HeuristicRanker().rank(RouteRequest("Design the architecture and prove it."), GENERAL)
    assert scored.reason.startswith("complexity ")  # scored from the text when not given


def test_a_poorly_rated_model_goes_last_and_latency_breaks_cost_ties():
    economy = [c for c in GENERAL if c.tier == "economy"]
    cheapest = min(economy, key=_cost)
    rated = HeuristicRanker(snapshot=RoutingSnapshot(poorly_rated={cheapest.id: "rated 1.5/5"}))
    ranking = rated.rank(REQUEST, economy)
    assert ranking.order[-1] is cheapest
    assert f"{cheapest.id} rated 1.5/5 → ranked last" in ranking.explain("heuristic",
                                                                         ranking.order[0])
    models = dict(CATALOG.models)
    models["deepseek:deepseek-chat"] = models["deepseek:deepseek-chat"].model_copy(
        update={"price": models["openai:gpt-4o-mini"].price})
    tied_catalog = CATALOG.model_copy(update={"models": models})
    tied = [Candidate(models[i], tied_catalog) for i in ("openai:gpt-4o-mini",
                                                         "deepseek:deepseek-chat")]
    for fast, slow in (tied, tied[::-1]):
        snapshot = RoutingSnapshot(latency_ms={fast.id: 100.0, slow.id: 900.0})
        ordered = HeuristicRanker(snapshot=snapshot).ordered(REQUEST, [slow, fast])
        assert ordered == [fast, slow]


def test_an_empty_tier_falls_down_and_says_so():
    no_balanced = [c for c in GENERAL if c.tier != "balanced"]
    ranking = HeuristicRanker().rank(RouteRequest("x", complexity=3), no_balanced)
    assert {c.tier for c in ranking.order} == {"economy"}
    assert ranking.reason == "complexity 3 → balanced; no viable balanced model → economy"
    assert ranking.tiers == ("balanced", "economy")
    up = HeuristicRanker().rank(RouteRequest("x", complexity=1),
                                [c for c in GENERAL if c.tier == "balanced"])
    assert up.order and "no viable economy model → balanced" in up.reason


def test_fallbacks_try_other_providers_before_the_primarys_own_and_explain_the_choice():
    ranking = HeuristicRanker().rank(REQUEST, GENERAL)
    groq = [c for c in ranking.order if c.provider == "groq"]
    assert len(groq) == 2 and ranking.order[0].provider != "groq"
    primary = groq[-1]  # as if the cap had passed over every cheaper model
    others = [c for c in ranking.order if c.provider != "groq"]
    balanced = sorted((c for c in GENERAL if c.tier == "balanced"), key=_cost)
    assert ranking.fallbacks(primary) == [*others, groq[0], *balanced]
    explained = ranking.explain("heuristic", primary)
    assert explained == f"complexity 1 → economy; {primary.id} next cheapest"
    first = ranking.explain("heuristic", ranking.order[0])
    assert first == f"complexity 1 → economy; {ranking.order[0].id} cheapest"


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.sets(st.sampled_from(sorted(CANDIDATES)), min_size=1))
def test_it_never_abstains_while_a_model_of_its_tiers_is_viable(complexity, ids):
    viable = [CANDIDATES[i] for i in sorted(ids)]
    ranking = HeuristicRanker().rank(RouteRequest("x", complexity=complexity), viable)
    tiers = {1: ("economy", "balanced"), 2: ("economy", "balanced"),
             3: ("balanced", "economy")}.get(complexity, TIERS)
    assert ranking.abstained == all(c.tier not in tiers for c in viable)
    if not ranking.abstained:
        chain = [ranking.order[0], *ranking.fallbacks(ranking.order[0])]
        assert len(chain) == len(set(chain)) and set(chain) <= set(viable)


# ── composition in the router ────────────────────────────────────────────────────────────
class FakeRanker:
    """A ranker scripted by the test: abstains, or orders the viable candidates dearest first;
    records what it was shown."""

    name = "fake"

    def __init__(self, abstain: bool) -> None:
        self.abstain = abstain
        self.seen: list[list[Candidate]] = []

    def rank(self, request: RouteRequest, viable: list[Candidate]) -> Ranking:
        self.seen.append(list(viable))
        if self.abstain:
            return Ranking([], "too few outcomes")
        return Ranking(sorted(viable, key=lambda c: -c.out_rate), "dearest first")


def _router(ranker=None, **state):
    policy = Policy()
    return Router(CATALOG, policy, routing_state(policy, **state), ranker=ranker)


def test_an_abstaining_ranker_leaves_the_decision_to_the_heuristic_and_the_reason_says_so():
    request = RouteRequest("write a haiku", complexity=1)
    fake = FakeRanker(abstain=True)
    decision = _router(fake).route(request)
    alone = _router().route(request)
    assert (decision.model, decision.fallbacks, decision.tier) == (alone.model, alone.fallbacks,
                                                                   alone.tier)
    assert decision.reason == f"fake ranker abstained (too few outcomes) → heuristic; {alone.reason}"
    assert len(fake.seen) == 1


def test_a_ranker_that_decides_wins_and_the_router_still_filters_and_caps():
    fake = FakeRanker(abstain=False)
    router = _router(fake, configured=lambda provider: provider != "anthropic")
    decision = router.route(RouteRequest("x", complexity=1))
    viable = fake.seen[0]
    assert all(c.provider != "anthropic" and not c.only_for for c in viable)
    assert [c.tier for c in viable] == sorted((c.tier for c in viable), key=TIERS.index)
    dearest = max(viable, key=lambda c: c.out_rate)
    assert decision.model == dearest.id and decision.reason.startswith("fake: dearest first")
    assert decision.fallbacks == [c.id for c in sorted(viable, key=lambda c: -c.out_rate)][1:]
    for _ in range(6):
        router.state.shares.record(dearest.provider)
    capped = router.route(RouteRequest("x", complexity=1))
    assert CATALOG.model(capped.model).provider != dearest.provider
    assert f"{dearest.provider} at 100% of calls → skipped" in capped.reason


def test_a_pinned_tier_is_the_heuristics_alone():
    fake = FakeRanker(abstain=False)
    decision = _router(fake).route(RouteRequest("x", complexity=1, tier="premium"))
    assert not fake.seen and decision.reason.startswith("tier premium pinned")


def test_with_nothing_viable_the_optional_ranker_is_not_asked():
    fake = FakeRanker(abstain=False)
    with pytest.raises(AllModelsFailed, match=r"no model can take this task \(fake ranker\)"):
        _router(fake).route(RouteRequest("x", complexity=1, prompt_tokens=10_000_000))
    assert not fake.seen


def test_rankers_see_a_snapshot_not_the_live_state():
    state = routing_state(Policy())
    snapshot = state.snapshot()
    state.latency.observe("openai:gpt-4o-mini", 500.0)
    state.poorly_rated["openai:gpt-4o-mini"] = "rated 1/5"
    assert not snapshot.latency_ms and not snapshot.poorly_rated
    assert state.snapshot().latency_ms == {"openai:gpt-4o-mini": 500.0}
