"""The gateway: one ``httpx.AsyncClient`` per provider, key resolution and transport choice.

A provider with a key (or, for a local server, an explicit base URL) is called live; any other
provider is served by the in-process sandbox, mounted as an httpx transport so the real adapter
code path runs. One ``complete``/``stream`` call is one HTTP attempt: retries, breakers and
fallback live in ``core.calls.resilience`` and ``core.calls.stack``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from core.catalog import Catalog, ModelSpec, ProviderSpec, default_catalog
from core.providers import adapter_for
from core.sandbox.config import SandboxConfig
from core.secrets import resolve_key
from core.types import ChatRequest, ChatResult, Mode, StreamEvent

DEFAULT_TIMEOUT_S = 60.0
POOL_SIZE = 32  # connections per provider; more calls wait for one (see bench/stack_bench.py)


class Gateway:
    """Routes single calls to the right adapter, client and transport.

    Args:
        catalog: the catalog (default: ``data/catalog.toml``).
        keys: explicit keys by provider name; they win over the environment.
        transport: one transport for every provider (tests: ``httpx.MockTransport``); when set,
            every provider is treated as live unless ``force_sandbox``.
        base_urls: per-provider base URL overrides (e.g. a served sandbox).
        sandbox: sandbox settings (default: ``SandboxConfig.from_env(environ)``).
        timeout_s: client timeout per attempt.
        force_sandbox: serve every provider from the in-process sandbox, keys or not.
        served_sandbox: ``base_urls`` point at a sandbox served on loopback (mode ``sandbox``).
        max_in_flight_per_provider: at most this many calls to one provider at once (a stream
            holds its slot until it ends); None = the connection pool's size (``POOL_SIZE``).
        environ: where keys and base-URL overrides not given above are looked up (default:
            the process environment, for library use; ``Settings.gateway`` passes none, having
            resolved them already).
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        keys: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        base_urls: Mapping[str, str] | None = None,
        sandbox: SandboxConfig | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        force_sandbox: bool = False,
        served_sandbox: bool = False,
        max_in_flight_per_provider: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self._environ = os.environ if environ is None else environ
        self._keys = dict(keys or {})
        self._transport = transport
        self._base_urls = dict(base_urls or {})
        self._sandbox_config = sandbox
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        self._force_sandbox = force_sandbox
        self._served_sandbox = served_sandbox
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._sandbox_transport: httpx.AsyncBaseTransport | None = None
        self._max_in_flight = min(max_in_flight_per_provider or POOL_SIZE, POOL_SIZE)
        self._in_flight: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def for_served_sandbox(
        cls, url: str, catalog: Catalog | None = None, **kwargs: Any
    ) -> "Gateway":
        """A gateway whose every provider talks to a sandbox served at ``url`` (loopback)."""
        catalog = catalog or default_catalog()
        base_urls = {}
        for name, provider in catalog.providers.items():
            suffix = "/v1" if provider.protocol == "openai_chat" else ""
            base_urls[name] = url.rstrip("/") + suffix
        return cls(catalog, base_urls=base_urls, served_sandbox=True, **kwargs)

    # ── mode and availability ────────────────────────────────────────────────────────────
    def mode(self, provider: str) -> Mode:
        """``live`` when calls go to the real provider (a key is set), else ``sandbox``."""
        spec = self.catalog.providers[provider]
        if self._force_sandbox or self._served_sandbox:
            return "sandbox"
        if self._transport is not None:
            return "live"
        if spec.local:
            return "live" if self._local_configured(spec) else "sandbox"
        return "live" if resolve_key(spec, self._keys, self._environ) else "sandbox"

    def available(self, provider: str) -> bool:
        """Whether routing may choose this provider.

        Remote providers always can (live with a key, else sandboxed). A local server (Ollama)
        only when it is configured: routing work to a sandboxed stand-in for a server the user
        does not run would be misleading. A pinned model is still callable either way.
        """
        spec = self.catalog.providers[provider]
        return not spec.local or self._local_configured(spec)

    def modes(self) -> dict[str, Mode]:
        """The mode of every provider."""
        return {name: self.mode(name) for name in self.catalog.providers}

    def _local_configured(self, spec: ProviderSpec) -> bool:
        return bool(spec.served or spec.name in self._base_urls
                    or self._environ.get(spec.base_url_env, "").strip())

    # ── calls ────────────────────────────────────────────────────────────────────────────
    async def complete(self, request: ChatRequest) -> ChatResult:
        """One non-streaming attempt; raises ``ProviderError`` subclasses on failure."""
        model = self.catalog.model(request.model)
        adapter = adapter_for(self.catalog.providers[model.provider].protocol)
        async with self._slot(model.provider):
            return await adapter.complete(
                self._client(model), model, request, mode=self.mode(model.provider)
            )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streaming attempt: TextDelta events then one StreamDone."""
        model = self.catalog.model(request.model)
        adapter = adapter_for(self.catalog.providers[model.provider].protocol)
        async with self._slot(model.provider):
            async for event in adapter.stream(
                self._client(model), model, request, mode=self.mode(model.provider)
            ):
                yield event

    def _slot(self, provider: str) -> asyncio.Semaphore:
        """The provider's in-flight limit: calls beyond it wait here, in a cheap FIFO, rather
        than in the connection pool's queue, whose bookkeeping grows with its length."""
        semaphore = self._in_flight.get(provider)
        if semaphore is None:
            semaphore = self._in_flight[provider] = asyncio.Semaphore(self._max_in_flight)
        return semaphore

    async def aclose(self) -> None:
        """Close every client this gateway opened."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def __aenter__(self) -> "Gateway":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ── clients ──────────────────────────────────────────────────────────────────────────
    def _client(self, model: ModelSpec) -> httpx.AsyncClient:
        client = self._clients.get(model.provider)
        if client is None:
            client = self._clients[model.provider] = self._new_client(model.provider)
        return client

    def _new_client(self, provider: str) -> httpx.AsyncClient:
        spec = self.catalog.providers[provider]
        mode = self.mode(provider)
        adapter = adapter_for(spec.protocol)
        base_url = self._base_urls.get(provider) or spec.resolved_base_url(self._environ)
        if mode == "live" or self._served_sandbox:
            key = resolve_key(spec, self._keys, self._environ)
            transport = self._transport
        else:
            key = f"sandbox-{provider}"
            transport = self._in_process_sandbox()
        return httpx.AsyncClient(
            base_url=base_url,
            headers=adapter.auth_headers(key),
            transport=transport,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
        )

    def _in_process_sandbox(self) -> httpx.AsyncBaseTransport:
        if self._sandbox_transport is None:
            from core.sandbox.app import build_app
            from core.sandbox.transport import StreamingASGITransport

            config = self._sandbox_config or SandboxConfig.from_env(self._environ)
            self._sandbox_transport = StreamingASGITransport(build_app(self.catalog, config))
        return self._sandbox_transport
