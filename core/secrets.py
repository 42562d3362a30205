"""API keys: resolution in a fixed order, masking for display, and redaction of text.

``redact(text, secrets)`` removes every key it is given from a text, and also every vendor's
masked echo of one: a provider that refuses a key often quotes it back half hidden, e.g.
``Incorrect API key provided: sk-LEAKC*****************cdef``. Such an echo (at least
``MIN_MASKED_PREFIX`` leading characters of the key, a run of mask characters from
``MASK_CHARACTERS``, then any trailing characters of the key) is redacted like the full key.
The keys to look for are passed in by the caller that holds them (the HTTP client of a call);
there is no process-wide list of keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from core.catalog import ProviderSpec


def resolve_key(provider: ProviderSpec, explicit: Mapping[str, str] | None = None,
                environ: Mapping[str, str] | None = None) -> str | None:
    """The provider's key: an explicit one first, then its variable in ``environ`` (default: the
    process environment, for library use; entry points pass ``Settings``), else None."""
    if explicit and explicit.get(provider.name):
        return explicit[provider.name]
    if provider.key_env:
        value = (os.environ if environ is None else environ).get(provider.key_env, "").strip()
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


REDACTED = "[redacted]"
MASK_CHARACTERS = frozenset("*…•x")  # the mask characters vendors print
MIN_MASKED_PREFIX = 6
MIN_SECRET_LENGTH = 4
_KEY_CHARACTER = re.compile(r"[A-Za-z0-9_\-]")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and every masked echo of one, replaced by ``[redacted]``.

    Secrets shorter than ``MIN_SECRET_LENGTH`` are ignored (they would match ordinary text).
    """
    usable = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    for secret in usable:
        text = text.replace(secret, REDACTED)
    for secret in usable:
        if len(secret) > MIN_MASKED_PREFIX and not any(c.isspace() for c in secret):
            text = _redact_masked(text, secret)
    return text


def _redact_masked(text: str, secret: str) -> str:
    """``text`` with each masked echo of ``secret`` (prefix, mask, suffix) redacted."""
    pieces: list[str] = []
    start = 0
    head = secret[:MIN_MASKED_PREFIX]
    found = text.find(head)
    while found != -1:
        end = _masked_echo_end(text, found, secret)
        if end is None:
            found = text.find(head, found + 1)
            continue
        pieces += [text[start:found], REDACTED]
        start = end
        found = text.find(head, end)
    return "".join(pieces) + text[start:]


def _masked_echo_end(text: str, begin: int, secret: str) -> int | None:
    """Where a masked echo of ``secret`` starting at ``begin`` ends, or None if it is not one.

    ``text[begin:]`` starts with the secret's first ``MIN_MASKED_PREFIX`` characters. The echo
    goes on while the text follows the secret, then needs at least one mask character, then
    takes the longest run of key characters that ends the secret.
    """
    shown = MIN_MASKED_PREFIX
    limit = min(len(secret), len(text) - begin)
    while shown < limit and text[begin + shown] == secret[shown]:
        shown += 1
    mask_end = begin + shown
    while mask_end < len(text) and text[mask_end] in MASK_CHARACTERS:
        mask_end += 1
    if mask_end == begin + shown:
        return None
    tail_end = mask_end
    while tail_end < len(text) and _KEY_CHARACTER.fullmatch(text[tail_end]):
        tail_end += 1
    tail = text[mask_end:tail_end]
    for size in range(min(len(tail), len(secret) - 1), 0, -1):
        if secret.endswith(tail[:size]):
            return mask_end + size
    return mask_end
