"""The learned ranker on a ledger of outcomes: it routes by predicted quality and cost, explains
itself, keeps its model file reproducible, and leaves the decision to the heuristic (saying why)
when it has too little to go on."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pytest

from core.calls.factory import open_stack
from core.calls.gateway import Gateway
from core.catalog import default_catalog
from core.ledger import Ledger
from core.ledger.outcomes import OutcomeRecord, record_outcomes
from core.policy import Policy, RoutingSettings
from core.routing.candidates import RouteRequest
from core.routing.learned_ranker import (
    LearnedRanker,
    learned_ranker_for,
    load_or_train,
    model_file,
    train_from_ledger,
)
from core.routing.router import Router
from core.sandbox.config import SandboxConfig
from core.types import ChatRequest

CHEAP, DEAR = "openai:gpt-4o-mini", "anthropic:claude-opus-4-5"
TOPICS = {"poetry": (CHEAP, DEAR), "algebra": (DEAR,)}  # topic: models that answer it well


def _prompt(topic: str, i: int, rng: random.Random) -> str:
    filler = " ".join(rng.choice(("please", "kindly", "briefly", "now")) for _ in range(3))
    return f"A {topic} question {i}: {filler} tell me about {topic} matters."


def _outcomes(count: int, seed: int = 1) -> list[OutcomeRecord]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        topic = rng.choice(sorted(TOPICS))
        text = _prompt(topic, i, rng)
        for model in (CHEAP, DEAR):
            good = model in TOPICS[topic]
            rows.append(OutcomeRecord(prompt=text, model=model, score=1.0 if good else 0.0,
                                      source="import", dataset="topics",
                                      cost_usd=Decimal("0.0001" if model == CHEAP else "0.01"),
                                      output_tokens=120))
    return rows


def _policy(**routing: object) -> Policy:
    return Policy(routing=RoutingSettings(**{"mode": "learned", "min_outcomes": 20, **routing}))


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.duckdb")
    record_outcomes(ledger, _outcomes(120))
    return ledger


def _route(ranker, text: str):
    return Router(default_catalog(), _policy(), ranker=ranker).route(RouteRequest(text=text))


def test_routes_each_prompt_to_the_cheapest_model_good_enough_and_says_why(ledger):
    ranker = learned_ranker_for(_policy(), ledger)
    assert isinstance(ranker, LearnedRanker)
    easy = _route(ranker, "A poetry question 999: kindly now tell me about poetry matters.")
    assert easy.model == CHEAP
    assert "learned: predicted" in easy.reason and "similar prompts" in easy.reason
    assert f"→ {CHEAP}" in easy.reason
    hard = _route(ranker, "An algebra question 998: please briefly tell me about algebra.")
    assert hard.model == DEAR
    assert f"for {DEAR} from" in hard.reason
    assert "without enough outcomes ranked after" in hard.reason
    assert hard.fallbacks, "the other models stay as fallbacks"


def test_target_quality_takes_the_cheapest_predicted_to_reach_it(ledger):
    policy = _policy(target_quality=0.55)
    ranker = learned_ranker_for(policy, ledger)
    router = Router(default_catalog(), policy, ranker=ranker)
    poetry = router.route(RouteRequest(text="A poetry question 7: now tell me about poetry."))
    assert poetry.model == CHEAP and "target 0.55" in poetry.reason
    algebra = router.route(RouteRequest(text="An algebra question 8: now about algebra."))
    assert algebra.model == DEAR


def test_a_prompt_far_from_anything_seen_falls_back_to_the_heuristic(ledger):
    ranker = learned_ranker_for(_policy(max_distance=0.5), ledger)
    decision = _route(ranker, "zebra xylophone quasar")
    assert "learned ranker abstained (prompt is far from every seen prompt" in decision.reason
    heuristic = Router(default_catalog(), _policy()).route(RouteRequest(text="zebra xylophone quasar"))
    assert decision.model == heuristic.model


def test_too_few_outcomes_falls_back_to_the_heuristic(ledger):
    ranker = learned_ranker_for(_policy(min_outcomes=500), ledger)
    assert ranker is not None
    decision = _route(ranker, "A poetry question: tell me about poetry matters.")
    assert "learned ranker abstained (0 of" in decision.reason and "500+ outcomes" in decision.reason


def test_no_ranker_in_heuristic_mode_or_without_outcomes(ledger, tmp_path):
    assert learned_ranker_for(Policy(), ledger) is None
    assert learned_ranker_for(_policy(), Ledger(tmp_path / "empty.duckdb")) is None


def test_model_file_is_reused_until_the_outcomes_change(ledger):
    first = load_or_train(ledger)
    assert first is not None and model_file(ledger).exists()
    stamp = model_file(ledger).stat().st_mtime_ns
    again = load_or_train(ledger)
    assert again is not None and again.model.data_hash == first.model.data_hash
    assert model_file(ledger).stat().st_mtime_ns == stamp, "same outcomes: not retrained"
    record_outcomes(ledger, _outcomes(30, seed=9))
    changed = load_or_train(ledger)
    assert changed is not None and changed.model.data_hash != first.model.data_hash


def test_training_is_reproducible(ledger):
    one, two = train_from_ledger(ledger), train_from_ledger(ledger)
    assert one is not None and two is not None
    assert one.model.seed == two.model.seed and one.model.data_hash == two.model.data_hash
    texts = ["A poetry question: hi", "An algebra question: hi"]
    np.testing.assert_array_equal(one.model.predict(texts), two.model.predict(texts))


def test_cross_validated_retraining_from_the_ledger(tmp_path):
    ledger = Ledger(tmp_path / "big.duckdb")
    record_outcomes(ledger, _outcomes(220))
    trained = train_from_ledger(ledger, cross_validate=True)
    assert trained is not None
    predicted = trained.model.predict(["An algebra question: tell me about algebra matters."])[0]
    columns = {m: j for j, m in enumerate(trained.model.models)}
    assert predicted[columns[DEAR]] > predicted[columns[CHEAP]] + 0.3


async def test_a_call_through_the_stack_is_routed_by_the_learned_ranker(ledger):
    policy = _policy()
    attempts = []
    gateway = Gateway(default_catalog(), sandbox=SandboxConfig(latency_scale=0))
    stack = open_stack(gateway, policy, ledger, on_attempt=attempts.append,
                       ranker=learned_ranker_for(policy, ledger))
    try:
        for text, expected in (("A poetry question 5: now tell me about poetry matters.", CHEAP),
                               ("An algebra question 6: kindly tell me about algebra.", DEAR)):
            outcome = await stack.call(ChatRequest.of("", text, max_tokens=40), RouteRequest(text))
            assert outcome.model == expected
            assert outcome.decision.reason.startswith("learned: predicted")
            assert attempts[-1].model == expected and "learned: predicted" in attempts[-1].reason
    finally:
        await gateway.aclose()
