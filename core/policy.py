"""The routing policy: tiers, concentration cap, budgets, retries, breakers, deadlines, baseline.

It lives in ``data/policy.toml`` (or the file named by ``ORCHESTRA_POLICY``). ``load_policy``
validates it strictly; ``save_policy`` writes it back, so the dashboard can edit it. A bad file
raises ``ConfigError`` with one line that names the field and how to fix it.

Without ``ORCHESTRA_POLICY``, the shipped ``data/policy.toml`` is never written: edits go to a
local, git-ignored override (``data/policy.local.toml``, or the file named by
``ORCHESTRA_POLICY_LOCAL``) holding only the settings that differ from the shipped ones, and
``load_policy`` layers it over the shipped file. Saving keeps every comment of the file it edits
(``tomlkit``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
import tomllib
from decimal import Decimal
from typing import Any, Literal
from pathlib import Path

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.catalog import DATA_DIR, Catalog, Tier
from core.errors import ConfigError
from core.tools.settings import ToolSettings

DEFAULT_POLICY = DATA_DIR / "policy.toml"
DEFAULT_LOCAL_POLICY = DATA_DIR / "policy.local.toml"
LOCAL_POLICY_ENV = "ORCHESTRA_POLICY_LOCAL"
_LOCAL_HEADER = ("Local policy overrides (git-ignored), layered over data/policy.toml; "
                 "only the settings that differ from it.")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TierThresholds(_Section):
    """Complexity → tier: up to ``economy_max`` economy, up to ``balanced_max`` balanced."""

    economy_max: int = Field(default=2, ge=0, le=5)
    balanced_max: int = Field(default=3, ge=0, le=5)

    @model_validator(mode="after")
    def _ordered(self) -> "TierThresholds":
        if self.balanced_max < self.economy_max:
            raise ValueError("balanced_max must be at least economy_max")
        return self

    def tier_for(self, complexity: int) -> Tier:
        """The tier a complexity score (1–5) routes to."""
        if complexity <= self.economy_max:
            return "economy"
        if complexity <= self.balanced_max:
            return "balanced"
        return "premium"


class ConcentrationSettings(_Section):
    """No provider above ``cap`` of the calls, once ``min_calls`` calls have been made."""

    cap: float = Field(default=0.8, gt=0.0, le=1.0)
    min_calls: int = Field(default=5, ge=1, le=10_000)


class BudgetSettings(_Section):
    """Spending limits in USD and the fraction at which a warning fires."""

    per_run_usd: Decimal = Field(default=Decimal("5"), gt=0, le=1_000_000)
    per_provider_per_day_usd: Decimal = Field(default=Decimal("20"), gt=0, le=1_000_000)
    global_per_day_usd: Decimal = Field(default=Decimal("50"), gt=0, le=1_000_000)
    warn_at: float = Field(default=0.8, gt=0.0, le=1.0)


class RetrySettings(_Section):
    """Exponential backoff with full jitter: ``base_s`` doubling up to ``cap_s``."""

    base_s: float = Field(default=0.5, ge=0.0, le=60.0)
    cap_s: float = Field(default=20.0, ge=0.0, le=600.0)
    max_attempts: int = Field(default=3, ge=1, le=20)


class BreakerSettings(_Section):
    """Open a provider's breaker after ``failure_threshold`` failures in a row."""

    failure_threshold: int = Field(default=5, ge=1, le=1000)
    cooldown_s: float = Field(default=30.0, ge=0.0, le=86_400.0)


class TaskSettings(_Section):
    """Per-task limits."""

    deadline_s: float = Field(default=180.0, gt=0.0, le=86_400.0)


class ComplexitySettings(_Section):
    """How tasks are scored 1–5: the heuristic, or an economy model (``model``; empty = the
    cheapest economy model with JSON output), falling back to the heuristic on any failure."""

    mode: Literal["heuristic", "llm"] = "heuristic"
    model: str = ""


