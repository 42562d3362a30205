"""Budgets: reservations, settlement, warnings, day roll-over, concurrency."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.routing.budget import BudgetManager, tier_ceiling_price, worst_case_for
from core.errors import BudgetExceeded
from core.policy import BudgetSettings

D = Decimal


def _settings(run="1", provider="0.6", day="5") -> BudgetSettings:
    return BudgetSettings(per_run_usd=D(run), per_provider_per_day_usd=D(provider),
                          global_per_day_usd=D(day))


def test_settle_replaces_the_worst_case_by_the_actual_cost():
    budget = BudgetManager(_settings(provider="5"))
    res = budget.reserve("openai", D("0.5"))
    assert budget.headroom("anthropic")[0] == D("0.5")
    assert budget.settle(res, D("0.1")) == D("0.1")
    assert budget.spent()["run"] == D("0.1")
    assert budget.headroom("anthropic") == (D("0.9"), "per-run")


def test_unpriced_settlement_keeps_the_worst_case():
    budget = BudgetManager(_settings())
    res = budget.reserve("ollama", D("0.3"), unpriced=True)
    assert budget.settle(res, None) == D("0.3")


def test_release_costs_nothing_and_settling_twice_counts_once():
    budget = BudgetManager(_settings())
    res = budget.reserve("openai", D("0.4"))
    budget.release(res)
    assert budget.spent()["run"] == 0
    res = budget.reserve("openai", D("0.4"))
    budget.settle(res, D("0.2"))
    assert budget.settle(res, D("0.2")) == 0
    assert budget.spent()["run"] == D("0.2")


@pytest.mark.parametrize(
    ("provider", "amount", "budget_name", "field"),
    [("openai", "0.7", "per-provider-per-day budget for openai", "per_provider_per_day_usd"),
     ("openai", "0.55", "per-run", "per_run_usd")],
)
def test_exceeding_says_which_budget_and_how_to_raise_it(provider, amount, budget_name, field):
    budget = BudgetManager(_settings(), spent_today={"anthropic": D("0")})
    if budget_name == "per-run":
        budget.settle(budget.reserve("anthropic", D("0.5")), D("0.5"))
    with pytest.raises(BudgetExceeded) as info:
        budget.reserve(provider, D(amount))
    message = str(info.value)
    assert budget_name in message and field in message and "\n" not in message


def test_day_spend_seeded_from_the_ledger_counts():
    budget = BudgetManager(_settings(run="100", day="1"), spent_today={"openai": D("0.55")})
    assert budget.check("openai", D("0.1")) is not None  # 0.55 + 0.1 > 0.6 per provider
    assert budget.check("groq", D("0.4")) is None
    assert "global-per-day" in budget.check("groq", D("0.5"))


def test_warning_fires_once_at_eighty_percent():
    warnings = []
    budget = BudgetManager(_settings(run="1", provider="100", day="100"), on_warning=warnings.append)
    budget.settle(budget.reserve("openai", D("0.7")), D("0.7"))
    assert warnings == []
    budget.settle(budget.reserve("openai", D("0.1")), D("0.1"))
    assert [w.budget for w in warnings] == ["per-run"]
    assert "80%" in warnings[0].message
    budget.settle(budget.reserve("openai", D("0.1")), D("0.1"))
    assert len(warnings) == 1


def test_day_rolls_over_at_utc_midnight():
    now = [1_700_000_000.0]
    budget = BudgetManager(_settings(run="100", provider="0.5"), clock=lambda: now[0])
    budget.settle(budget.reserve("openai", D("0.5")), D("0.5"))
    assert budget.check("openai", D("0.1")) is not None
    now[0] += 86_400
    assert budget.check("openai", D("0.1")) is None


def test_unpriced_models_are_budgeted_at_their_tiers_priciest(catalog):
    haiku = catalog.model("anthropic:claude-haiku-4-5")
    unpriced = haiku.model_copy(update={"price": None})
    worst, flagged = worst_case_for(catalog, unpriced, 1000, 1000)
    ceiling = tier_ceiling_price(catalog, "economy")
    assert flagged is True
    assert worst == (1000 * ceiling.input_per_mtok + 1000 * ceiling.output_per_mtok) / 1_000_000
    assert worst > 0
    assert worst_case_for(catalog, haiku, 1000, 1000)[1] is False


async def _one_call(budget: BudgetManager, provider: str, cost: Decimal, spend: float,
                    rng: random.Random) -> None:
    try:
        res = budget.reserve(provider, cost)
    except BudgetExceeded:
        return
    await asyncio.sleep(rng.random() / 1000)
    if spend < 0.2:
        budget.release(res)  # failed without usage
    else:
        budget.settle(res, (cost * D(str(spend))).quantize(D("0.000001")))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["openai", "anthropic", "groq"]),
                          st.decimals(min_value="0.0001", max_value="0.2", places=4),
                          st.floats(min_value=0, max_value=1)),
                min_size=256, max_size=256),
       st.integers(0, 1000))
def test_concurrent_reservations_never_overspend(calls, seed):
    limits = _settings(run="3", provider="1.5", day="4")
    budget = BudgetManager(limits, spent_today={"groq": D("0.5")})
    rng = random.Random(seed)

    async def main() -> None:
        await asyncio.gather(*(_one_call(budget, p, c, s, rng) for p, c, s in calls))

    asyncio.run(main())
    spent = budget.spent()
    assert spent["run"] <= limits.per_run_usd
    assert spent["today"] <= limits.global_per_day_usd
    assert all(v <= limits.per_provider_per_day_usd for v in spent["today_by_provider"].values())
    assert budget.headroom("openai")[0] >= 0
