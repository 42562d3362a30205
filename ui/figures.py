"""View models for the Models, Compare and History pages: rows and figures, no Streamlit.

Every figure comes from ``core`` (catalog, policy, ledger queries, pattern results); these
functions only shape it for display.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.catalog import Catalog, Price
from core.errors import ConfigError
from core.ledger import Headline, HistoryFilter, Ledger, export_attempts, grouped_history
from core.patterns.common import ModelAnswer
from core.patterns.judge import JudgeScore
from core.policy import Policy
from core.secrets import mask_key
from core.settings import Settings
from ui.views import money

NO_BREAKER_CALLS = "closed (no calls yet)"


# ── models and budgets ───────────────────────────────────────────────────────────────────────
def key_rows(settings: Settings, modes: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per provider: mode and its key (from the settings: environment or secrets),
    masked (``sk-…9f2c``) or 'not set'."""
    return [{
        "provider": spec.label, "name": name, "mode": modes.get(name, "sandbox"),
        "key": "local server" if spec.local else mask_key(settings.keys.get(name)),
        "key variable": spec.base_url_env if spec.local else spec.key_env,
    } for name, spec in settings.catalog.providers.items()]


def breaker_rows(providers: Iterable[str], state: Mapping[str, Mapping[str, Any]] | None
                 ) -> list[dict[str, Any]]:
    """Each provider's breaker, or 'closed (no calls yet)' when this dashboard has not called
    it since it started."""
    rows = []
    for name in providers:
        snap = (state or {}).get(name)
        if snap is None:
            rows.append({"provider": name, "state": NO_BREAKER_CALLS, "failures": 0,
                         "probe in (s)": 0.0})
        else:
            rows.append({"provider": name, "state": snap["state"], "failures": snap["failures"],
                         "probe in (s)": snap["retry_in_s"]})
    return rows


def spend_today_by_provider(ledger: Ledger) -> dict[str, float]:
    """Today's (UTC) spend per provider from the ledger."""
    today = datetime.now(timezone.utc).date()
    frame = grouped_history(HistoryFilter(since=today, until=today), by="provider",
                            ledger=ledger)
    return {str(row.provider): float(row.spend_usd) for row in frame.itertuples()}


def budget_rows(policy: Policy, spend_today: Mapping[str, float], providers: Iterable[str]
                ) -> list[dict[str, Any]]:
    """Today's spend per provider against its daily budget, then the global line."""
    per_provider = float(policy.budget.per_provider_per_day_usd)
    rows = [_burn_row(name, spend_today.get(name, 0.0), per_provider) for name in providers]
    rows.append(_burn_row("all providers", sum(spend_today.values()),
                          float(policy.budget.global_per_day_usd)))
    return rows


def _burn_row(who: str, spent: float, limit: float) -> dict[str, Any]:
    return {"budget": who, "spent today ($)": round(spent, 6), "daily budget ($)": limit,
            "burn": min(spent / limit, 1.0) if limit else 0.0}


POLICY_LABELS = {
    "tiers.economy_max": "Economy up to", "tiers.balanced_max": "Balanced up to",
    "concentration.cap": "Max share of calls per provider",
    "concentration.min_calls": "Applies after calls", "budget.per_run_usd": "Per run budget",
    "budget.per_provider_per_day_usd": "Per provider per day budget",
    "budget.global_per_day_usd": "All providers per day budget", "budget.warn_at": "Warn at",
}
_LIMITS = {"greater_than": "more than {gt}", "greater_than_equal": "at least {ge}",
           "less_than": "less than {lt}", "less_than_equal": "at most {le}"}


def edited_policy(policy: Policy, edits: Mapping[str, Mapping[str, Any]]) -> Policy:
    """``policy`` with some sections' fields replaced, validated; ``ConfigError`` is one plain
    sentence naming the setting as the page labels it and what to change."""
    raw = policy.model_dump()
    for section, values in edits.items():
        raw[section] = {**raw[section], **values}
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(plain_policy_problem(exc)) from exc


def plain_policy_problem(exc: ValidationError) -> str:
    """The first problem of a policy edit as one sentence that says what to change."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if where == "tiers" and first["type"] == "value_error":  # the tiers' order check
        return ("Balanced up to must be at least Economy up to: raise Balanced up to or lower "
                "Economy up to.")
    label = POLICY_LABELS.get(where, where or "A setting")
    limit = _LIMITS.get(first["type"])
    if limit is not None:
        return f"{label} must be {limit.format(**first.get('ctx', {}))}: change it and save again."
    return f"{label} is not valid ({first['msg']}): change it and save again."


# ── compare ──────────────────────────────────────────────────────────────────────────────────
def answer_stats(answer: ModelAnswer) -> str:
    """The line under an answer: latency, time to first token, tokens and cost (or the error)."""
    if not answer.ok:
        return f"❌ {answer.error_class}: {answer.error}"
    ttft = f"{answer.ttft_ms:,.0f} ms" if answer.ttft_ms is not None else "n/a"
    usage = answer.usage
    return (f"⏱ {answer.latency_ms:,.0f} ms · TTFT {ttft} · "
            f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens · "
            f"{money(answer.cost_usd)} · {answer.mode}")


def judge_line(score: JudgeScore) -> str:
    """The judge's verdict on one answer, or why there is none."""
    if score.score is None:
        return f"⚖️ judge: no score ({score.error_class}: {score.error})"
    return f"⚖️ judge: {'★' * score.score} {score.score}/5 — {score.reason}"


# ── history ──────────────────────────────────────────────────────────────────────────────────
def baseline_price(catalog: Catalog, policy: Policy) -> tuple[str, Price | None]:
    """The savings baseline model and its price (None when it cannot be priced)."""
    try:
        model_id = policy.baseline_model(catalog)
    except ConfigError:
        return "", None
    return model_id, catalog.model(model_id).price


def headline_figures(head: Headline) -> list[tuple[str, str]]:
    """The history headline as (label, value) pairs."""
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f} ms"

    unpriced = f" + {head.unpriced_calls} unpriced" if head.unpriced_calls else ""
    saving = "n/a" if head.saving_usd is None else money(head.saving_usd)
    return [
        ("Spend", money(head.spend_usd) + unpriced),
        ("Calls", f"{head.calls:,}"),
        ("Failure rate", f"{head.failure_rate:.1%}"),
        ("p50 latency", ms(head.p50_latency_ms)),
        ("p95 latency", ms(head.p95_latency_ms)),
        ("Saving vs baseline", saving),
    ]


def run_choices(ledger: Ledger, limit: int = 100) -> dict[str, str]:
    """Recent runs for a filter: run id → a short label with its demand."""
    return {r.run_id: f"{r.run_id[:8]} · {r.demand[:50]} ({r.status})"
            for r in ledger.recent_runs(limit)}


def attempts_csv(flt: HistoryFilter, ledger: Ledger) -> bytes:
    """Every attempt matching ``flt`` as CSV (written by DuckDB's COPY)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "attempts.csv"
        export_attempts(flt, path, "csv", ledger=ledger)
        return path.read_bytes()


def attempts_parquet(flt: HistoryFilter, ledger: Ledger) -> bytes:
    """Every attempt matching ``flt`` as Parquet (written by DuckDB's COPY)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "attempts.parquet"
        export_attempts(flt, path, "parquet", ledger=ledger)
        return path.read_bytes()
