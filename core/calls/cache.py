"""The response cache: an exact request seen before is answered from the ledger at $0.

The call stack asks the cache before it admits a call (``ResponseCache.answer``), so a hit
touches no budget, breaker, cap share or latency figure: no provider was called. A hit is one
recorded, traced attempt that made no HTTP request, with ``cached=True``, cost $0 and no tokens
(the tokens were paid for, and counted, by the attempt that filled the entry), so savings
against the baseline never count it. Only answers that passed the call's validation are kept
(``ResponseCache.keep``). What the cache saved is the entries' original cost times their hits
(``cache_savings``).

The key is a SHA-256 of the request's canonical JSON: model, messages, system, output limit,
temperature, JSON schema, tools and tool choice, live search and its options. An entry lives
``ttl_s`` seconds. A sampled request (temperature > 0) is neither served nor stored unless
``sampled`` allows it. Entries live in the ledger's ``response_cache`` table (m007), so the CLI
and the dashboard share them; a session reads them once and writes behind (``ResponseCache``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

from core.ledger.records import ledger_money, utc_now
from core.ledger.writer import Ledger
from core.policy import CacheSettings, Policy
from core.types import ChatRequest, ChatResult, Usage


def cache_key(request: ChatRequest) -> str:
    """The SHA-256 hex digest of everything that shapes the answer to ``request``."""
    shaping = request.model_dump(mode="json", include={
        "model", "messages", "system", "max_tokens", "temperature", "json_schema",
        "schema_name", "tools", "tool_choice", "live_search", "search_options"})
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def with_cache(policy: Policy, enabled: bool = True) -> Policy:
    """``policy`` with the response cache switched on (a command's ``--cache``) or off."""
    return policy.model_copy(update={"cache": policy.cache.model_copy(
        update={"enabled": enabled})})


def cacheable(request: ChatRequest, settings: CacheSettings) -> bool:
    """True when the cache may serve or store ``request`` (not sampled, or sampling allowed)."""
    return settings.sampled or not request.temperature


class ResponseCache:
    """The ``response_cache`` table of a ledger, read once and written behind.

    The fresh entries are read in one transaction at the first lookup (later lookups are
    dictionary reads, so a suite of hundreds of cases does not open the ledger per call);
    new entries and hit counts are written together in one transaction, ``FLUSH_S`` after the
    first change, by a timer thread the process waits for at exit (``flush`` writes them now).
    Entries another process stores meanwhile are seen by the next session; a new session in
    the same process first has the earlier ones write theirs.
    """

    FLUSH_S = 0.2

    def __init__(self, ledger: Ledger, settings: CacheSettings) -> None:
        self.ledger = ledger
        self.settings = settings
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, datetime]] | None = None
        self._stores: dict[str, tuple[ChatResult, datetime]] = {}
        self._hits: Counter[str] = Counter()
        self._timer: threading.Timer | None = None
        _LIVE.add(self)

    def _load(self) -> dict[str, tuple[str, datetime]]:
        oldest = utc_now() - timedelta(seconds=self.settings.ttl_s)
        rows = self.ledger.transact(lambda con: con.execute(
            "SELECT cache_key, result_json, created_at FROM response_cache "
            "WHERE created_at >= ?", [oldest]).fetchall())
        return {str(key): (str(body), created) for key, body, created in rows}

    def lookup(self, key: str) -> ChatResult | None:
        """The stored result for ``key`` when it is younger than the TTL (a hit is counted).
        The first lookup reads the table, after the other caches of this process (earlier
        sessions) have written what they still hold."""
        if self._entries is None:
            for other in list(_LIVE):
                if other is not self:
                    other.flush()
        with self._lock:
            if self._entries is None:
                self._entries = self._load()
                self._entries.update({k: (r.model_dump_json(), t)
                                      for k, (r, t) in self._stores.items()})
            entry = self._entries.get(key)
            oldest = utc_now() - timedelta(seconds=self.settings.ttl_s)
            if entry is None or entry[1] < oldest:
                return None
            self._hits[key] += 1
            self._schedule()
        return ChatResult.model_validate_json(entry[0])

    def answer(self, request: ChatRequest) -> ChatResult | None:
        """The cached answer to ``request`` as a $0 hit, or None (not cacheable, or unseen)."""
        if not cacheable(request, self.settings):
            return None
        started = time.perf_counter()
        found = self.lookup(cache_key(request))
        if found is None:
            return None
        return served_from_cache(found, (time.perf_counter() - started) * 1000)

    def keep(self, request: ChatRequest, result: ChatResult) -> None:
        """Store a provider's answer to ``request`` when the request is cacheable."""
        if not result.cached and cacheable(request, self.settings):
            self.store(cache_key(request), result)

    def store(self, key: str, result: ChatResult) -> None:
        """Keep ``result`` as the answer to ``key`` (a newer answer replaces an older one)."""
        now = utc_now()
        with self._lock:
            if self._entries is not None:
                self._entries[key] = (result.model_dump_json(), now)
            self._stores[key] = (result, now)
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.FLUSH_S, self.flush)
            self._timer.start()

    def flush(self) -> None:
        """Write the new entries and hit counts now, in one transaction."""
        with self._lock:
            stores, hits = self._stores, self._hits
            self._stores, self._hits, self._timer = {}, Counter(), None
        if not stores and not hits:
            return

        def work(con: duckdb.DuckDBPyConnection) -> None:
            for key, (result, created) in stores.items():
                con.execute("INSERT OR REPLACE INTO response_cache (cache_key, model, "
                            "result_json, cost_usd, created_at, hits) VALUES (?, ?, ?, ?, ?, 0)",
                            [key, result.model, result.model_dump_json(),
                             ledger_money(result.cost_usd), created])
            for key, count in hits.items():
                con.execute("UPDATE response_cache SET hits = hits + ?, last_hit_at = ? "
                            "WHERE cache_key = ?", [count, utc_now(), key])

        self.ledger.transact(work)


_LIVE: weakref.WeakSet[ResponseCache] = weakref.WeakSet()


def flush_caches() -> None:
    """Write what every live cache of this process still holds (tests; before a report)."""
    for cache in list(_LIVE):
        cache.flush()


def served_from_cache(result: ChatResult, lookup_ms: float) -> ChatResult:
    """A stored result as a cache hit: $0, no tokens, marked cached, timed as the lookup."""
    return result.model_copy(update={"cost_usd": Decimal(0), "usage": Usage(), "cached": True,
                                     "latency_ms": lookup_ms, "ttft_ms": lookup_ms})


def cache_savings(ledger: Ledger, since: datetime | None = None) -> tuple[int, Decimal]:
    """Hits served and what they would have cost (entries' original cost × hits), counted
    apart from savings against the baseline. ``since`` counts entries last hit since then.
    Hits this process has not written yet are written first."""
    flush_caches()
    sql = ("SELECT coalesce(sum(hits), 0), coalesce(sum(cost_usd * hits), 0) "
           "FROM response_cache WHERE (? IS NULL OR last_hit_at >= ?)")
    rows = ledger.transact(lambda con: con.execute(sql, [since, since]).fetchall())
    hits, saved = rows[0]
    return int(hits), Decimal(saved)
