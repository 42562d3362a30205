"""The policy as the dashboard edits it: the shipped file stays as it is, edits go to a local
override layered over it (comments kept), or to the file ``ORCHESTRA_POLICY`` names."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.policy import DEFAULT_POLICY, LOCAL_POLICY_ENV, Policy, load_policy, save_policy


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ORCHESTRA_POLICY; the override file in a temporary folder."""
    monkeypatch.delenv("ORCHESTRA_POLICY", raising=False)
    override = tmp_path / "policy.local.toml"
    monkeypatch.setenv(LOCAL_POLICY_ENV, str(override))
    return override


def test_an_edit_goes_to_the_override_and_leaves_the_shipped_file_alone(local: Path) -> None:
    shipped = DEFAULT_POLICY.read_bytes()
    policy = load_policy()
    policy.budget.per_run_usd = Decimal("0.25")
    assert save_policy(policy) == local
    assert DEFAULT_POLICY.read_bytes() == shipped
    text = local.read_text()
    assert text.startswith("# Local policy overrides")
    assert "[budget]" in text and "per_run_usd = 0.25" in text
    assert "[retry]" not in text and "warn_at" not in text  # only what differs
    assert load_policy().budget.per_run_usd == Decimal("0.25")
    assert load_policy().retry == Policy().retry


def test_the_override_keeps_its_comments_and_drops_settings_back_at_the_default(local: Path
                                                                                ) -> None:
    local.write_text("# my notes\n[budget]\n# cheap while testing\nper_run_usd = 0.5\n"
                     "[concentration]\ncap = 0.6\n")
    policy = load_policy()
    assert policy.concentration.cap == 0.6
    policy.budget.per_run_usd = Decimal("0.75")
    policy.concentration.cap = Policy().concentration.cap
    save_policy(policy)
    text = local.read_text()
    assert "# my notes" in text and "# cheap while testing" in text
    assert "per_run_usd = 0.75" in text and "[concentration]" not in text


def test_a_named_policy_file_is_edited_in_place_with_its_comments(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    named = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, named)
    monkeypatch.setenv("ORCHESTRA_POLICY", str(named))
    policy = load_policy()
    policy.tiers.economy_max = 1
    assert save_policy(policy) == named
    text = named.read_text()
    assert "# complexity 1–5 → tier" in text and "economy_max = 1" in text
    assert text.replace("economy_max = 1", "economy_max = 2") == DEFAULT_POLICY.read_text()


def test_a_bad_override_is_named_in_one_line(local: Path) -> None:
    local.write_text("[budget]\nper_run_usd = -1\n")
    with pytest.raises(ConfigError) as info:
        load_policy()
    assert str(local) in str(info.value) and "budget.per_run_usd" in str(info.value)
    assert "\n" not in str(info.value)
