"""The response cache: a second identical ask is $0, marked cached, and makes no HTTP request.

The provider is the sandbox served on loopback behind a request counter (the key and base URL
set as for a live provider), so the requests are counted where they arrive.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import uvicorn

from core.calls.cache import ResponseCache, cache_key, cache_savings, cacheable
from core.catalog import default_catalog
from core.cli import main
from core.ledger import Ledger
from core.policy import CacheSettings
from core.sandbox.app import build_app
from core.sandbox.config import SandboxConfig
from core.types import ChatRequest, ChatResult, Usage


class Counting:
    """An ASGI app counting the model requests it passes to the sandbox."""

    def __init__(self, app) -> None:
        self.app, self.requests = app, 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.requests += 1
        await self.app(scope, receive, send)


@contextlib.contextmanager
def counted_sandbox() -> Iterator[tuple[str, Counting]]:
    app = Counting(build_app(default_catalog(), SandboxConfig(latency_scale=0)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for _ in range(500):
        with contextlib.suppress(httpx.TransportError):
            if server.started and httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        time.sleep(0.01)
    try:
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def provider(monkeypatch):
    with counted_sandbox() as (url, app):
        monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cache-0123456789")
        yield app


def _ask(capsys, db: str, *extra: str) -> dict:
    assert main(["ask", "Name three rivers", "--model", "openai:gpt-4o-mini", "--json",
                 "--db", db, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_second_identical_ask_with_cache_is_free_cached_and_makes_no_request(
        capsys, tmp_path, provider):
    db = str(tmp_path / "c.duckdb")
    first = _ask(capsys, db, "--cache")
    assert provider.requests == 1 and first["cost_usd"] > 0 and not first["cached"]
    second = _ask(capsys, db, "--cache")
    assert provider.requests == 1  # served without an HTTP request
    assert second["cached"] and second["cost_usd"] == 0 and second["text"] == first["text"]
    assert second["usage"]["input_tokens"] == 0  # tokens were counted once, when paid for
    paid, cached = Ledger(db).get_attempts()
    assert (paid.cached, cached.cached) == (False, True)
    assert cached.cost_usd == 0 and cached.status == "ok" and cached.output == first["text"]
    assert cache_savings(Ledger(db)) == (1, paid.cost_usd)
    third = _ask(capsys, db)  # without --cache it is paid again
    assert provider.requests == 2 and not third["cached"] and third["cost_usd"] > 0


def test_the_text_footer_says_cached(capsys, tmp_path, provider):
    db = str(tmp_path / "c.duckdb")
    argv = ["ask", "Name a sea", "--model", "openai:gpt-4o-mini", "--cache", "--db", db]
    assert main(argv) == 0 and main(argv) == 0
    assert capsys.readouterr().err.splitlines()[-1].endswith("· cached]")
    assert provider.requests == 1


def _result(text: str = "hi") -> ChatResult:
    return ChatResult(model="openai:gpt-4o-mini", provider="openai", mode="sandbox", text=text,
                      usage=Usage(input_tokens=5, output_tokens=2), cost_usd=Decimal("0.002"))


def test_the_key_covers_everything_that_shapes_the_answer():
    base = ChatRequest.of("openai:gpt-4o-mini", "hello", max_tokens=100)
    variants = [base.model_copy(update=change) for change in (
        {"model": "openai:gpt-4o"}, {"max_tokens": 101}, {"system": "be brief"},
        {"temperature": 0.0}, {"json_schema": {"type": "object"}},
        {"messages": [*base.messages, *base.messages]})]
    keys = {cache_key(v) for v in variants}
    assert len(keys) == len(variants) and cache_key(base) not in keys
    assert cache_key(base) == cache_key(ChatRequest.of("openai:gpt-4o-mini", "hello",
                                                       max_tokens=100))


def test_sampled_requests_only_when_asked_and_entries_expire(tmp_path):
    sampled = ChatRequest.of("openai:gpt-4o-mini", "hello", temperature=0.7)
    assert not cacheable(sampled, CacheSettings(enabled=True))
    assert cacheable(sampled, CacheSettings(enabled=True, sampled=True))
    assert cacheable(ChatRequest.of("m", "x", temperature=0.0), CacheSettings())
    ledger = Ledger(tmp_path / "c.duckdb")
    hour = CacheSettings(ttl_s=3600)
    fresh = ResponseCache(ledger, hour)
    fresh.store("k", _result())
    assert fresh.lookup("k").text == "hi" and fresh.lookup("k") is not None
    fresh.flush()  # written behind: one transaction for the entry and its two hits
    assert cache_savings(ledger) == (2, Decimal("0.004"))
    ledger.transact(lambda con: con.execute(
        "UPDATE response_cache SET created_at = created_at - INTERVAL 2 HOUR"))
    assert ResponseCache(ledger, hour).lookup("k") is None  # older than the TTL
    assert ResponseCache(ledger, CacheSettings(ttl_s=3 * 3600)).lookup("k") is not None

def test_a_rerun_with_cache_is_free_marked_cached_and_outside_the_saving(capsys, tmp_path):
    db = str(tmp_path / "r.duckdb")
    plan = tmp_path / "plan.yaml"
    plan.write_text("""
