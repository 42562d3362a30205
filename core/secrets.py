"""API keys: resolution in a fixed order, and masking for display."""

from __future__ import annotations

import os
from collections.abc import Mapping

from core.catalog import ProviderSpec


def resolve_key(provider: ProviderSpec, explicit: Mapping[str, str] | None = None) -> str | None:
    """The provider's key: an explicit one first, then its environment variable, else None."""
    if explicit and explicit.get(provider.name):
        return explicit[provider.name]
    if provider.key_env:
        value = os.environ.get(provider.key_env, "").strip()
        return value or None
    return None


def mask_key(key: str | None) -> str:
    """A key as it may be shown: ``sk-…9f2c`` (never more than 4 trailing characters)."""
    if not key:
        return "not set"
    head = key[:3] if len(key) > 12 else ""
    return f"{head}…{key[-4:]}" if len(key) > 8 else "…"


def missing_key_hint(provider: ProviderSpec) -> str:
    """How to switch a provider from sandbox to live."""
    if provider.local:
        return f"set {provider.base_url_env} to your server (e.g. http://127.0.0.1:11434)"
    return f"set {provider.key_env} to call {provider.label} live; until then it runs in sandbox"
