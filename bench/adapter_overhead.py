"""Adapter overhead: Orchestra's adapter versus a bare httpx request to the served sandbox.

Goal: the adapter adds under 1 ms per call over a bare httpx request to the served sandbox
(p50, 1,000 sequential calls).

The sandbox runs as ``orchestra sandbox serve`` in its own process (loopback, latency scale 0),
so the client process's CPU time is the client's alone. For each wire protocol (OpenAI chat
completions, Anthropic messages, Gemini generateContent) the bench first captures the exact
request Orchestra's adapter sends and the sandbox's answer to it. Then, in one run:

* **bare**: ``httpx.AsyncClient.post`` of that request, pre-serialised, to the same path, and
  ``response.json()``;
* **adapter**: ``Gateway.for_served_sandbox(url).complete(ChatRequest)`` — gateway, adapter,
  body building, JSON parsing, error mapping, usage reading, pricing and the ``ChatResult``.

Calls are sequential, in alternating blocks (ABBA order) after a warm-up, so drift in the
machine's load hits both sides alike. Per call: p50/p95 wall time, and client CPU time
(``time.process_time`` around each block). A second, socket-free scenario replays the captured
answer through ``httpx.MockTransport`` for both sides, isolating Orchestra's own CPU per call.

Streamed calls (``--streams``, default 300 per side and protocol, sequential): **bare** is
``httpx.AsyncClient.stream`` of the same request with streaming on, reading every line;
**adapter** is ``Gateway.stream`` consumed to its ``StreamDone``. Besides wall and CPU time, the
bench counts the TCP connections each side opened (client sockets to the sandbox's port in
``/proc/net/tcp``, TIME_WAIT included): a stream that is not read to its end cannot go back to
the pool. Last, the SSE decoder alone: one captured stream's chunks fed to ``SSEDecoder`` versus
the character-by-character decoder it replaced (kept below as the baseline).

Run: ``.venv/bin/python bench/adapter_overhead.py [--calls 1000] [--block 50] [--streams 300]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import machine_line, percentile, served_sandbox  # noqa: E402
from core.calls.gateway import Gateway  # noqa: E402
from core.providers.sse import SSEDecoder  # noqa: E402
from core.types import ChatRequest, StreamDone  # noqa: E402

MODELS = {  # one model per wire protocol
    "openai_chat": "openai:gpt-4o-mini",
    "anthropic_messages": "anthropic:claude-haiku-4-5",
    "gemini_generate": "google:gemini-2.5-flash",
}
PROMPT = "Summarise the trade-offs of read replicas for a reporting workload."
MAX_TOKENS = 256
WARM_UP_CALLS = 100
MOCK_CALLS = 3000

Call = Callable[[], Awaitable[object]]


@dataclass
class Captured:
    """The exact request the adapter sends for one protocol, and the sandbox's answer."""

    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    answer: bytes = b""
    answer_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def target(self) -> str:
        """Path and query string, as the bare client requests them."""
        return self.path + (f"?{self.query}" if self.query else "")


@dataclass
class Side:
    """What one side (bare or adapter) measured: per-call wall times and CPU per block."""

    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0

    def cpu_ms_per_call(self) -> float:
        """Client CPU milliseconds per call."""
        return self.cpu_s * 1000 / len(self.latencies)


