"""Every entry point calls models through the one call stack.

For each caller — run tasks, the LLM scorer, the LLM planner, compare, refine, mixture-of-agents,
vote and the judge — the HTTP requests that reach the (in-process) sandbox are counted per
provider and compared with what the stack accounted for: every request is an attempt record,
the budget was charged every cost, the concentration cap counted every call, and a provider
whose breaker is open receives no request at all. ``ask`` is held to the day's budgets read
from the ledger.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from core.calls.gateway import Gateway
from core.calls.stack import CallStack
from core.routing.state import routing_state
from core.catalog import load_catalog
from core.cli import main
from core.execution.runs import RunSession
from core.ledger import Ledger
from core.patterns import compare, judge, moa, refine, vote
from core.planning.choose import make_plan
from core.planning.plan import Plan, Task
from core.policy import ComplexitySettings, Policy
from core.sandbox.app import build_app
from core.sandbox.config import SandboxConfig
from core.sandbox.transport import StreamingASGITransport
from core.types import AttemptRecord

CATALOG = load_catalog()  # the shipped catalog (no local server, whatever runs on this machine)
CHEAP = ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash"]
BLOCKED = "anthropic"


class CountingTransport(httpx.AsyncBaseTransport):
    """The in-process sandbox, counting requests per provider (each provider has its own
    host, ``PROVIDER.sandbox``)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._inner = StreamingASGITransport(build_app(CATALOG,
                                                       SandboxConfig(latency_scale=0)))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests[request.url.host.split(".")[0]] += 1
        return await self._inner.handle_async_request(request)


def _gateway(transport: CountingTransport) -> Gateway:
    catalog = CATALOG
    urls = {name: f"http://{name}.sandbox" + ("/v1" if p.protocol == "openai_chat" else "")
            for name, p in catalog.providers.items() if not p.local}  # no local server here
    return Gateway(catalog, transport=transport, base_urls=urls, served_sandbox=True)


def _policy() -> Policy:
    policy = Policy(complexity=ComplexitySettings(mode="llm"))
    policy.retry.base_s, policy.retry.cap_s = 0.001, 0.01
    return policy


Caller = Callable[[CallStack], Awaitable[Any]]


async def _compare(stack: CallStack) -> Any:
    return await compare(stack, "Name three rivers", CHEAP, max_tokens=60)


async def _refine(stack: CallStack) -> Any:
    return await refine(stack, "Write a haiku about tides", CHEAP[0], CHEAP[1])


async def _moa(stack: CallStack) -> Any:
    return await moa(stack, "Explain DNS", proposers=CHEAP, aggregator="openai:gpt-4o",
                     max_tokens=60)


async def _vote(stack: CallStack) -> Any:
    return await vote(stack, "Is 17 prime?", CHEAP, choices=["yes", "no"])


async def _judge(stack: CallStack) -> Any:
    answers = await compare(stack, "Name three rivers", CHEAP[:1] + CHEAP[2:], max_tokens=60)
    return await judge(stack, answers.prompt, answers.results, "Three real rivers.",
                       "anthropic:claude-haiku-4-5")


async def _planner(stack: CallStack) -> Any:
    return await make_plan("research two databases and compare them", planner="llm",
                           stack=stack)


CALLERS: dict[str, Caller] = {"compare": _compare, "refine": _refine, "moa": _moa,
                              "vote": _vote, "judge": _judge, "llm planner": _planner}


@pytest.mark.parametrize("name", list(CALLERS))
async def test_each_caller_is_recorded_budgeted_and_capped_for_every_request(name: str) -> None:
    transport, records = CountingTransport(), []
    gateway, policy = _gateway(transport), _policy()
    stack = CallStack(gateway, policy, routing_state(policy), on_attempt=records.append)
    await CALLERS[name](stack)
    await gateway.aclose()
    made: Counter[str] = Counter(a.provider for a in records)
    assert sum(transport.requests.values()) > 0
    assert made == transport.requests  # every HTTP request is an attempt record
    spent = stack.state.budget.spent()["run"] if stack.state.budget else None
    assert spent == sum(a.cost_usd or Decimal(0) for a in records) > 0  # every cost charged
    shares = stack.state.shares.shares()
    total = sum(made.values())
    assert {p: round(s["run"] * total) for p, s in shares.items()} == dict(made)  # cap counted
    assert {a.purpose for a in records} <= {"pattern", "judge", "planner"}


