"""Shared output helpers for CLI commands: JSON printing and plain tables."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from core.errors import ConfigError


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(obj: Any) -> None:
    """Print one JSON object (Decimals as numbers)."""
    print(json.dumps(obj, default=_default, indent=2))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows as a left-aligned text table."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """``--var name=value`` options as a dict; a malformed pair is a one-line ConfigError."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--var '{pair}' must look like name=value")
        values[name.strip()] = value
    return values
