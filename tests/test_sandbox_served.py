"""The sandbox served over loopback: plain httpx, faults over a real socket, the CLI command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from core.cli import main
from core.sandbox.config import FaultSpec, SandboxConfig
from sandbox_server import serve_sandbox

BODY = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "Name a prime."}]}


def test_served_sandbox_answers_and_streams(served_sandbox):
    with httpx.Client(base_url=served_sandbox) as client:
        plain = client.post("/v1/chat/completions", json=BODY)
        with client.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as r:
            lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert plain.headers["x-orchestra-sandbox"] == "1"
    assert "deepseek:deepseek-chat" in plain.json()["choices"][0]["message"]["content"]
    assert lines[-1] == "data: [DONE]" and len(lines) > 3


def test_reset_over_a_real_socket_is_a_remote_protocol_error():
    config = SandboxConfig(latency_scale=0, faults={"deepseek": FaultSpec(kinds=("reset",))})
    with serve_sandbox(config) as url, httpx.Client(base_url=url) as client:
        with client.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as r:
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in r.iter_bytes():
                    pass


def test_cli_rejects_a_bad_failure_rate(capsys):
    assert main(["sandbox", "serve", "--port", "1", "--failure-rate", "2"]) == 2
    assert "failure_rate" in capsys.readouterr().err


def test_cli_serves_until_stopped():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "sandbox", "serve", "--port", str(port),
         "--latency-scale", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert response.json() == {"status": "ok", "sandbox": True}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_hang_times_the_client_out_and_the_server_stays_responsive():
    config = SandboxConfig(latency_scale=0, faults={"deepseek": FaultSpec(kinds=("hang",),
                                                                           hang_seconds=60)})
    with serve_sandbox(config) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/chat/completions", json=BODY, timeout=httpx.Timeout(5, read=0.2))
        assert httpx.get(f"{url}/health").status_code == 200
