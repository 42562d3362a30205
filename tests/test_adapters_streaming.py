"""Streamed calls return their connection to the pool: one TCP connection for many streams.

Each adapter reads a stream to the end of its body after the final event (``[DONE]``,
``message_stop``, the last Gemini chunk), so httpcore can reuse the connection. Connections are
counted with httpcore's ``trace`` extension (``connection.connect_tcp`` events) against the served
sandbox on loopback, plain and streamed calls interleaved.
"""

from __future__ import annotations

import httpx
import pytest

from core.catalog import default_catalog
from core.providers.anthropic_messages import AnthropicMessages
from core.providers.gemini_generate import GeminiGenerate
from core.providers.openai_chat import OpenAIChat
from core.types import ChatRequest, StreamDone

TARGETS = [
    ("openai:gpt-4o-mini", OpenAIChat(), "/v1"),
    ("anthropic:claude-haiku-4-5", AnthropicMessages(), ""),
    ("google:gemini-2.0-flash", GeminiGenerate(), ""),
]
CALLS = 6


class ConnectionCounter:
    """Counts the TCP connections httpcore opens, through each request's ``trace`` hook."""

    def __init__(self) -> None:
        self.opened = 0

    async def trace(self, name: str, info: dict) -> None:
        if name == "connection.connect_tcp.complete":
            self.opened += 1

    async def hook(self, request: httpx.Request) -> None:
        request.extensions["trace"] = self.trace


@pytest.mark.parametrize("target", TARGETS, ids=["openai_chat", "anthropic", "gemini"])
async def test_streams_reuse_one_connection(served_sandbox, target):
    model_id, adapter, suffix = target
    model = default_catalog().model(model_id)
    counter = ConnectionCounter()
    request = ChatRequest.of(model_id, "Name two rivers.", max_tokens=60)
    async with httpx.AsyncClient(base_url=served_sandbox + suffix,
                                 event_hooks={"request": [counter.hook]}) as client:
        for number in range(CALLS):
            events = [e async for e in adapter.stream(client, model, request, mode="sandbox")]
            assert isinstance(events[-1], StreamDone) and events[-1].result.text
            if number % 2:
                assert (await adapter.complete(client, model, request, mode="sandbox")).text
    assert counter.opened == 1
