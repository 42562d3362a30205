"""Tool-loop benchmark: a loop's overhead per model turn, against the same model calls without it.

The sandbox is mounted in-process (latency scale 0, so the model answers at once; its own
work is in every measure alike and cancels out of the differences). Each round times, on the
same call stack (route, budget, breaker, retry, record, trace all on):

- ``loop``: ``run_tool_loop`` for "What is 1234 * 5678?" with the calculator — two model calls
  (the tool call, then the answer) and one tool call;
- ``replay``: the same two requests (tools offered, the tool result in the second) sent
  straight to the stack, one after the other — the model calls alone;
- ``plain``: two calls of the same prompt with no tools at all.

Overhead per turn = (loop − replay) / 2: what the loop adds (tool execution and its span,
messages, result assembly) over the model calls it makes. ``--ledger`` also hands each turn's
tool calls to a ``ToolCallWriter`` on a scratch ledger, as ``ask --tools`` does (the writes
happen on its thread; the time to drain them at the end is reported apart). Medians over the
rounds, wall clock and this process's CPU time (the CPU figure holds up better on a busy
machine).

Run: ``.venv/bin/python bench/tools_bench.py [--rounds 200] [--ledger]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import machine_line, percentile  # noqa: E402
from core.calls.gateway import Gateway  # noqa: E402
from core.calls.stack import CallStack  # noqa: E402
from core.routing.candidates import route_request_for  # noqa: E402
from core.routing.state import routing_state  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from core.policy import BudgetSettings, Policy  # noqa: E402
from core.sandbox.config import SandboxConfig  # noqa: E402
from core.tools.builtins import builtin_tools  # noqa: E402
from core.tools.loop import run_tool_loop  # noqa: E402
from core.tools.session import ToolCallWriter  # noqa: E402
from core.tools.settings import ToolSettings  # noqa: E402
from core.types import ChatRequest  # noqa: E402

MODEL = "openai:gpt-4o-mini"
PROMPT = "What is 1234 * 5678?"
BIG = BudgetSettings(per_run_usd=10_000, per_provider_per_day_usd=10_000,
                     global_per_day_usd=10_000)


async def _round(stack: CallStack, writer: ToolCallWriter | None) -> dict[str, float]:
    tools = [t for t in builtin_tools(ToolSettings()) if t.name == "calculator"]
    request = ChatRequest.of(MODEL, PROMPT)
    route = route_request_for(request, model=MODEL)
    sent: list[tuple[ChatRequest, Any]] = []

    async def call(r: ChatRequest, rt: Any) -> Any:
        sent.append((r, rt))
        return await stack.call(r, rt)

    t0, c0 = time.perf_counter(), time.process_time()
    out = await run_tool_loop(call, request, route, tools, max_turns=4, timeout_s=5,
                              record=writer)
    t1, c1 = time.perf_counter(), time.process_time()
    assert out.stopped == "answered" and "7006652" in out.result.text, out.result.text
    for r, rt in sent:
        await stack.call(r, rt)
    t2, c2 = time.perf_counter(), time.process_time()
    for _ in sent:
        await stack.call(request, route)
    t3, c3 = time.perf_counter(), time.process_time()
    return {"loop": t1 - t0, "replay": t2 - t1, "plain": t3 - t2, "turns": len(sent),
            "loop_cpu": c1 - c0, "replay_cpu": c2 - c1, "plain_cpu": c3 - c2}


async def bench(rounds: int, use_ledger: bool) -> tuple[list[dict[str, float]], float]:
    """The rounds' timings, and the seconds the ledger writes took to drain afterwards."""
    policy = Policy(budget=BIG)
    ledger = Ledger(Path(tempfile.mkdtemp()) / "bench.duckdb")
    writer = ToolCallWriter(ledger) if use_ledger else None
    async with Gateway(force_sandbox=True, sandbox=SandboxConfig(latency_scale=0)) as gateway:
        stack = CallStack(gateway, policy, routing_state(policy, configured=gateway.available))
        for _ in range(5):  # warm-up: connections, imports, caches
            await _round(stack, writer)
        rows = [await _round(stack, writer) for _ in range(rounds)]
    t0 = time.perf_counter()
    if writer is not None:
        writer.close()
        assert len(ledger.get_tool_calls()) == rounds + 5
    return rows, time.perf_counter() - t0


def report(rows: list[dict[str, float]], use_ledger: bool, drain_s: float) -> None:
    turns = rows[0]["turns"]
    keys = ("loop", "replay", "plain", "loop_cpu", "replay_cpu", "plain_cpu")
    med = {k: statistics.median(r[k] for r in rows) * 1000 for k in keys}
    p95 = {k: percentile([r[k] * 1000 for r in rows], 0.95) for k in keys}
    print(machine_line())
    print(f"rounds: {len(rows)}, model turns per loop: {turns:g}, tool calls written to the "
          f"ledger: {f'yes (drained {drain_s:.2f} s after the rounds)' if use_ledger else 'no'}")
    print("| measure | median ms | p95 ms | median CPU ms |\n|---|---:|---:|---:|")
    for key, label in (("loop", "tool loop (2 model calls + 1 tool call)"),
                       ("replay", "the same 2 model calls, no loop"),
                       ("plain", "2 model calls without tools")):
        print(f"| {label} | {med[key]:.2f} | {p95[key]:.2f} | {med[key + '_cpu']:.2f} |")
    for unit, suffix in (("wall", ""), ("CPU", "_cpu")):
        over = (med["loop" + suffix] - med["replay" + suffix]) / turns
        plain = (med["loop" + suffix] - med["plain" + suffix]) / turns
        print(f"overhead per turn ({unit}): {over:.2f} ms vs replay, {plain:.2f} ms vs plain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--ledger", action="store_true", help="write tool calls to a ledger")
    args = parser.parse_args()
    rows, drain_s = asyncio.run(bench(args.rounds, args.ledger))
    report(rows, args.ledger, drain_s)


if __name__ == "__main__":
    main()