@pytest.mark.parametrize("name", list(CALLERS))
async def test_an_open_breaker_keeps_every_caller_away_from_its_provider(name: str) -> None:
    transport = CountingTransport()
    gateway, policy = _gateway(transport), _policy()
    stack = CallStack(gateway, policy, routing_state(policy))
    for _ in range(policy.breaker.failure_threshold):
        stack.state.breakers.get(BLOCKED).record_failure()
    try:
        await CALLERS[name](stack)
    except Exception:  # noqa: BLE001 - a pattern may fail without the blocked model; fine here
        pass
    await gateway.aclose()
    assert transport.requests[BLOCKED] == 0
    assert sum(transport.requests.values()) > 0


def _plan(max_output_tokens: int = 300) -> Plan:
    return Plan(demand="d", tasks=[
        Task(id="a", title="A", kind="research", prompt="list three databases",
             max_output_tokens=max_output_tokens),
        Task(id="b", title="B", kind="analysis", prompt="compare them", depends_on=["a"],
             max_output_tokens=max_output_tokens),
    ])


async def test_run_tasks_and_llm_scoring_are_recorded_and_the_run_reports_the_ledgers_cost(
        tmp_path) -> None:
    transport = CountingTransport()
    gateway = _gateway(transport)
    session = RunSession(_plan(), db_path=tmp_path / "r.duckdb", gateway=gateway,
                         policy=_policy(), budget_usd=Decimal("1"), catalog=CATALOG)
    summary = await session.run()
    await gateway.aclose()
    attempts = session.ledger.get_attempts(run_id=summary.run_id)
    assert Counter(a.provider for a in attempts) == transport.requests
    assert Counter(a.purpose for a in attempts) == {"scorer": 2, "task": 2}
    assert summary.cost_usd == sum(a.cost_usd or Decimal(0) for a in attempts)


async def test_a_tiny_budget_with_llm_scoring_sends_no_call_whose_reservation_does_not_fit(
        tmp_path) -> None:
    transport = CountingTransport()
    gateway = _gateway(transport)
    budget = Decimal("0.0001")
    session = RunSession(_plan(max_output_tokens=4000), db_path=tmp_path / "t.duckdb",
                         gateway=gateway, policy=_policy(), budget_usd=budget,
                         catalog=CATALOG)
    summary = await session.run()
    await gateway.aclose()
    attempts = session.ledger.get_attempts(run_id=summary.run_id)
    assert len(attempts) == sum(transport.requests.values())
    assert summary.cost_usd == sum(a.cost_usd or Decimal(0) for a in attempts) <= budget
    assert summary.status == "failed"
    failed = [session.executor.states[t] for t in ("a", "b")]
    assert failed[0].failure == "budget_exceeded" and failed[1].failure == "dependency_failed"


def test_ask_is_held_to_the_days_budgets_in_the_ledger(tmp_path, monkeypatch, capsys) -> None:
    db = tmp_path / "a.duckdb"
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("[budget]\nglobal_per_day_usd = 0.01\n")
    monkeypatch.setenv("ORCHESTRA_POLICY", str(policy_file))
    spent = AttemptRecord(attempt_id="earlier", provider="openai", model="openai:gpt-4o",
                          mode="sandbox", status="ok", cost_usd=Decimal("0.01"),
                          started_at=time.time(), ended_at=time.time())
    Ledger(db).record_attempts([spent])
    assert main(["ask", "Say hello", "--db", str(db), "--json"]) == 2
    err = capsys.readouterr().err
    assert "over budget" in err and "raise the budget" in err
    assert len(err.strip().splitlines()) == 1
    assert [a.attempt_id for a in Ledger(db).get_attempts()] == ["earlier"]

