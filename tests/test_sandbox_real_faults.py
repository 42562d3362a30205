"""Faults that really happen, end to end against the served sandbox (uvicorn on loopback).

``hang`` holds the connection until the client's own timeout fires, so the adapters raise
``ProviderTimeout`` for real (and a hang longer than nobody waits for ends by itself with a 504);
``content_filter`` answers as each vendor does and the adapters raise ``ContentFiltered``. The call
stack falls back to another provider on both.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sandbox_server import serve_sandbox

from core.calls.gateway import Gateway
from core.calls.stack import CallStack
from core.catalog import default_catalog
from core.errors import ContentFiltered, ProviderTimeout
from core.policy import Policy
from core.providers.anthropic_messages import AnthropicMessages
from core.providers.gemini_generate import GeminiGenerate
from core.providers.openai_chat import OpenAIChat
from core.routing.candidates import RouteRequest
from core.routing.state import routing_state
from core.sandbox.config import FaultSpec, SandboxConfig
from core.types import ChatRequest, StreamDone

TARGETS = [
    ("groq:llama-3.3-70b-versatile", OpenAIChat(), "/openai/v1"),
    ("anthropic:claude-haiku-4-5", AnthropicMessages(), ""),
    ("google:gemini-2.0-flash", GeminiGenerate(), ""),
]
IDS = ["openai_chat", "anthropic", "gemini"]
CLIENT_TIMEOUT_S = 0.4


def _faulty(kind: str, **spec: float) -> SandboxConfig:
    faults = {model: FaultSpec(kinds=(kind,), **spec) for model, _, _ in TARGETS}
    return SandboxConfig(latency_scale=0, faults=faults)


async def _call(url: str, target, *, stream: bool, timeout: float = 5.0):
    model_id, adapter, suffix = target
    model = default_catalog().model(model_id)
    request = ChatRequest.of(model_id, "Tell me about rivers.")
    async with httpx.AsyncClient(base_url=url + suffix, timeout=timeout) as client:
        if not stream:
            return await adapter.complete(client, model, request, mode="sandbox")
        async for event in adapter.stream(client, model, request, mode="sandbox"):
            if isinstance(event, StreamDone):
                return event.result
    raise AssertionError("no StreamDone")


@pytest.fixture(scope="module")
def hanging_url():
    with serve_sandbox(_faulty("hang", hang_seconds=30.0)) as url:
        yield url


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_a_hang_holds_until_the_client_timeout(hanging_url, target, stream):
    start = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        await _call(hanging_url, target, stream=stream, timeout=CLIENT_TIMEOUT_S)
    elapsed = time.monotonic() - start
    assert CLIENT_TIMEOUT_S * 0.9 <= elapsed < CLIENT_TIMEOUT_S + 2.0
    assert caught.value.retryable and caught.value.status_code is None
    async with httpx.AsyncClient() as client:  # the server is still answering
        assert (await client.get(hanging_url + "/health")).status_code == 200


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_a_hang_nobody_times_out_ends_by_itself_with_a_timeout_error(target):
    with serve_sandbox(_faulty("hang", hang_seconds=0.3)) as url:
        start = time.monotonic()
        with pytest.raises(ProviderTimeout) as caught:
            await _call(url, target, stream=False, timeout=10.0)
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 3.0
    assert caught.value.status_code == 504


@pytest.fixture(scope="module")
def filtering_url():
    with serve_sandbox(_faulty("content_filter")) as url:
        yield url


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("target", TARGETS, ids=IDS)
async def test_a_content_filter_fault_is_content_filtered(filtering_url, target, stream):
    with pytest.raises(ContentFiltered) as caught:
        await _call(filtering_url, target, stream=stream)
    assert not caught.value.retryable and caught.value.status_code == 200


async def test_the_content_filter_answers_in_each_vendors_words(filtering_url):
    prompt = "Tell me about rivers."
    async with httpx.AsyncClient(base_url=filtering_url) as client:
        openai = (await client.post("/openai/v1/chat/completions", json={
            "model": "llama-3.3-70b-versatile",
            "messages": [{"role": "user", "content": prompt}]})).json()
        anthropic = (await client.post("/v1/messages", json={
            "model": "claude-haiku-4-5", "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt}]})).json()
        gemini = (await client.post("/v1beta/models/gemini-2.0-flash:generateContent", json={
            "contents": [{"role": "user", "parts": [{"text": prompt}]}]})).json()
    assert openai["choices"][0]["finish_reason"] == "content_filter"
    assert anthropic["stop_reason"] == "refusal"
    candidate = gemini["candidates"][0]
    assert candidate["finishReason"] == "SAFETY" and "content" not in candidate
    assert candidate["safetyRatings"][0]["blocked"] is True


def _stack(gateway: Gateway, attempts: list) -> CallStack:
    policy = Policy()
    policy.retry.base_s, policy.retry.cap_s, policy.retry.max_attempts = 0.001, 0.01, 2
    state = routing_state(policy, configured=gateway.available)
    return CallStack(gateway, policy, state, on_attempt=attempts.append)


@pytest.mark.parametrize(("kind", "error", "tries"), [
    ("content_filter", "ContentFiltered", 1), ("hang", "ProviderTimeout", 2)])
async def test_the_call_stack_falls_back_from_a_real_fault(kind, error, tries):
    groq = TARGETS[0][0]
    config = SandboxConfig(latency_scale=0, faults={"groq": FaultSpec(kinds=(kind,))})
    attempts: list = []
    with serve_sandbox(config) as url:
        gateway = Gateway.for_served_sandbox(url, timeout_s=CLIENT_TIMEOUT_S)
        try:
            stack = _stack(gateway, attempts)
            outcome = await asyncio.wait_for(stack.call(
                ChatRequest.of("x", "Hello"), RouteRequest("Hello", model=groq)), 20)
        finally:
            await gateway.aclose()
    failed = [(a.model, a.error_class) for a in attempts if a.status == "error"]
    assert failed == [(groq, error)] * tries
    assert outcome.result.text and outcome.result.provider != "groq"
    assert attempts[-1].status == "ok" and attempts[-1].fallback_from == groq
