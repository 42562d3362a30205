"""``orchestra models``: the catalog as a table or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from core.catalog import Catalog, default_catalog
from core.cli.output import print_json, print_table
from core.calls.gateway import Gateway


def catalog_rows(catalog: Catalog, gateway: Gateway) -> list[dict[str, Any]]:
    """One dict per model with price, source, limits, capabilities and live/sandbox mode."""
    rows = []
    for model in catalog.models.values():
        price = model.price
        rows.append({
            "id": model.id,
            "provider": model.provider,
            "provider_label": catalog.providers[model.provider].label,
            "label": model.label,
            "tier": model.tier,
            "input_per_mtok": price.input_per_mtok if price else None,
            "output_per_mtok": price.output_per_mtok if price else None,
            "cached_input_per_mtok": price.cached_input_per_mtok if price else None,
            "cache_write_per_mtok": price.cache_write_per_mtok if price else None,
            "price_source": price.source if price else "unpriced",
            "price_as_of": price.as_of.isoformat() if price and price.as_of else None,
            "context_window": model.context_window,
            "max_output_tokens": model.max_output_tokens,
            "capabilities": sorted(model.capabilities),
            "mode": gateway.mode(model.provider),
        })
    return rows


def _money(value: Any) -> str:
    return "unknown" if value is None else f"${value}"


def _run(args: argparse.Namespace) -> int:
    catalog = default_catalog()
    rows = catalog_rows(catalog, Gateway(catalog))
    if args.json:
        print_json(rows)
        return 0
    table = [
        {**r, "in $/M": _money(r["input_per_mtok"]), "out $/M": _money(r["output_per_mtok"]),
         "cached $/M": _money(r["cached_input_per_mtok"]), "ctx": f"{r['context_window']:,}",
         "caps": ",".join(r["capabilities"])}
        for r in rows
    ]
    print_table(table, ["id", "tier", "in $/M", "out $/M", "cached $/M", "price_source", "ctx",
                        "caps", "mode"])
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra models``."""
    parser = subparsers.add_parser("models", help="list the catalog of providers and models")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=_run)
