"""Inputs checked at the edge: argparse types and small checks shared by the commands.

Everything here runs before a command touches the ledger or calls a model, so a caller mistake
costs nothing and changes nothing on disk. A failing argparse *type* raises
``argparse.ArgumentTypeError`` (the parser prints one line and exits 2); a failing *check*
raises ``ConfigError``, which ``core.cli.main`` prints as one line with exit 2.

The rules:

- **money** (``--budget``, ``--cost-cap``): a finite amount of USD, from ``SMALLEST_USD``
  (0.00000001, the ledger's ``DECIMAL(18, 8)`` resolution) to ``LARGEST_USD``, with at most
  8 decimal places, so that what the ledger stores is exactly what was asked for.
- **counts** (``--limit``): a whole number from 0 to ``MAX_COUNT``.
- **positive counts** (``--max-tokens``, ``--layers``, ...): a whole number from 1 to
  ``MAX_COUNT``; ``--max-tokens`` is then held to the model's output limit from the catalog.
- **prompts**: never blank (empty or only whitespace).
- **plan files**: a readable regular file of UTF-8 text (no NUL bytes), at most
  ``MAX_PLAN_BYTES``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.catalog import Catalog, ModelSpec
from core.errors import ConfigError

SMALLEST_USD = Decimal("0.00000001")  # the ledger stores money as DECIMAL(18, 8)
LARGEST_USD = Decimal("9999999999.99999999")
MAX_COUNT = 1_000_000_000
MAX_PLAN_BYTES = 10_000_000


def usd_amount(text: str) -> Decimal:
    """An amount of USD such as ``0.50`` or ``$2``: finite, positive and storable exactly."""
    raw = text.strip().removeprefix("$").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount: give USD as a plain number, e.g. 0.50") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a finite amount: give USD as a plain number, e.g. 0.50")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 USD, not {text}; e.g. 0.50")
    if value < SMALLEST_USD:
        raise argparse.ArgumentTypeError(
            f"{text} is below the smallest amount the ledger keeps: give at least "
            f"{SMALLEST_USD:f} USD, e.g. 0.50")
    if value > LARGEST_USD:
        raise argparse.ArgumentTypeError(
            f"{text} is more than the ledger can hold: give at most {LARGEST_USD:f} USD")
    if value != value.quantize(SMALLEST_USD):
        raise argparse.ArgumentTypeError(
            f"{text} has more than 8 decimal places: round it to 8 places, e.g. "
            f"{value.quantize(SMALLEST_USD)}")
    return value


def check_budget(text: str | None, option: str = "--budget") -> Decimal | None:
    """``usd_amount`` as a check: None stays None, a bad amount is a one-line ``ConfigError``."""
    if text is None:
        return None
    try:
        return usd_amount(text)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{option}: {exc}") from exc


def _whole_number(text: str, lowest: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from {lowest} to {MAX_COUNT}, not {text!r}") from None
    if not lowest <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from {lowest} to {MAX_COUNT}, not {value}")
    return value


def non_negative_int(text: str) -> int:
    """A count or page size: a whole number from 0 to ``MAX_COUNT``."""
    return _whole_number(text, 0)


def positive_int(text: str) -> int:
    """A whole number from 1 to ``MAX_COUNT`` (token limits, rounds, layers)."""
    return _whole_number(text, 1)


def prompt_text(text: str) -> str:
    """A prompt or demand: refused when it is empty or only whitespace."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            'the prompt is blank: give the text to send, e.g. "summarise this article"')
    return text


def plan_file(text: str) -> str:
    """A plan file path whose content is UTF-8 text; returned unchanged for the plan loader."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text} is not a file: give the path of a .json or .yaml plan")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"cannot read {text} ({exc.strerror}): check its permissions") from None
    if len(data) > MAX_PLAN_BYTES:
        raise argparse.ArgumentTypeError(
            f"{text} is larger than {MAX_PLAN_BYTES} bytes: a plan is a small .json or .yaml file")
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"{text} is not text (byte {exc.start} is not UTF-8): give a .json or .yaml plan"
        ) from None
    if "\x00" in decoded:
        raise argparse.ArgumentTypeError(
            f"{text} is not text (it holds NUL bytes): give a .json or .yaml plan")
    return text


def output_limit(model: ModelSpec) -> int:
    """The most tokens ``model`` can write in one answer (its output limit and its window)."""
    return min(model.max_output_tokens, model.context_window)


def check_max_tokens(max_tokens: int, model_ids: Sequence[str], catalog: Catalog) -> None:
    """Refuse ``--max-tokens`` above what a named model can write.

    With no model named (the router picks one), it must fit at least one model of the catalog.
    Unknown ids raise ``UnknownModel`` with the catalog's own hint.
    """
    if not model_ids:
        largest = max(output_limit(m) for m in catalog.models.values())
        if max_tokens > largest:
            raise ConfigError(f"--max-tokens {max_tokens} is more than any catalog model can "
                              f"write; pass --max-tokens {largest} or less")
        return
    for model in (catalog.model(model_id) for model_id in model_ids):
        limit = output_limit(model)
        if max_tokens > limit:
            raise ConfigError(f"--max-tokens {max_tokens} is more than {model.id} can write "
                              f"({limit} tokens); pass --max-tokens {limit} or less")
