"""The record of the local server that ``orchestra local up`` started (git-ignored JSON).

It holds the pid, port, model and what the server said about itself, so ``down`` stops only
that process and the catalog can register the ``local`` provider while it runs. A record whose
process is gone (killed, rebooted) is *stale*: ``running_server`` ignores it and
``ServerState.clear_if_stale`` removes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.catalog import DATA_DIR

STATE_ENV = "ORCHESTRA_LOCAL_STATE"
DEFAULT_STATE = DATA_DIR / "local_server.json"
SERVER_MODULE = "core.local.launch"  # llama_cpp.server, with usage on streams


class ServerRecord(BaseModel):
    """One running llama.cpp server: process, address, model and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int = Field(gt=0)
    host: str
    port: int = Field(gt=0, lt=65536)
    model_path: str
    model_id: str
    model_label: str
    context_window: int = Field(gt=0)
    sha256: str | None = None
    started_at: float
    log_path: str

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://{self.host}:{self.port}/v1"


def state_path() -> Path:
    """The record file: ``ORCHESTRA_LOCAL_STATE``, else ``data/local_server.json``."""
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)


def read_record(path: Path | None = None) -> ServerRecord | None:
    """The stored record, or None when there is none (or it is unreadable)."""
    target = path or state_path()
    try:
        return ServerRecord.model_validate(json.loads(target.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, ValidationError):
        return None


def write_record(record: ServerRecord, path: Path | None = None) -> Path:
    """Store the record (atomically: write, then rename)."""
    target = path or state_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".tmp")
    scratch.write_text(record.model_dump_json(indent=2))
    scratch.replace(target)
    return target


def clear_record(path: Path | None = None) -> None:
    """Remove the record file if there is one."""
    (path or state_path()).unlink(missing_ok=True)


def process_alive(record: ServerRecord) -> bool:
    """True when the recorded pid is a live llama.cpp server process (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{record.pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    zombie = stat.rpartition(")")[2].split()[:1] == ["Z"]
    return not zombie and SERVER_MODULE.encode() in cmdline and str(record.port).encode() in cmdline


def running_server(path: Path | None = None) -> ServerRecord | None:
    """The recorded server if its process is alive, else None (a stale record is ignored)."""
    record = read_record(path)
    return record if record is not None and process_alive(record) else None
