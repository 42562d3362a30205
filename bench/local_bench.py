"""The local model on this machine: speed, a local-only run, and the LLM planner's outcomes.

Starts the llama.cpp server with `orchestra local up` (its own state file), then measures,
every call through Orchestra's CLI and call stack:
1. decode tokens/s and time to first token, streamed, plain and with a JSON schema (medians);
2. a 5-task local-only run: makespan against its critical path (longest chain of measured task
   durations through the DAG);
3. the LLM planner on the local model (what `run --planner llm --local-only` does before the
   run) over 20 demands: how often the plan validated, was repaired, or fell back offline.
Stops the server at the end. Figures go to bench/README.md by hand, with the machine line.

Usage: .venv/bin/python bench/local_bench.py [--rounds 5] [--demands 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import machine_line  # noqa: E402
from core.cli import main as cli  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from core.local import server  # noqa: E402
from core.local.state import STATE_ENV  # noqa: E402

PROMPT = "Explain in a short paragraph why the sky is blue."
SCHEMA_PROMPT = "Describe a fictional city as JSON: its name, country, population and a motto."
CITY = {"type": "object", "additionalProperties": False,
        "required": ["name", "country", "population", "motto"],
        "properties": {"name": {"type": "string"}, "country": {"type": "string"},
                       "population": {"type": "integer"}, "motto": {"type": "string"}}}
DEMANDS = [
    "compare tea and coffee, then write a short recommendation",
    "translate 'good morning, how are you?' into French",
    "summarise the benefits of unit tests in three bullet points",
    "research three note-taking apps, compare them and recommend one",
    "write a haiku about autumn and then review it",
    "list the pros and cons of remote work and draft a one-paragraph memo",
    "explain recursion to a beginner with an example in Python",
    "classify these reviews as positive or negative: 'great', 'awful', 'fine'",
    "plan a three-day trip to Lisbon with a budget table",
    "compare PostgreSQL, MySQL and SQLite for a small web app",
    "write a product description for a reusable water bottle, then shorten it",
    "extract the dates from: 'we met on 3 May 2021 and again on 9 June 2022'",
    "outline a talk on climate adaptation for city planners",
    "draft an email asking for a deadline extension and review its tone",
    "research the history of the bicycle and write a short timeline",
    "compare three sorting algorithms and say which suits nearly sorted data",
    "write a limerick about a cat and translate it into Spanish",
    "summarise the plot of Romeo and Juliet in five sentences",
    "give a checklist for reviewing a pull request",
    "explain the difference between TCP and UDP with a comparison table",
]


def _cli_json(*args: str) -> Any:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli([*args, "--json"])
    return code, json.loads(out.getvalue())


def _speed(model: str, rounds: int, schema: bool) -> dict[str, float]:
    """Median TTFT and decode tokens/s of streamed calls (ledger attempts of the calls)."""
    ttfts, rates = [], []
    for i in range(rounds):
        if schema:
            ledger_id = _schema_call(model, i)
        else:
            _cli_json("ask", f"{PROMPT} ({i})", "--model", model, "--max-tokens", "96",
                      "--stream")
            ledger_id = None
        attempt = Ledger().get_attempts()[-1] if ledger_id is None else ledger_id
        decode_s = (attempt.latency_ms - (attempt.ttft_ms or 0)) / 1000
        ttfts.append(attempt.ttft_ms or 0.0)
        if attempt.output_tokens > 1 and decode_s > 0:
            rates.append((attempt.output_tokens - 1) / decode_s)
    return {"ttft_ms": statistics.median(ttfts), "decode_tok_s": statistics.median(rates)}


def _schema_call(model: str, i: int) -> Any:
    """One streamed JSON-schema call through the call stack; its ledger attempt."""
    import asyncio

    from core.calls.factory import open_stack
    from core.calls.gateway import Gateway
    from core.policy import load_policy
    from core.types import ChatRequest, Message

    async def go() -> None:
        ledger = Ledger()
        async with Gateway() as gateway:
            with ledger.attempt_sink() as sink:
                stack = open_stack(gateway, load_policy(), ledger, on_attempt=sink.add)
                request = ChatRequest(model=model, max_tokens=96, json_schema=CITY,
                                      messages=[Message(role="user",
                                                        content=f"{SCHEMA_PROMPT} ({i})")])
                outcome = await stack.call(request, stream=True)
                json.loads(outcome.result.text)  # the grammar guarantees it parses

    asyncio.run(go())
    return Ledger().get_attempts()[-1]


def _local_run() -> dict[str, float]:
    """A 5-task local-only run from a plan file: makespan and critical path (s)."""
    tasks = [
        ("a", [], "Two facts about green tea."), ("b", [], "One sentence on tea history."),
        ("c", ["a", "b"], "Compare these in one sentence."),
        ("d", ["c"], "Write a two-line note from this."), ("e", ["d"], "Shorten the note."),
    ]
    plan = {"demand": "a note on tea", "tasks": [
        {"id": t, "title": t, "kind": "writing", "prompt": p, "depends_on": d,
         "max_output_tokens": 48} for t, d, p in tasks]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    code, summary = _cli_json("run", "--plan", handle.name, "--local-only")
    rows = {row.task_id: row for row in Ledger().get_tasks(summary["run_id"])}
    took = {t: (rows[t].ended_at - rows[t].started_at).total_seconds() for t, _, _ in tasks}
    finish: dict[str, float] = {}
    for task, deps, _ in tasks:  # listed in dependency order
        finish[task] = took[task] + max((finish[d] for d in deps), default=0.0)
    return {"status_ok": float(code == 0), "makespan_s": summary["makespan_s"],
            "critical_path_s": max(finish.values())}


def _planner(count: int) -> tuple[Counter[str], float]:
    """Plan each demand with `--planner llm` on the local model (planning only, not the run):
    how often the plan validated, was repaired, or fell back; and the median planning time."""
    import asyncio
    import time

    from core.execution.runs import plan_run
    from core.settings import Settings

    async def plan(demand: str, index: int) -> str:
        result = await plan_run(demand, run_id=f"bench-plan-{index}", planner="llm",
                                settings=Settings.from_environ(os.environ, local_only=True))
        return result.source

    outcomes: Counter[str] = Counter()
    took: list[float] = []
    for index, demand in enumerate(DEMANDS[:count]):
        started = time.monotonic()
        outcomes[asyncio.run(plan(demand, index))] += 1
        took.append(time.monotonic() - started)
    return outcomes, statistics.median(took)


def main() -> int:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--demands", type=int, default=len(DEMANDS))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="local-bench-"))
    os.environ[STATE_ENV] = str(scratch / "local_server.json")
    os.environ["ORCHESTRA_DB"] = str(scratch / "bench.duckdb")
    record = server.up()
    try:
        model = f"local:{record.model_id}"
        print(machine_line())
        print(f"model {model} ({record.model_label}), context {record.context_window}")
        for label, schema in (("plain", False), ("json_schema", True)):
            figures = _speed(model, args.rounds, schema)
            print(f"{label:12s} ttft {figures['ttft_ms']:.0f} ms, decode "
                  f"{figures['decode_tok_s']:.1f} tokens/s (median of {args.rounds})")
        run = _local_run()
        print(f"5-task local-only run: makespan {run['makespan_s']:.2f} s, critical path "
              f"{run['critical_path_s']:.2f} s, ratio "
              f"{run['makespan_s'] / run['critical_path_s']:.2f} (ok={bool(run['status_ok'])})")
        outcomes, median_s = _planner(args.demands)
        print(f"LLM planner over {args.demands} demands: {dict(outcomes)} "
              f"(median {median_s:.1f} s per plan)")
    finally:
        server.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
