"""The call stack's cost: bare httpx, the gateway alone, and the full stack, in one run.

Against the zero-latency sandbox served in its own process (``orchestra sandbox serve``), the
same OpenAI-protocol call is made four ways, in interleaved blocks so drift in the machine's
load hits every side alike:

* **bare**: ``httpx.AsyncClient.post`` of the exact request body the adapter sends, then
  ``response.json()`` (streamed: the SSE lines read to the end);
* **gateway**: ``Gateway.complete`` / ``Gateway.stream`` — one HTTP attempt through the adapter;
* **stack**: ``CallStack.call`` with the model pinned — routing, admission (budget, breaker,
  cap share), retries, the attempt record into a real ledger sink, tracing API calls (no SDK:
  OpenTelemetry's no-op tracer);
* **stack+trace**: the same with the OpenTelemetry SDK installed and a span processor that
  drops finished spans (the cost of recording spans, not of exporting them).

Figures: p50 added latency per sequential call over bare httpx, plain and streamed; calls/s at
concurrency 64 and 256 (plain); and, in child processes, peak RSS after N plain calls. With
``--litellm-python`` (an interpreter that has LiteLLM, see ``bench/litellm_peer.py``), LiteLLM's
Router is measured against the same sandbox in the same run.

Run: ``.venv/bin/python bench/stack_bench.py [--calls 600] [--concurrent 2000]
[--litellm-python /tmp/litellm/bin/python]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import machine_line, percentile, served_sandbox  # noqa: E402
from core.calls.context import CallContext  # noqa: E402
from core.calls.gateway import Gateway  # noqa: E402
from core.calls.stack import CallStack  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from core.policy import Policy  # noqa: E402
from core.routing.state import routing_state  # noqa: E402
from core.types import ChatRequest  # noqa: E402

MODEL = "openai:gpt-4o-mini"
REQUEST = ChatRequest.of(MODEL, "Summarise the trade-offs of read replicas.", max_tokens=128)
BODY = {"model": "gpt-4o-mini", "max_tokens": 128,
        "messages": [{"role": "user", "content": REQUEST.messages[0].text}]}
Call = Callable[[bool], Awaitable[object]]


def _policy() -> Policy:
    policy = Policy()
    policy.budget.per_run_usd = policy.budget.global_per_day_usd = 10_000
    policy.budget.per_provider_per_day_usd = 10_000
    policy.concentration.cap = 1.0  # one provider on purpose
    return policy


class Clients:
    """The four ways of making the call, over one served sandbox."""

    def __init__(self, url: str, db: Path) -> None:
        self.bare = httpx.AsyncClient(base_url=url + "/v1", timeout=httpx.Timeout(30, pool=None),
                                      headers={"authorization": "Bearer sandbox"})
        self.gateway = Gateway.for_served_sandbox(url, timeout_s=30)
        self.sink = Ledger(db).attempt_sink()
        policy = _policy()
        self.stack = CallStack(self.gateway, policy, routing_state(policy),
                               on_attempt=self.sink.add)

    async def call_bare(self, stream: bool) -> object:
        if not stream:
            response = await self.bare.post("/chat/completions", json=BODY)
            return response.json()
        body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
        async with self.bare.stream("POST", "/chat/completions", json=body) as response:
            return [line async for line in response.aiter_lines()]

    async def call_gateway(self, stream: bool) -> object:
        if not stream:
            return await self.gateway.complete(REQUEST)
        return [event async for event in self.gateway.stream(REQUEST)]

    async def call_stack(self, stream: bool) -> object:
        return await self.stack.call(REQUEST, context=CallContext(purpose="ask"), stream=stream,
                                     fallback=False)

    async def close(self) -> None:
        await self.bare.aclose()
        await self.gateway.aclose()
        self.sink.close()


def _install_tracing() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

    class Drop(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            return None

    provider = TracerProvider()
    provider.add_span_processor(Drop())
    trace.set_tracer_provider(provider)


async def _sequential(sides: dict[str, Call], stream: bool, calls: int,
                      block: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in sides}
    for name, call in sides.items():  # warm-up
        for _ in range(20):
            await call(stream)
    for start in range(0, calls, block):
        order = list(sides) if (start // block) % 2 == 0 else list(reversed(list(sides)))
        for name in order:
            for _ in range(min(block, calls - start)):
                t0 = time.perf_counter()
                await sides[name](stream)
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


async def _throughput(call: Call, total: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await call(False)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - t0)


async def measure(url: str, calls: int, concurrent: int, traced: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        clients = Clients(url, Path(folder) / "bench.duckdb")
        sides: dict[str, Call] = {"bare": clients.call_bare, "gateway": clients.call_gateway,
                                  "stack": clients.call_stack}
        out: dict[str, object] = {}
        try:
            for stream in (False, True):
                times = await _sequential(sides, stream, calls, block=50)
                out["stream" if stream else "plain"] = {
                    name: round(percentile(t, 0.5), 3) for name, t in times.items()}
            if not traced:
                for level in (64, 256):
                    out[f"c{level}"] = {name: round(await _throughput(call, concurrent, level))
                                        for name, call in sides.items()}
        finally:
            await clients.close()
    return out


def _peak_rss_child(url: str, side: str, calls: int) -> float:
    """Peak RSS (MiB) of a fresh process making ``calls`` plain calls with one client kind."""
    done = subprocess.run([sys.executable, __file__, "--memory-child", side, "--url", url,
                           "--memory-calls", str(calls)], capture_output=True, text=True,
                          check=True, timeout=1800)
    return float(done.stdout.strip().splitlines()[-1])


async def _memory_child(url: str, side: str, calls: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clients = Clients(url, Path(folder) / "memory.duckdb")
        call: Call = getattr(clients, f"call_{side}")
        await _throughput(call, calls, 64)
        await clients.close()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _litellm(python: str, url: str, concurrency: int, total: int) -> dict[str, float]:
    """LiteLLM's Router at ``concurrency``, in its own interpreter (see litellm_peer.py)."""
    script = Path(__file__).with_name("litellm_peer.py")
    done = subprocess.run([python, str(script), url, "--concurrency", str(concurrency),
                           "--total", str(total)], capture_output=True, text=True, check=True,
                          timeout=1800)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600, help="sequential calls per side")
    parser.add_argument("--concurrent", type=int, default=2000, help="calls per throughput run")
    parser.add_argument("--memory-calls", type=int, default=10_000)
    parser.add_argument("--litellm-python", help="a Python with LiteLLM installed (the peer)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        asyncio.run(_memory_child(args.url, args.memory_child, args.memory_calls))
        return
    print(machine_line())
    with served_sandbox() as url:
        plain = asyncio.run(measure(url, args.calls, args.concurrent, traced=False))
        _install_tracing()
        traced = asyncio.run(measure(url, args.calls, args.concurrent, traced=True))
        memory = {side: round(_peak_rss_child(url, side, args.memory_calls), 1)
                  for side in ("bare", "gateway", "stack")}
        peer = {level: _litellm(args.litellm_python, url, level, args.concurrent)
                for level in (64, 256)} if args.litellm_python else {}
    for kind in ("plain", "stream"):
        p50 = plain[kind]
        assert isinstance(p50, dict)
        traced_p50 = traced[kind]
        assert isinstance(traced_p50, dict)
        print(f"{kind}: p50 ms bare {p50['bare']} · gateway +{p50['gateway'] - p50['bare']:.3f}"
              f" · stack +{p50['stack'] - p50['bare']:.3f} · stack with tracing SDK "
              f"+{traced_p50['stack'] - traced_p50['bare']:.3f}")
    for level in ("c64", "c256"):
        rates = plain[level]
        assert isinstance(rates, dict)
        print(f"{level}: calls/s " + " · ".join(f"{k} {v}" for k, v in rates.items())
              + f" (stack/bare {rates['stack'] / rates['bare']:.2f})")
    print(f"peak RSS after {args.memory_calls} calls (MiB): "
          + " · ".join(f"{k} {v}" for k, v in memory.items()))
    for level, figures in peer.items():
        rates = plain[f"c{level}"]
        assert isinstance(rates, dict)
        print(f"c{level}: LiteLLM Router {figures['calls_per_s']} calls/s "
              f"(stack/LiteLLM {rates['stack'] / figures['calls_per_s']:.2f})")
    print(json.dumps({"untraced": plain, "traced": traced, "peak_rss_mib": memory,
                      "litellm": peer}))


if __name__ == "__main__":
    main()