demand: Two short answers
tasks:
  - {id: a, title: First, kind: writing, model: "openai:gpt-4o-mini", prompt: "Name a river"}
  - {id: b, title: Second, kind: writing, model: "google:gemini-2.0-flash", prompt: "Name a sea"}
""")
    argv = ["run", "--plan", str(plan), "--cache", "--json", "--db", db]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["cached_tasks"] == 0 and first["cost_usd"] > 0
    assert second["cached_tasks"] == 2 and second["cost_usd"] == 0
    assert all(t["cached"] and t["cost_usd"] == 0 for t in second["task_results"])
    assert second["baseline_cost_usd"] == 0 and second["saving_usd"] == 0  # not a "saving"
    runs = {a.run_id for a in Ledger(db).get_attempts()}
    assert len(runs) == 2
    from ui.runs import open_run  # the Run page's cards say which answers came from the cache

    paid, cached = open_run(first["run_id"], Ledger(db)), open_run(second["run_id"], Ledger(db))
    assert paid is not None and cached is not None
    assert not any(card.cached for card in paid.board.cards.values())
    assert all(card.headline(0).startswith("done on ") and " · cached" in card.headline(0)
               for card in cached.board.cards.values())
    assert main(["run", "--plan", str(plan), "--json", "--db", db]) == 0  # no --cache: paid
    assert json.loads(capsys.readouterr().out)["cost_usd"] > 0


def test_a_hit_is_answered_before_admission_and_touches_no_provider_figure(tmp_path, provider):
    """A cached answer called no provider: an open breaker does not stop it, and it adds no
    cap share, no latency sample and no spend."""
    import asyncio

    from core.calls.cache import with_cache
    from core.calls.context import CallContext
    from core.calls.factory import open_stack
    from core.calls.gateway import Gateway
    from core.errors import AllModelsFailed, InvalidOutput
    from core.policy import Policy

    ledger = Ledger(tmp_path / "h.duckdb")
    request = ChatRequest.of("openai:gpt-4o-mini", "Name three rivers", max_tokens=40)
    policy = with_cache(Policy())

    def reject(result: ChatResult) -> None:
        raise InvalidOutput("not what was asked", result=result)

    async def main() -> None:
        async with Gateway() as gateway:
            with ledger.attempt_sink() as sink:
                stack = open_stack(gateway, policy, ledger, on_attempt=sink.add)
                where = CallContext(purpose="ask")
                with pytest.raises(AllModelsFailed):  # a rejected answer is paid, never kept
                    await stack.call(request, context=where, fallback=False, validate=reject)
                assert provider.requests == 1
                paid = await stack.call(request, context=where, fallback=False)
                assert provider.requests == 2 and not paid.result.cached
                state = stack.state
                spent, shares = state.budget.spent(), state.shares.shares()
                latency = state.latency.get("openai:gpt-4o-mini")
                for _ in range(policy.breaker.failure_threshold):
                    state.breakers.get("openai").record_failure()
                assert state.breakers.blocking("openai")
                hit = await stack.call(request, context=where, fallback=False)
                assert provider.requests == 2  # no HTTP request
                assert hit.result.cached and hit.charged_usd == 0 and hit.attempts[0].cached
                assert state.budget.spent() == spent and state.shares.shares() == shares
                assert state.latency.get("openai:gpt-4o-mini") == latency

    asyncio.run(main())
