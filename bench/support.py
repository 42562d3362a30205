"""Pieces the adapter, DAG and run-profile benchmarks share: the served sandbox, the machine line.

``served_sandbox(latency_scale)`` runs ``orchestra sandbox serve`` in its own process on a free
loopback port and yields its base URL, so the client's CPU time is its own.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
_START_TIMEOUT_S = 90.0  # a loaded 2-core machine imports the CLI slowly


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_sandbox(latency_scale: float = 0.0) -> Iterator[str]:
    """``python -m core sandbox serve`` in a subprocess on loopback; yields ``http://127.0.0.1:P``."""
    port = free_port()
    env = {**os.environ, "ORCHESTRA_SANDBOX_LATENCY_SCALE": str(latency_scale)}
    server = subprocess.Popen(
        [sys.executable, "-m", "core", "sandbox", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--latency-scale", str(latency_scale)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what platform knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """nproc, CPU model, Python version and the current load average, on one line."""
    return (f"machine: nproc {os.cpu_count()}, {cpu_model()}, Python "
            f"{platform.python_version()}, {platform.system()}, load average "
            f"{os.getloadavg()[0]:.2f} at start")


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0–1) of ``values``, nearest rank; the median for 0.5."""
    if share == 0.5:
        return statistics.median(values)
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
