"""Prices and costs.

Prices come from ``genai-prices`` when it knows the model; a catalog ``price`` table overrides it
(a negotiated rate, or a model the database lacks). Local models cost zero on purpose. A model
with no known price is *unpriced*: its cost is ``None`` (shown as unknown), never $0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from core.types import Usage

if TYPE_CHECKING:
    from core.catalog import ModelSpec, Price, ProviderSpec

MTOK = Decimal(1_000_000)


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (10, not 1E+1)."""
    return Decimal(format(value.normalize(), "f"))
_PROBE = 1000  # price small counts so tiered prices report their base tier


def _genai_price(prices_id: str, model_name: str) -> "Price | None":
    from core.catalog import Price

    def probe(**tokens: int) -> Any:
        return calc_price(PriceUsage(**tokens), model_name, provider_id=prices_id)

    try:
        base = probe(input_tokens=_PROBE, output_tokens=_PROBE)
    except LookupError:
        return None
    scale = MTOK / _PROBE
    cached = probe(input_tokens=_PROBE, cache_read_tokens=_PROBE).input_price * scale
    write = probe(input_tokens=_PROBE, cache_write_tokens=_PROBE).input_price * scale
    return Price(
        input_per_mtok=_plain(base.input_price * scale),
        output_per_mtok=_plain(base.output_price * scale),
        cached_input_per_mtok=_plain(cached),
        cache_write_per_mtok=_plain(write),
        source="genai-prices",
    )


def resolve_price(
    provider: "ProviderSpec", model_name: str, override: dict[str, Any] | None
) -> "Price | None":
    """The price of a model: catalog override, then genai-prices, then zero for local models."""
    from core.catalog import Price

    if override is not None:
        if "as_of" not in override:
            from core.errors import ConfigError

            raise ConfigError(
                f"catalog price for {provider.name}:{model_name} needs an as_of date"
            )
        return Price(source="catalog", **override)
    if provider.local:
        zero = Decimal(0)
        return Price(
            input_per_mtok=zero,
            output_per_mtok=zero,
            cached_input_per_mtok=zero,
            cache_write_per_mtok=zero,
            source="local (free)",
        )
    if provider.prices_id:
        return _genai_price(provider.prices_id, model_name)
    return None


def cost_of(model: "ModelSpec", usage: Usage) -> Decimal | None:
    """USD cost of one call's usage on a model, or None if the model is unpriced.

    ``usage.input_tokens`` counts every input token; cached reads and cache writes are the parts
    of it billed at their own rates.
    """
    price = model.price
    if price is None:
        return None
    cached_rate = price.cached_input_per_mtok
    write_rate = price.cache_write_per_mtok
    cached = usage.cached_input_tokens if cached_rate is not None else 0
    written = usage.cache_write_tokens if write_rate is not None else 0
    plain = max(usage.input_tokens - cached - written, 0)
    total = plain * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
    if cached:
        total += cached * cached_rate  # type: ignore[operator]
    if written:
        total += written * write_rate  # type: ignore[operator]
    return total / MTOK


def worst_case_cost(model: "ModelSpec", input_tokens: int, max_output_tokens: int,
                    fallback_price: "Price | None" = None) -> Decimal:
    """The most a call can cost: every input token uncached, every allowed output token used.

    An unpriced model is charged at ``fallback_price`` (the priciest of its tier) so budgets stay
    safe.
    """
    price = model.price or fallback_price
    if price is None:
        return Decimal(0)
    return (input_tokens * price.input_per_mtok + max_output_tokens * price.output_per_mtok) / MTOK
