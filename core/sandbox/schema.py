"""Deterministic JSON instances of a JSON schema, for the sandbox's structured output.

Handles objects (properties, required), arrays (items, minItems/maxItems, uniqueItems), strings
(enum, const, formats, length bounds), numbers and integers (bounds), booleans, null, local
``$ref`` (``#/$defs/...``), ``anyOf``/``oneOf``/``allOf`` and type lists. The result is checked
with ``jsonschema``. A ``pattern`` is honoured when one of a few common shapes (slugs, words,
digits, codes) matches it; an exotic pattern may still go unmatched.
"""

from __future__ import annotations

import math
import random
import re
from typing import Any

import jsonschema

from core.sandbox.textgen import seeded_rng

_WORDS = (
    "alpha", "delta", "sandbox", "sample", "orchid", "harbor", "summit", "river", "lantern",
    "meadow", "copper", "signal", "atlas", "ember", "willow", "quartz",
)
_FORMATS = {
    "date": "2025-01-15",
    "date-time": "2025-01-15T09:30:00Z",
    "time": "09:30:00",
    "email": "sandbox@example.com",
    "uri": "https://example.com/sandbox",
    "url": "https://example.com/sandbox",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "sandbox.example.com",
    "ipv4": "192.0.2.1",
}
_MAX_DEPTH = 8


class SchemaProblem(ValueError):
    """The schema itself is invalid (the vendor would reject the request)."""


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ``SchemaProblem`` when the schema is not a valid JSON schema."""
    try:
        validator = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaProblem(f"invalid JSON schema: {exc.message}") from exc


def schema_instance(schema: dict[str, Any], *seed_parts: object) -> Any:
    """A deterministic instance of ``schema``; the same seed parts give the same instance."""
    return _Generator(schema, seeded_rng("schema", *seed_parts)).value(schema, 0)


def validation_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Messages of every way ``instance`` breaks ``schema`` (empty when it validates)."""
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    return [error.message for error in validator_class(schema).iter_errors(instance)]


class _Generator:
    """Walks a schema, resolving local references against its root."""

    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, schema: Any, depth: int) -> Any:
        schema = self._resolve(schema)
        if not isinstance(schema, dict):
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        for combinator in ("anyOf", "oneOf"):
            if schema.get(combinator):
                options = [self._resolve(o) for o in schema[combinator]]
                return self.value(_prefer_non_null(options, depth), depth)
        if schema.get("allOf"):
            return self.value(self._merge(schema), depth)
        kind = _type_of(schema, depth)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind in ("number", "integer"):
            return _number(schema, kind, self.rng)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _resolve(self, schema: Any) -> Any:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if not ref.startswith("#"):
                raise SchemaProblem(f"only local $ref is supported, got {ref!r}")
            target: Any = self.root
            for part in [p for p in ref[1:].split("/") if p]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[int(part)] if isinstance(target, list) else target[part]
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra}
        return schema

    def _merge(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self._resolve(part)
            merged.setdefault("properties", {}).update(part.get("properties", {}))
            merged["required"] = sorted(set(merged.get("required", [])) | set(part.get("required", [])))
            for key, val in part.items():
                merged.setdefault(key, val)
        return merged

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        required = set(schema.get("required", []))
        result: dict[str, Any] = {}
        for name, sub in schema.get("properties", {}).items():
            if depth >= _MAX_DEPTH and name not in required:
                continue
            result[name] = self.value(sub, depth + 1)
        return result

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", max(low, 3))
        count = low if depth >= _MAX_DEPTH else min(high, max(low, 2 + self.rng.randint(0, 1)))
        items = schema.get("items", {})
        values: list[Any] = []
        for _ in range(count * 4):
            if len(values) == count:
                break
            item = self.value(items, depth + 1)
            if not schema.get("uniqueItems") or item not in values:
                values.append(item)
        return values

    def _string(self, schema: dict[str, Any]) -> str:
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        low = schema.get("minLength", 0)
        high = schema.get("maxLength", max(low, 40))
        words = self.rng.sample(_WORDS, 2)
        number = self.rng.randrange(100, 999)
        text = f"{words[0]} {words[1]} {number}"
        while len(text) < low:
            text += " " + self.rng.choice(_WORDS)
        text = text[: max(high, low)]
        pattern = schema.get("pattern")
        if not isinstance(pattern, str):
            return text
        shapes = (text, f"{words[0]}-{number}", f"{words[0]}_{words[1]}", words[0],
                  f"{words[0]}{number}", str(number), words[0].upper(), f"{words[0].upper()}-{number}")
        for candidate in shapes:
            if low <= len(candidate) <= max(high, low) and re.search(pattern, candidate):
                return candidate
        return text


def _type_of(schema: dict[str, Any], depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        return "null" if (depth >= _MAX_DEPTH and "null" in kind) or not non_null else non_null[0]
    if kind:
        return str(kind)
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _prefer_non_null(options: list[Any], depth: int) -> Any:
    non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
    if depth >= _MAX_DEPTH and len(non_null) < len(options):
        return {"type": "null"}
    return non_null[0] if non_null else options[0]


def _number(schema: dict[str, Any], kind: str, rng: random.Random) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        low += 1 if kind == "integer" else 1e-6
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        high -= 1 if kind == "integer" else 1e-6
    if kind == "integer":
        low, high = math.ceil(low), math.floor(high)
        value: int | float = rng.randint(low, high) if high >= low else low
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            value = math.ceil(value / step) * step
            value = value if value <= high else value - step
        return value
    bounded: int | float = min(max(round(rng.uniform(low, high), 3), low), high) if high > low else low
    return bounded
