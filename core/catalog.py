"""The catalog: providers and models as data, loaded from ``data/catalog.toml``.

Routing reads tiers, capabilities, context windows and prices from here, never from model-name
strings. ``parse_model_id`` is the one place a ``provider:model`` id is taken apart.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError, UnknownModel

Tier = Literal["economy", "balanced", "premium"]
TIERS: tuple[Tier, ...] = ("economy", "balanced", "premium")
Protocol = Literal["openai_chat", "anthropic_messages", "gemini_generate"]
Capability = Literal["stream", "json_schema", "tools", "live_search", "reasoning", "vision"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_CATALOG = DATA_DIR / "catalog.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierSpec(_Strict):
    """Sandbox timing of a tier: time to first token and output speed."""

    sandbox_ttft_ms: float = Field(ge=0)
    sandbox_tokens_per_s: float = Field(gt=0)


class Price(_Strict):
    """USD per one million tokens, with its source and (for catalog prices) an as-of date."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    source: str = "catalog"
    as_of: date | None = None


class ProviderSpec(_Strict):
    """One provider: how to reach it and which key enables it."""

    name: str
    label: str
    protocol: Protocol
    base_url: str
    base_url_env: str = ""
    key_env: str = ""
    prices_id: str = ""
    local: bool = False
    served: bool = False  # a local server known to be running at base_url (`orchestra local up`)
    sandbox_speedup: float = Field(default=1.0, gt=0)

    def resolved_base_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The base URL, taking the provider's override in ``environ`` (e.g. OPENAI_BASE_URL;
        default: the process environment)."""
        env = os.environ if environ is None else environ
        override = env.get(self.base_url_env, "").strip() if self.base_url_env else ""
        if not override:
            return self.base_url
        if self.name == "ollama" and not override.rstrip("/").endswith("/v1"):
            override = override.rstrip("/") + "/v1"  # OLLAMA_HOST names the server, not /v1
        if "://" not in override:
            override = "http://" + override
        return override.rstrip("/")


class ModelSpec(_Strict):
    """One model: id ``provider:model``, tier, limits, capabilities and price (None = unpriced).

    ``route_only_for``: when set, routing picks this model only for tasks that need one of
    these capabilities (Perplexity's search models are not general writers); pins still work.
    """

    id: str
    provider: str
    name: str
    label: str
    tier: Tier
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    capabilities: frozenset[Capability] = frozenset()
    route_only_for: frozenset[Capability] = frozenset()
    price: Price | None = None

    def supports(self, *capabilities: str) -> bool:
        """True when the model has every capability named."""
        return all(c in self.capabilities for c in capabilities)


class Catalog(_Strict):
    """Every provider and model Orchestra knows, keyed by name and id."""

    tiers: dict[Tier, TierSpec]
    providers: dict[str, ProviderSpec]
    models: dict[str, ModelSpec]

    def model(self, model_id: str) -> ModelSpec:
        """The model with this id, or ``UnknownModel`` naming the fix."""
        provider, _ = parse_model_id(model_id, self)
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(m.id for m in self.models.values() if m.provider == provider)
            raise UnknownModel(
                f"unknown model '{model_id}'; {provider} models are: {known} "
                "(run `orchestra models` for the full list)"
            ) from None

    def by_tier(self, tier: Tier) -> list[ModelSpec]:
        """Models of one tier, in catalog order."""
        return [m for m in self.models.values() if m.tier == tier]


def parse_model_id(model_id: str, catalog: Catalog) -> tuple[str, str]:
    """Split ``provider:model`` into its two parts; the error lists the known providers."""
    provider, sep, name = model_id.partition(":")
    if not sep or not provider or not name:
        raise UnknownModel(
            f"model id '{model_id}' must look like provider:model, e.g. openai:gpt-4o-mini"
        )
    if provider not in catalog.providers:
        raise UnknownModel(
            f"unknown provider '{provider}' in '{model_id}'; known providers: "
            + ", ".join(catalog.providers)
        )
    return provider, name


def load_catalog(path: Path | str = DEFAULT_CATALOG) -> Catalog:
    """Read and validate a catalog file, pricing each model (see ``core.pricing``)."""
    from core.pricing import resolve_price

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"catalog file {path} not found; restore data/catalog.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"catalog file {path} is not valid TOML: {exc}") from exc
    try:
        providers = {
            name: ProviderSpec(name=name, **spec) for name, spec in raw.get("providers", {}).items()
        }
        models: dict[str, ModelSpec] = {}
        for model_id, spec in raw.get("models", {}).items():
            spec = dict(spec)
            provider, _, name = model_id.partition(":")
            if provider not in providers:
                raise ConfigError(f"catalog model '{model_id}' names unknown provider '{provider}'")
            override = spec.pop("price", None)
            price = resolve_price(providers[provider], name, override)
            models[model_id] = ModelSpec(
                id=model_id, provider=provider, name=name, price=price, **spec
            )
        return Catalog(tiers=raw.get("tiers", {}), providers=providers, models=models)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"catalog file {path}: {where}: {first['msg']}") from exc


def default_catalog() -> Catalog:
    """The catalog from ``data/catalog.toml`` (or ``ORCHESTRA_CATALOG``), loaded once, plus the
    ``local`` provider while `orchestra local up` has a server running (``core.local``)."""
    from core.local.registry import with_local_server

    return with_local_server(_shipped_catalog(os.environ.get("ORCHESTRA_CATALOG", DEFAULT_CATALOG)))


@lru_cache(maxsize=1)
def _shipped_catalog(path: Path | str) -> Catalog:
    return load_catalog(path)
