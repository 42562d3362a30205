"""The local llama.cpp server's lifecycle: ``up`` starts it, ``down`` stops it, ``status`` says.

``up`` checks the model file (hash, GGUF header), starts llama-cpp-python's server
(``python -m core.local.launch``: ``llama_cpp.server`` with usage on streamed answers) on
127.0.0.1 on a free port (the chat template comes from the GGUF), waits until ``/v1/models``
answers, and records pid, port and the model's limits (``core.local.state``). ``down`` stops
only the recorded process, and only if it is still that llama.cpp server. A record whose
process is gone is noticed and cleared by every command.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from core.errors import ConfigError
from core.local.model import INSTALL_HINT, check_model, choose_model
from core.local.state import (SERVER_MODULE, ServerRecord, clear_record, process_alive,
                              read_record, state_path, write_record)

HOST = "127.0.0.1"
MAX_CONTEXT = 8192  # the server's n_ctx: the GGUF's trained context, capped to keep memory low
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0


class LocalServerError(ConfigError):
    """The local server cannot be started, found or stopped as asked (the message says how)."""


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What ``status`` found: the running server, or none (and whether a stale one was cleared)."""

    state: Literal["running", "stopped"]
    record: ServerRecord | None = None
    stale_cleared: ServerRecord | None = None


def status(path: Path | None = None) -> ServerStatus:
    """The server's state; a stale record (its process gone) is cleared and reported."""
    record = read_record(path)
    if record is None:
        return ServerStatus("stopped")
    if process_alive(record):
        return ServerStatus("running", record)
    clear_record(path)
    return ServerStatus("stopped", stale_cleared=record)


def up(model: str | Path | None = None, *, port: int | None = None, threads: int | None = None,
       path: Path | None = None, timeout_s: float = START_TIMEOUT_S) -> ServerRecord:
    """Start the server and wait for it; the record of the started server."""
    current = status(path)
    if current.record is not None:
        raise LocalServerError(
            f"a local server is already running (pid {current.record.pid}, port "
            f"{current.record.port}); stop it with `orchestra local down` first")
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalServerError(f"llama-cpp-python is not installed; {INSTALL_HINT}")
    choice = choose_model(model)
    info = check_model(choice)
    port = _free_port() if port is None else _checked_port(port)
    context = min(info.context_length or MAX_CONTEXT, MAX_CONTEXT)
    alias = _alias(choice.path)
    log_path = (path or state_path()).with_suffix(".log")
    process = _spawn(choice.path, alias, port, context, threads, log_path)
    try:
        model_id = _wait_healthy(process, port, timeout_s, log_path)
    except BaseException:
        _terminate(process.pid)
        raise
    record = ServerRecord(pid=process.pid, host=HOST, port=port, model_path=str(choice.path),
                          model_id=model_id, model_label=info.name, context_window=context,
                          sha256=choice.sha256, started_at=time.time(), log_path=str(log_path))
    write_record(record, path)
    return record


def down(path: Path | None = None) -> ServerStatus:
    """Stop the recorded server (only that process) and clear the record."""
    current = status(path)
    if current.record is None:
        return current
    _terminate(current.record.pid)
    clear_record(path)
    return ServerStatus("stopped", record=current.record)


# ── helpers ───────────────────────────────────────────────────────────────────────────────
def _alias(model_path: Path) -> str:
    """The model's name on the server and in the catalog: the file stem, lower-case."""
    stem = model_path.name.removesuffix(".gguf")
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in stem.lower())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _checked_port(port: int) -> int:
    if not 0 < port < 65536:
        raise LocalServerError(f"--port {port} is not a TCP port; give 1–65535 or omit it")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise LocalServerError(f"port {port} on {HOST} is in use; pick another with "
                                   "--port N or omit --port for a free one") from exc
    return port


def _spawn(model: Path, alias: str, port: int, context: int, threads: int | None,
           log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", SERVER_MODULE, "--model", str(model), "--model_alias",
               alias, "--host", HOST, "--port", str(port), "--n_ctx", str(context)]
    if threads is not None:
        command += ["--n_threads", str(threads)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_healthy(process: subprocess.Popen[bytes], port: int, timeout_s: float,
                  log_path: Path) -> str:
    """Poll ``/v1/models`` until it answers; the served model id."""
    deadline = time.monotonic() + timeout_s
    url = f"http://{HOST}:{port}/v1/models"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalServerError(
                    f"the llama.cpp server exited with code {process.returncode} while "
                    f"starting; see {log_path} for why")
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return str(response.json()["data"][0]["id"])
            except (httpx.TransportError, ValueError, KeyError, IndexError):
                pass
            time.sleep(0.2)
    raise LocalServerError(f"the llama.cpp server did not answer within {timeout_s:.0f} s; "
                           f"see {log_path}, then retry `orchestra local up`")


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``; reaps our own child when it is one."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _gone(pid)


def _gone(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        if finished == pid:
            return True
    except ChildProcessError:
        pass  # started by another `orchestra local up` process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
