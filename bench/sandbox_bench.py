"""Sandbox benchmark: requests per second against the sandbox served on loopback.

Goal: >= 1,000 non-streaming requests/s served (``orchestra sandbox serve``, latency scale 0,
no faults), driven by httpx clients at a total concurrency of ~32 for a few seconds. The server
runs in its own process, as ``make sandbox`` runs it; the load comes from ``--clients`` processes
(one httpx ``AsyncClient`` each), because one httpx client costs more CPU per request than the
server does. Requests rotate over the three protocols. Reported per scenario: requests/s, p50/p99
latency, and CPU milliseconds per request on the server and on the clients, from which the
server's capacity on one core follows. Also: streaming requests served, and non-streaming
requests in process through ``StreamingASGITransport`` (no sockets).

Run: ``.venv/bin/python bench/sandbox_bench.py [--seconds 4] [--concurrency 32] [--clients 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.catalog import default_catalog  # noqa: E402
from core.sandbox.app import build_app  # noqa: E402
from core.sandbox.config import SandboxConfig  # noqa: E402
from core.sandbox.transport import StreamingASGITransport  # noqa: E402

PROMPT = "Summarise the trade-offs of read replicas for a reporting workload."
REQUESTS = [
    ("/v1/chat/completions",
     {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}),
    ("/v1/messages",
     {"model": "claude-haiku-4-5", "max_tokens": 512,
      "messages": [{"role": "user", "content": PROMPT}]}),
    ("/v1beta/models/gemini-2.5-flash:generateContent",
     {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}),
]
MAX_REQUESTS = 50_000  # bound on the count per client, whatever the duration
WARM_UP_S = 0.5


async def _worker(client: httpx.AsyncClient, stop_at: float, stream: bool,
                  latencies: list[float], index: int) -> None:
    done = 0
    while time.perf_counter() < stop_at and len(latencies) < MAX_REQUESTS:
        path, body = REQUESTS[(index + done) % len(REQUESTS)]
        started = time.perf_counter()
        if stream:
            stream_path = path.replace(":generateContent", ":streamGenerateContent?alt=sse")
            async with client.stream("POST", stream_path, json={**body, "stream": True}) as r:
                async for _ in r.aiter_bytes():
                    pass
                status = r.status_code
        else:
            status = (await client.post(path, json=body)).status_code
        if status != 200:
            raise RuntimeError(f"unexpected status {status} on {path}")
        latencies.append(time.perf_counter() - started)
        done += 1


async def measure(client: httpx.AsyncClient, start_at: float, seconds: float, concurrency: int,
                  stream: bool = False) -> dict[str, object]:
    """Warm up, then run ``concurrency`` workers from ``start_at`` (perf_counter) for ``seconds``."""
    await _worker(client, time.perf_counter() + WARM_UP_S, stream, [], 0)
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    latencies: list[float] = []
    cpu_before = time.process_time()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(
        *(_worker(client, stop_at, stream, latencies, i) for i in range(concurrency))
    )
    return {"latencies": latencies, "cpu_s": time.process_time() - cpu_before}


def _client_process(url: str, start_at: float, seconds: float, concurrency: int,
                    stream: bool) -> dict[str, object]:
    async def go() -> dict[str, object]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            return await measure(client, start_at, seconds, concurrency, stream)

    return asyncio.run(go())


def _server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(url: str, pid: int, seconds: float, concurrency: int, clients: int,
           stream: bool) -> dict[str, float]:
    """Load the served sandbox from ``clients`` processes; figures for the measured window."""
    per_client = max(1, concurrency // clients)
    start_at = time.perf_counter() + WARM_UP_S + 1.5  # after every process has warmed up
    with ProcessPoolExecutor(clients) as pool:
        futures = [pool.submit(_client_process, url, start_at, seconds, per_client, stream)
                   for _ in range(clients)]
        time.sleep(max(0.0, start_at - time.perf_counter()))
        server_before = _server_cpu_s(pid)
        time.sleep(seconds)
        server_cpu = _server_cpu_s(pid) - server_before
        results = [f.result() for f in futures]
    latencies = sorted(x for r in results for x in r["latencies"])  # type: ignore[attr-defined]
    client_cpu = sum(float(r["cpu_s"]) for r in results)  # type: ignore[arg-type]
    return _figures(latencies, seconds, server_cpu, client_cpu)


def _figures(latencies: list[float], seconds: float, server_cpu: float | None,
             client_cpu: float) -> dict[str, float]:
    count = len(latencies)
    figures = {
        "requests": count,
        "rps": count / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(count * 0.99) - 1)] * 1000,
        "client_cpu_ms": client_cpu * 1000 / count,
    }
    if server_cpu is not None:
        figures["server_cpu_ms"] = server_cpu * 1000 / count
    return figures


def _report(label: str, f: dict[str, float]) -> None:
    line = (f"{label:<40} {f['rps']:>6.0f} req/s  p50 {f['p50_ms']:5.1f} ms  "
            f"p99 {f['p99_ms']:6.1f} ms  client CPU {f['client_cpu_ms']:.2f} ms/req")
    if "server_cpu_ms" in f:
        line += (f"  server CPU {f['server_cpu_ms']:.2f} ms/req "
                 f"(~{1000 / f['server_cpu_ms']:.0f} req/s per core)")
    print(line + f"  [{f['requests']:.0f} requests]")


def _start_server(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "sandbox", "serve", "--port", str(port),
         "--latency-scale", "0"],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError("the sandbox server did not start")


async def in_process(seconds: float, concurrency: int) -> dict[str, float]:
    """Non-streaming requests through StreamingASGITransport, app and client in one process."""
    app = build_app(default_catalog(), SandboxConfig(latency_scale=0))
    async with httpx.AsyncClient(base_url="http://sandbox",
                                 transport=StreamingASGITransport(app)) as client:
        result = await measure(client, 0.0, seconds, concurrency)
    latencies = sorted(result["latencies"])  # type: ignore[type-var]
    return _figures(latencies, seconds, None, float(result["cpu_s"]))  # type: ignore[arg-type]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per scenario")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight, total")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    args = parser.parse_args()
    print(f"machine: nproc {os.cpu_count()}, {_cpu_model()}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = _start_server(port)
    url = f"http://127.0.0.1:{port}"
    try:
        for stream in (False, True):
            label = f"served, {'streaming' if stream else 'non-streaming'}, c={args.concurrency}"
            _report(label, served(url, server.pid, args.seconds, args.concurrency,
                                  args.clients, stream))
    finally:
        server.terminate()
        server.wait(timeout=10)
    _report(f"in process, non-streaming, c={args.concurrency}",
            asyncio.run(in_process(args.seconds, args.concurrency)))


if __name__ == "__main__":
    main()
