"""The sandbox's three wire protocols over StreamingASGITransport with plain httpx."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from core.providers.sse import SSEDecoder, SSEEvent
from core.sandbox.app import STREAM_CHUNK_TOKENS, Sandbox
from core.sandbox.config import SandboxConfig
from core.sandbox.textgen import count_tokens, tokenize
from sandbox_server import sandbox_client

PROMPT = "Compare three approaches to caching database queries in a web service."
OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com"
GEMINI = "https://generativelanguage.googleapis.com"


async def sse_events(response: httpx.Response) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    async for text in response.aiter_text():
        events.extend(decoder.feed(text))
    return events


def openai_body(model: str = "gpt-4o", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], **extra}


def anthropic_body(**extra) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024,
            "messages": [{"role": "user", "content": PROMPT}], **extra}


def gemini_body(**config) -> dict:
    body: dict = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    if config:
        body["generationConfig"] = config
    return body


async def openai_chat(base_url: str, body: dict, config: SandboxConfig | None = None,
                      path: str = "/chat/completions") -> httpx.Response:
    async with sandbox_client(base_url, config) as client:
        return await client.post(path, json=body)


# ── OpenAI-compatible ───────────────────────────────────────────────────────────────────────


async def test_openai_completion_has_sandbox_text_and_exact_usage():
    response = await openai_chat(OPENAI, openai_body())
    assert response.status_code == 200
    assert response.headers["x-orchestra-sandbox"] == "1"
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o"
    choice = body["choices"][0]
    text = choice["message"]["content"]
    assert "sandbox" in text and "openai:gpt-4o" in text and "caching" in text
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": count_tokens(PROMPT),
        "completion_tokens": count_tokens(text),
        "total_tokens": count_tokens(PROMPT) + count_tokens(text),
    }


async def test_openai_stream_matches_the_completion_and_ends_with_usage():
    plain = (await openai_chat(OPENAI, openai_body())).json()
    async with sandbox_client(OPENAI) as client:
        body = openai_body(stream=True, stream_options={"include_usage": True})
        async with client.stream("POST", "/chat/completions", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = await sse_events(response)
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_openai_stream_without_include_usage_has_no_usage_chunk():
    async with sandbox_client(OPENAI) as client:
        async with client.stream("POST", "/chat/completions",
                                 json=openai_body(stream=True)) as response:
            events = await sse_events(response)
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert all("usage" not in c and c["choices"] for c in chunks)


async def test_max_tokens_caps_the_answer_with_length_finish():
    body = (await openai_chat(OPENAI, openai_body(max_completion_tokens=7))).json()
    assert body["usage"]["completion_tokens"] == 7
    assert body["choices"][0]["finish_reason"] == "length"
    assert len(tokenize(body["choices"][0]["message"]["content"])) == 7


async def test_perplexity_path_without_v1_returns_citations_and_search_results():
    body = (await openai_chat("https://api.perplexity.ai", openai_body("sonar"))).json()
    assert "perplexity:sonar" in body["choices"][0]["message"]["content"]
    assert len(body["citations"]) >= 2
    assert all(url.startswith("https://example.com/") for url in body["citations"])
    assert [r["url"] for r in body["search_results"]] == body["citations"]
    again = (await openai_chat("https://api.perplexity.ai", openai_body("sonar"))).json()
    assert again["citations"] == body["citations"]


async def test_groq_path_and_xai_search_parameters():
    groq = await openai_chat("https://api.groq.com/openai/v1",
                             openai_body("llama-3.3-70b-versatile"))
    assert "groq:llama-3.3-70b-versatile" in groq.json()["choices"][0]["message"]["content"]
    plain = (await openai_chat("https://api.x.ai/v1", openai_body("grok-4"))).json()
    assert "citations" not in plain
    searched = await openai_chat("https://api.x.ai/v1",
                                 openai_body("grok-4", search_parameters={"mode": "on"}))
    assert searched.json()["citations"]


async def test_models_listing_and_health():
    async with sandbox_client(OPENAI) as client:
        listing = (await client.get("/models")).json()
        health = await client.get("http://sandbox/health")
    ids = {m["id"] for m in listing["data"]}
    assert {"gpt-4o", "sonar", "deepseek-chat", "llama3.2"} <= ids
    assert "claude-sonnet-4-5" not in ids
    assert health.json()["sandbox"] is True


async def test_unknown_model_and_bad_json_use_the_openai_error_shape():
    missing = await openai_chat(OPENAI, openai_body("gpt-99"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    async with sandbox_client(OPENAI) as client:
        broken = await client.post("/chat/completions", content=b"{not json")
    assert broken.status_code == 400
    assert broken.json()["error"]["type"] == "invalid_request_error"


# ── Anthropic ───────────────────────────────────────────────────────────────────────────────


async def test_anthropic_message_and_stream_agree():
    async with sandbox_client(ANTHROPIC) as client:
        plain = (await client.post("/v1/messages", json=anthropic_body())).json()
        async with client.stream("POST", "/v1/messages",
                                 json=anthropic_body(stream=True)) as response:
            events = await sse_events(response)
    assert plain["type"] == "message" and plain["stop_reason"] == "end_turn"
    text = plain["content"][0]["text"]
    assert plain["usage"]["input_tokens"] == count_tokens(PROMPT)
    assert plain["usage"]["output_tokens"] == count_tokens(text)
    names = [e.event for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    data = [json.loads(e.data) for e in events]
    assert all(d["type"] == e.event for d, e in zip(data, events))
    assert data[0]["message"]["usage"]["input_tokens"] == count_tokens(PROMPT)
    assert "".join(d["delta"]["text"] for d in data[3:-3]) == text
    assert data[-2]["usage"]["output_tokens"] == plain["usage"]["output_tokens"]
    assert data[-2]["delta"]["stop_reason"] == "end_turn"


async def test_anthropic_system_counts_and_max_tokens_stop():
    async with sandbox_client(ANTHROPIC) as client:
        body = anthropic_body(system="You are terse.", max_tokens=5)
        plain = (await client.post("/v1/messages", json=body)).json()
        missing = await client.post("/v1/messages", json={"model": "claude-sonnet-4-5",
                                                          "messages": body["messages"]})
        unknown = await client.post("/v1/messages", json={**body, "model": "claude-0"})
    assert plain["usage"]["input_tokens"] == count_tokens(PROMPT) + count_tokens("You are terse.")
    assert plain["stop_reason"] == "max_tokens" and plain["usage"]["output_tokens"] == 5
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status_code == 404
    assert unknown.json() == {"type": "error", "request_id": "req_sandbox",
                              "error": {"type": "not_found_error", "message": "model: claude-0"}}


# ── Gemini ──────────────────────────────────────────────────────────────────────────────────


async def test_gemini_generate_and_stream_agree():
    path = "/v1beta/models/gemini-2.5-flash"
    async with sandbox_client(GEMINI) as client:
        plain = (await client.post(f"{path}:generateContent", json=gemini_body())).json()
        async with client.stream("POST", f"{path}:streamGenerateContent?alt=sse",
                                 json=gemini_body()) as response:
            events = await sse_events(response)
    candidate = plain["candidates"][0]
    text = candidate["content"]["parts"][0]["text"]
    assert candidate["finishReason"] == "STOP" and candidate["content"]["role"] == "model"
    usage = plain["usageMetadata"]
    assert usage["promptTokenCount"] == count_tokens(PROMPT)
    assert usage["candidatesTokenCount"] == count_tokens(text)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    chunks = [json.loads(e.data) for e in events]
    assert all("usageMetadata" in c for c in chunks)
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == usage
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == text


async def test_gemini_max_output_tokens_and_unknown_model():
    async with sandbox_client(GEMINI) as client:
        capped = (await client.post("/v1beta/models/gemini-2.0-flash:generateContent",
                                    json=gemini_body(maxOutputTokens=4))).json()
        unknown = await client.post("/v1beta/models/gemini-0:generateContent", json=gemini_body())
    assert capped["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert capped["usageMetadata"]["candidatesTokenCount"] == 4
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"
    assert unknown.json()["error"]["code"] == 404


# ── Determinism and variety ─────────────────────────────────────────────────────────────────


async def answer(seed: int, model: str = "gpt-4o", prompt: str = PROMPT) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    response = await openai_chat(OPENAI, body, SandboxConfig(seed=seed, latency_scale=0))
    return response.json()["choices"][0]["message"]["content"]


async def test_answers_are_deterministic_by_seed_model_and_prompt():
    first = await answer(1)
    assert await answer(1) == first
    assert await answer(2) != first
    assert await answer(1, prompt="Summarise the history of tea trade routes.") != first
    assert await answer(1, model="gpt-4o-mini") != first


async def test_premium_tiers_answer_at_greater_length():
    premium = await answer(0, model="o3")
    economy = await answer(0, model="gpt-4o-mini")
    assert count_tokens(premium) > count_tokens(economy)


# ── Latency ─────────────────────────────────────────────────────────────────────────────────


def test_timing_follows_tier_speedup_and_scale(catalog):
    groq = catalog.models["groq:llama-3.3-70b-versatile"]
    ttft, per_token = Sandbox(catalog, SandboxConfig(latency_scale=2)).timing(groq)
    tier = catalog.tiers[groq.tier]
    assert ttft == pytest.approx(tier.sandbox_ttft_ms / 1000 / 3.0 * 2)
    assert per_token == pytest.approx(2 / (tier.sandbox_tokens_per_s * 3.0))
    assert Sandbox(catalog, SandboxConfig(latency_scale=0)).timing(groq) == (0.0, 0.0)


async def test_responses_wait_time_to_first_token_plus_output_time(catalog, monkeypatch):
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay, *args):
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    config = SandboxConfig(latency_scale=1)
    ttft, per_token = Sandbox(catalog, config).timing(catalog.models["openai:gpt-4o"])
    plain = (await openai_chat(OPENAI, openai_body(), config)).json()
    tokens = plain["usage"]["completion_tokens"]
    assert delays == [pytest.approx(ttft + per_token * tokens)]
    delays.clear()
    async with sandbox_client(OPENAI, config) as client:
        async with client.stream("POST", "/chat/completions",
                                 json=openai_body(stream=True)) as response:
            await response.aread()
    assert delays[0] == pytest.approx(ttft)
    # the first token group follows the time to first token directly; each later group waits
    assert sum(delays[1:]) == pytest.approx(per_token * (tokens - STREAM_CHUNK_TOKENS))