class QualitySettings(_Section):
    """What ratings (people's and judges') do to routing: a model rated below ``min_mean`` (1–5) over at least
    ``min_ratings`` ratings is ranked after every other viable model of its tier."""

    min_ratings: int = Field(default=3, ge=1, le=100_000)
    min_mean: float = Field(default=2.5, ge=1.0, le=5.0)


class RoutingSettings(_Section):
    """Who orders the candidates: ``heuristic`` (complexity → tier → cheapest) or ``learned``
    (predicted quality and cost from the ledger's outcomes; ``core.routing.learned``). The
    learned ranker weighs quality against cost by ``quality_weight`` (1 = quality at any price,
    0 = cheapest), or, when ``target_quality`` is above 0, takes the cheapest model predicted to
    reach it. It abstains, and the heuristic decides, for a model with fewer than
    ``min_outcomes`` outcomes, or a prompt whose nearest seen prompt is farther than
    ``max_distance`` (cosine distance of word TF-IDF, 0–1). ``local_only`` sends every call
    (plan, waves, patterns, summary) to running local models (``orchestra local up``, or
    Ollama through ``OLLAMA_HOST``); the savings baseline still prices the premium model."""

    mode: Literal["heuristic", "learned"] = "heuristic"
    local_only: bool = False
    quality_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    target_quality: float = Field(default=0.0, ge=0.0, le=1.0)
    min_outcomes: int = Field(default=20, ge=1, le=1_000_000)
    max_distance: float = Field(default=0.9, gt=0.0, le=1.0)


class ConcurrencySettings(_Section):
    """How many calls may be in flight at once: per run (tasks) and per provider (HTTP)."""

    per_run: int = Field(default=8, ge=1, le=1000)
    per_provider: int = Field(default=4, ge=1, le=1000)


class SavingsSettings(_Section):
    """The model savings are measured against (empty: the catalog's priciest premium model)."""

    baseline_model: str = ""


class CacheSettings(_Section):
    """The response cache (``core.calls.cache``): off unless asked for (here, or per command
    with ``--cache``); entries live ``ttl_s``; sampled requests only when ``sampled``."""

    enabled: bool = False
    ttl_s: float = Field(default=86_400.0, gt=0, le=365 * 86_400.0)
    sampled: bool = False


