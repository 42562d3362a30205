"""Test-wide guards: no test may reach the internet, and no real API key leaks in."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from core.catalog import default_catalog

pytest_plugins = [
    "sandbox_server",  # the `served_sandbox` fixture (tests/sandbox_server.py)
    "browser_support",  # the `browser` and `page` fixtures (tests/browser_support.py)
]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # unix socket path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> object:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network ({address!r}); tests stay on loopback")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> object:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network ({address!r}); tests stay on loopback")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test starts with no provider key, base-URL override or sandbox fault setting,
    with its own empty ledger file (never the repo's data/orchestra.duckdb) and no local
    policy override."""
    for provider in default_catalog().providers.values():
        for var in (provider.key_env, provider.base_url_env):
            if var:
                monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("ORCHESTRA_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ORCHESTRA_SANDBOX_LATENCY_SCALE", "0")
    monkeypatch.setenv("ORCHESTRA_DB", str(tmp_path_factory.mktemp("ledger") / "test.duckdb"))
    monkeypatch.setenv("ORCHESTRA_LOCAL_STATE",  # no test sees a developer's `orchestra local up`
                       str(tmp_path_factory.mktemp("local") / "local_server.json"))
    monkeypatch.setenv("ORCHESTRA_POLICY_LOCAL",  # nor a developer's data/policy.local.toml
                       str(tmp_path_factory.mktemp("policy") / "policy.local.toml"))


@pytest.fixture
def local_only_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local policy override with the local-only preset on (``[routing] local_only``)."""
    override = tmp_path / "policy.local.toml"
    override.write_text("[routing]\nlocal_only = true\n")
    monkeypatch.setenv("ORCHESTRA_POLICY_LOCAL", str(override))
    return override


@pytest.fixture
def catalog():
    """The shipped catalog."""
    return default_catalog()
