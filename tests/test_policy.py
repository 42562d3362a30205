"""The routing policy file: defaults, validation, round trip, baseline model."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ConfigError
from core.policy import DEFAULT_POLICY, Policy, load_policy, save_policy


def test_shipped_file_matches_the_defaults():
    assert load_policy(DEFAULT_POLICY) == Policy()


@pytest.mark.parametrize(
    ("complexity", "tier"),
    [(1, "economy"), (2, "economy"), (3, "balanced"), (4, "premium"), (5, "premium")],
)
def test_default_tier_mapping(complexity, tier):
    assert Policy().tiers.tier_for(complexity) == tier


def test_save_then_load_round_trips(tmp_path):
    policy = Policy()
    policy.budget.per_run_usd = Decimal("12.50")
    policy.concentration.cap = 0.6
    policy.tiers.economy_max = 1
    path = save_policy(policy, tmp_path / "policy.toml")
    loaded = load_policy(path)
    assert loaded == policy
    assert loaded.budget.per_run_usd == Decimal("12.50")
    assert loaded.tiers.tier_for(2) == "balanced"


def test_env_variable_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text("[retry]\nmax_attempts = 7\n")
    monkeypatch.setenv("ORCHESTRA_POLICY", str(path))
    assert load_policy().retry.max_attempts == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[budget]\nper_run_usd = -1\n", "budget.per_run_usd"),
        ("[concentration]\ncap = 1.5\n", "concentration.cap"),
        ("[retry]\nbase_s = 1\nbogus = 2\n", "unknown setting 'retry.bogus'"),
        ("[tiers]\neconomy_max = 4\nbalanced_max = 3\n", "balanced_max must be at least"),
        ("[budget\n", "not valid TOML"),
    ],
)
def test_invalid_file_is_one_line_config_error(tmp_path, text, expected):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_missing_explicit_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "nope.toml")


def test_invalid_assignment_is_refused():
    policy = Policy()
    with pytest.raises(ValueError):
        policy.retry.max_attempts = 0


def test_baseline_defaults_to_priciest_premium_model(catalog):
    baseline = Policy().baseline_model(catalog)
    premium = [m for m in catalog.by_tier("premium") if m.price is not None]
    priciest = max(premium, key=lambda m: m.price.input_per_mtok + m.price.output_per_mtok)
    assert baseline == priciest.id


def test_configured_baseline_is_checked_against_the_catalog(catalog):
    policy = Policy()
    policy.savings.baseline_model = "openai:gpt-4o"
    assert policy.baseline_model(catalog) == "openai:gpt-4o"
    policy.savings.baseline_model = "openai:nope"
    with pytest.raises(ConfigError):
        policy.baseline_model(catalog)