class Policy(_Section):
    """The whole routing policy, as ``data/policy.toml`` holds it."""

    tiers: TierThresholds = Field(default_factory=TierThresholds)
    concentration: ConcentrationSettings = Field(default_factory=ConcentrationSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    task: TaskSettings = Field(default_factory=TaskSettings)
    concurrency: ConcurrencySettings = Field(default_factory=ConcurrencySettings)
    complexity: ComplexitySettings = Field(default_factory=ComplexitySettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    savings: SavingsSettings = Field(default_factory=SavingsSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)

    def baseline_model(self, catalog: Catalog) -> str:
        """The savings baseline: the configured model, else the priciest priced premium model."""
        if self.savings.baseline_model:
            return catalog.model(self.savings.baseline_model).id
        priced = [m for m in catalog.by_tier("premium") if m.price is not None]
        if not priced:
            raise ConfigError(
                "no priced premium model to measure savings against; "
                "set [savings] baseline_model in data/policy.toml"
            )
        best = max(priced, key=lambda m: m.price.input_per_mtok + m.price.output_per_mtok)  # type: ignore[union-attr]
        return best.id


def policy_path(path: Path | str | None = None,
                environ: Mapping[str, str] | None = None) -> Path:
    """The policy file to use: ``path``, else ``ORCHESTRA_POLICY``, else ``data/policy.toml``
    (``environ`` defaults to the process environment)."""
    if path is not None:
        return Path(path)
    return Path(_env(environ).get("ORCHESTRA_POLICY") or DEFAULT_POLICY)


def local_policy_path(environ: Mapping[str, str] | None = None) -> Path:
    """The local override file: ``ORCHESTRA_POLICY_LOCAL``, else ``data/policy.local.toml``."""
    return Path(_env(environ).get(LOCAL_POLICY_ENV) or DEFAULT_LOCAL_POLICY)


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _layered(environ: Mapping[str, str] | None = None) -> bool:
    """True when the shipped defaults plus the local override are in use (no file was named)."""
    return not _env(environ).get("ORCHESTRA_POLICY")


def _read_toml(target: Path, *, missing_ok: bool) -> dict[str, Any]:
    """The TOML table in ``target``; {} for a missing file when ``missing_ok``."""
    try:
        return tomllib.loads(target.read_text())
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(f"policy file {target} not found; restore data/policy.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy file {target} is not valid TOML ({exc}); fix the syntax") from exc


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top, table by table."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validated(raw: dict[str, Any], source: Path) -> Policy:
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"policy file {source}: {_first_problem(exc)}") from exc


def load_policy(path: Path | str | None = None, *,
                environ: Mapping[str, str] | None = None) -> Policy:
    """Read and validate the policy file; a missing default file means the default policy.
    With no file named, the local override (if any) is layered over the shipped file."""
    target = policy_path(path, environ)
    if path is not None or not _layered(environ):
        return _validated(_read_toml(target, missing_ok=False), target)
    shipped = _read_toml(DEFAULT_POLICY, missing_ok=True)
    local = local_policy_path(environ)
    override = _read_toml(local, missing_ok=True)
    _validated(shipped, DEFAULT_POLICY)
    return _validated(_merged(shipped, override), local if override else DEFAULT_POLICY)


def policy_save_path(path: Path | str | None = None) -> Path:
    """Where ``save_policy`` writes: ``path``, else ``ORCHESTRA_POLICY``'s file, else the local
    override (never the shipped ``data/policy.toml``)."""
    return local_policy_path() if path is None and _layered() else policy_path(path)


def save_policy(policy: Policy, path: Path | str | None = None) -> Path:
    """Write the policy as TOML (validated first), keeping the file's comments; returns the
    path written. With no file named, only the settings that differ from the shipped file are
    written, to the local override; the shipped file is left as it is."""
    checked = Policy.model_validate(policy.model_dump())
    values = _toml_values(checked.model_dump(mode="python"))
    target = policy_save_path(path)
    override = path is None and _layered()
    source = DEFAULT_POLICY if override else target
    current = _validated(_read_toml(source, missing_ok=True), source)
    base = _toml_values(current.model_dump(mode="python"))
    try:
        document = tomlkit.parse(target.read_text())
    except FileNotFoundError:
        document = tomlkit.document()
        if override:
            document.add(tomlkit.comment(_LOCAL_HEADER))
        else:
            base = {}  # a new file holds every setting
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"policy file {target} is not valid TOML ({exc}); fix the syntax") from exc
    _sync_table(document, values, base, prune=override)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(tomlkit.dumps(document))
    return target


def _toml_values(value: Any) -> Any:
    """A policy dump in types TOML can hold (Decimal USD amounts as TOML floats)."""
    if isinstance(value, dict):
        return {key: _toml_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_toml_values(item) for item in value]
    return float(value) if isinstance(value, Decimal) else value


def _sync_table(table: Any, values: dict[str, Any], base: dict[str, Any], *,
                prune: bool) -> None:
    """Make ``table`` hold ``values`` where they differ from ``base`` (what the file already
    means), touching only those entries so comments and layout stay. With ``prune`` (the
    override), entries back at ``base`` are removed, and so are emptied tables."""
    for key, value in values.items():
        default = base.get(key)
        if isinstance(value, dict):
            inner = default if isinstance(default, dict) else {}
            if key not in table:
                if all(inner.get(k) == v for k, v in value.items()):
                    continue
                table[key] = tomlkit.table()
            _sync_table(table[key], value, inner, prune=prune)
            if prune and not table[key]:
                del table[key]
        elif value == default:
            if prune and key in table:
                del table[key]
        elif key not in table or table[key] != value:
            table[key] = value


def _first_problem(exc: ValidationError) -> str:
    """One line naming the first bad field, what is wrong, and how to fix it."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"unknown setting '{where}'; remove it (see data/policy.toml for the valid keys)"
    return f"{where}: {first['msg']}; correct it or delete the line to use the default"
