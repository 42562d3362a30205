"""The sandbox served on a free loopback port, for tests that need a real HTTP server.

``serve_sandbox(config)`` is a context manager yielding the base URL; the session fixture
``served_sandbox`` yields the URL of one instant, fault-free sandbox shared by every test
(registered in ``tests/conftest.py`` through ``pytest_plugins``). Point clients at
``URL + "/v1"`` (OpenAI-compatible) or ``URL`` (Anthropic, Gemini). ``sandbox_client`` is the
in-process alternative: an ``httpx.AsyncClient`` on ``StreamingASGITransport``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from core.catalog import Catalog, default_catalog
from core.sandbox.app import build_app
from core.sandbox.config import SandboxConfig
from core.sandbox.transport import StreamingASGITransport

_START_TIMEOUT_S = 10.0


def sandbox_client(
    base_url: str, config: SandboxConfig | None = None, catalog: Catalog | None = None, **kwargs
) -> httpx.AsyncClient:
    """An async client whose requests are answered by an in-process sandbox."""
    app = build_app(catalog or default_catalog(), config or SandboxConfig(latency_scale=0))
    return httpx.AsyncClient(base_url=base_url, transport=StreamingASGITransport(app), **kwargs)


@contextlib.contextmanager
def serve_sandbox(
    config: SandboxConfig | None = None, catalog: Catalog | None = None
) -> Iterator[str]:
    """Serve the sandbox with uvicorn in a background thread; yield ``http://127.0.0.1:PORT``."""
    app = build_app(catalog or default_catalog(), config or SandboxConfig(latency_scale=0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                       timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_S)
        sock.close()


def _wait_ready(url: str, server: uvicorn.Server) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.started:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    return
        time.sleep(0.01)
    raise RuntimeError(f"the served sandbox at {url} did not start within {_START_TIMEOUT_S}s")


@pytest.fixture(scope="session")
def served_sandbox() -> Iterator[str]:
    """Base URL of a sandbox served on loopback: no latency, no faults, seed 0."""
    with serve_sandbox() as url:
        yield url