async def capture(url: str, model: str) -> Captured:
    """One adapter call through a recording transport that forwards to the served sandbox."""
    seen: list[Captured] = []

    async def forward(request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        kept = {k: v for k, v in request.headers.items() if k.lower() in
                ("content-type", "authorization", "x-api-key", "x-goog-api-key",
                 "anthropic-version")}
        record = Captured(request.url.path, request.url.query.decode(), kept, body)
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.post(record.target, content=body, headers=kept)
        record.status, record.answer = answer.status_code, answer.content
        record.answer_headers = [("content-type", answer.headers["content-type"])]
        seen.append(record)
        return httpx.Response(answer.status_code, content=answer.content,
                              headers=record.answer_headers)

    async with Gateway.for_served_sandbox(url, transport=httpx.MockTransport(forward)) as gateway:
        result = await gateway.complete(ChatRequest.of(model, PROMPT, max_tokens=MAX_TOKENS))
    if not result.text or seen[0].status != 200:
        raise RuntimeError(f"capturing {model} failed: HTTP {seen[0].status}")
    return seen[0]


def bare_call(client: httpx.AsyncClient, captured: Captured) -> Call:
    """A bare POST of the pre-serialised body, reading the JSON answer."""
    target, body, headers = captured.target, captured.body, captured.headers

    async def call() -> object:
        response = await client.post(target, content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"bare call got HTTP {response.status_code}")
        return response.json()

    return call


def adapter_call(gateway: Gateway, model: str) -> Call:
    """The same call through Orchestra: a ChatRequest to ``Gateway.complete``."""

    async def call() -> object:
        return await gateway.complete(ChatRequest.of(model, PROMPT, max_tokens=MAX_TOKENS))

    return call


async def run_block(call: Call, count: int, side: Side) -> None:
    """``count`` sequential calls; each call's wall time and the block's CPU time go to ``side``."""
    cpu = time.process_time()
    for _ in range(count):
        started = time.perf_counter()
        await call()
        side.latencies.append(time.perf_counter() - started)
    side.cpu_s += time.process_time() - cpu


async def alternate(bare: Call, adapter: Call, calls: int, block: int) -> tuple[Side, Side]:
    """Warm up both, then ``calls`` calls each in alternating ABBA blocks of ``block``."""
    await run_block(bare, WARM_UP_CALLS, Side())
    await run_block(adapter, WARM_UP_CALLS, Side())
    sides = {"bare": Side(), "adapter": Side()}
    calls_of = {"bare": bare, "adapter": adapter}
    for index in range(calls // block):
        order = ("bare", "adapter") if index % 2 == 0 else ("adapter", "bare")
        for name in order:
            await run_block(calls_of[name], block, sides[name])
    return sides["bare"], sides["adapter"]


async def served(url: str, captured: dict[str, Captured], calls: int,
                 block: int) -> dict[str, tuple[Side, Side]]:
    """Bare versus adapter over loopback, per protocol."""
    results = {}
    async with Gateway.for_served_sandbox(url) as gateway, \
            httpx.AsyncClient(base_url=url, timeout=60) as client:
        for protocol, model in MODELS.items():
            results[protocol] = await alternate(bare_call(client, captured[protocol]),
                                                adapter_call(gateway, model), calls, block)
    return results


async def mocked(captured: dict[str, Captured], calls: int,
                 block: int) -> dict[str, tuple[Side, Side]]:
    """Bare versus adapter with the captured answer replayed by ``httpx.MockTransport``."""
    results = {}
    for protocol, model in MODELS.items():
        record = captured[protocol]

        def replay(_: httpx.Request, record: Captured = record) -> httpx.Response:
            return httpx.Response(200, content=record.answer, headers=record.answer_headers)

        transport = httpx.MockTransport(replay)
        async with Gateway.for_served_sandbox("http://sandbox", transport=transport) as gateway, \
                httpx.AsyncClient(base_url="http://sandbox", transport=transport) as client:
            results[protocol] = await alternate(bare_call(client, record),
                                                adapter_call(gateway, model), calls, block)
    return results


def report(title: str, results: dict[str, tuple[Side, Side]]) -> None:
    """One Markdown table: latencies, the adapter's p50 difference and CPU per call."""
    print(f"\n{title}\n")
    print("| protocol | bare p50 ms | bare p95 ms | adapter p50 ms | adapter p95 ms "
          "| Δ p50 ms | ratio p50 | bare CPU ms/call | adapter CPU ms/call | Δ CPU ms/call |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for protocol, (bare, adapter) in results.items():
        b50, a50 = (percentile(s.latencies, 0.5) * 1000 for s in (bare, adapter))
        b95, a95 = (percentile(s.latencies, 0.95) * 1000 for s in (bare, adapter))
        bcpu, acpu = bare.cpu_ms_per_call(), adapter.cpu_ms_per_call()
        print(f"| {protocol} | {b50:.3f} | {b95:.3f} | {a50:.3f} | {a95:.3f} | {a50 - b50:+.3f} "
              f"| {a50 / b50:.2f} | {bcpu:.3f} | {acpu:.3f} | {acpu - bcpu:+.3f} |")


async def main_async(args: argparse.Namespace) -> None:
    """Serve, capture, measure over loopback, then replay in process."""
    with served_sandbox(latency_scale=0) as url:
        captured = {p: await capture(url, m) for p, m in MODELS.items()}
        for protocol, record in captured.items():
            answer = json.loads(record.answer)
            print(f"{protocol}: POST {record.target}, request {len(record.body)} B, "
                  f"answer {len(record.answer)} B ({len(json.dumps(answer))} B re-encoded)")
        over_loopback = await served(url, captured, args.calls, args.block)
    report(f"Served sandbox on loopback, {args.calls} sequential calls per side and protocol",
           over_loopback)
    report(f"Replayed answers (httpx.MockTransport, no socket), {MOCK_CALLS} calls per side",
           await mocked(captured, MOCK_CALLS, args.block))
    with served_sandbox(latency_scale=0) as url:
        rows, chunks = await streamed(url, captured, args.streams)
    print(f"\nStreamed calls on loopback, {args.streams} sequential calls per side and protocol\n")
    print("| protocol | bare p50 ms | adapter p50 ms | Δ p50 ms | bare CPU ms/call "
          "| adapter CPU ms/call | bare new TCP connections | adapter new TCP connections |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print("\n" + decoder_bench(chunks))


def stream_target(protocol: str, record: Captured) -> tuple[str, bytes]:
    """The streaming version of a captured plain request: its target and body."""
    if protocol == "gemini_generate":
        path = record.path.replace(":generateContent", ":streamGenerateContent")
        return f"{path}?alt=sse", record.body
    body = json.loads(record.body)
    body["stream"] = True
    if protocol == "openai_chat":
        body["stream_options"] = {"include_usage": True}
    return record.target, json.dumps(body).encode()


def tcp_sockets_to(port: int) -> int:
    """Client-side TCP sockets (any state) whose remote port is ``port``, from /proc/net/tcp."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            next(handle)
            count += sum(1 for line in handle if int(line.split()[2].rsplit(":", 1)[1], 16) == port)
    return count


async def stream_side(call: Call, count: int, port: int) -> tuple[Side, int]:
    """``count`` streamed calls: their times, and the TCP connections they opened."""
    side = Side()
    before = tcp_sockets_to(port)
    await run_block(call, count, side)
    return side, tcp_sockets_to(port) - before


async def streamed(url: str, captured: dict[str, Captured],
                   calls: int) -> tuple[list[str], list[str]]:
    """Bare streaming versus ``Gateway.stream`` per protocol, with connections counted."""
    port = int(url.rsplit(":", 1)[1])
    rows: list[str] = []
    chunks: list[list[str]] = []
    for protocol, model in MODELS.items():
        target, body = stream_target(protocol, captured[protocol])
        headers = captured[protocol].headers

        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def bare() -> object:
                async with client.stream("POST", target, content=body,
                                         headers=headers) as response:
                    texts = [text async for text in response.aiter_text()]
                chunks.append(texts)
                return texts

            await run_block(bare, 20, Side())
            bare_side, bare_conns = await stream_side(bare, calls, port)
        async with Gateway.for_served_sandbox(url) as gateway:
            async def adapter() -> object:
                async for event in gateway.stream(ChatRequest.of(model, PROMPT,
                                                                 max_tokens=MAX_TOKENS)):
                    if isinstance(event, StreamDone):
                        return event.result
                raise RuntimeError("no StreamDone")

            await run_block(adapter, 20, Side())
            adapter_side, adapter_conns = await stream_side(adapter, calls, port)
        b50, a50 = (percentile(s.latencies, 0.5) * 1000 for s in (bare_side, adapter_side))
        rows.append(f"| {protocol} | {b50:.3f} | {a50:.3f} | {a50 - b50:+.3f} "
                    f"| {bare_side.cpu_ms_per_call():.3f} | {adapter_side.cpu_ms_per_call():.3f} "
                    f"| {bare_conns} / {calls} | {adapter_conns} / {calls} |")
    return rows, chunks[-1]


class CharLoopDecoder(SSEDecoder):
    """The decoder's former ``feed`` (a character loop): the baseline of the decoder bench."""

    def feed(self, text: str) -> list:  # type: ignore[override]
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = False
        buffer, events, start, index = self._pending + text, [], 0, 0
        while index < len(buffer):
            char = buffer[index]
            if char not in "\r\n":
                index += 1
                continue
            line = buffer[start:index]
            if char == "\r":
                if index + 1 < len(buffer) and buffer[index + 1] == "\n":
                    index += 1
                elif index + 1 == len(buffer):
                    self._skip_lf = True
            index += 1
            start = index
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._pending = buffer[start:]
        return events


def decoder_bench(chunks: list[str], rounds: int = 2000) -> str:
    """µs to decode one captured stream, chunk by chunk, with each decoder."""
    cells = []
    for decoder_class in (CharLoopDecoder, SSEDecoder):
        started = time.perf_counter()
        for _ in range(rounds):
            decoder = decoder_class()
            for chunk in chunks:
                decoder.feed(chunk)
        cells.append((time.perf_counter() - started) / rounds * 1e6)
    size = sum(len(c) for c in chunks)
    return (f"SSE decoder, one {size}-character stream in {len(chunks)} chunks: character loop "
            f"{cells[0]:.1f} µs, str split {cells[1]:.1f} µs ({cells[0] / cells[1]:.1f}x)")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="measured calls per side")
    parser.add_argument("--block", type=int, default=50, help="calls per alternating block")
    parser.add_argument("--streams", type=int, default=300, help="streamed calls per side")
    args = parser.parse_args()
    print(machine_line())
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\nbench wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
