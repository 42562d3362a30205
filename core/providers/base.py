"""The adapter contract shared by the three wire protocols."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import httpx

from core.catalog import ModelSpec
from core.types import ChatRequest, ChatResult, Mode, StreamEvent


class Adapter(Protocol):
    """Maps a ChatRequest to one wire protocol over an ``httpx.AsyncClient`` and back.

    The client is built by the gateway with the provider's base URL, the headers from
    ``auth_headers`` and the chosen transport (live API or sandbox). Adapters raise only
    ``core.errors.ProviderError`` subclasses, mapped in one place per adapter.
    """

    protocol: str

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """Headers that carry the key (and protocol version) for this protocol."""
        ...

    async def complete(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> ChatResult:
        """One non-streaming call."""
        ...

    def stream(
        self, client: httpx.AsyncClient, model: ModelSpec, request: ChatRequest, *, mode: Mode
    ) -> AsyncIterator[StreamEvent]:
        """One streaming call: TextDelta events, then exactly one StreamDone."""
        ...
