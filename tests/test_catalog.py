"""The catalog, its prices and their sources, model ids, base URLs, and gateway modes."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from core.catalog import load_catalog, parse_model_id
from core.cli import main
from core.errors import ConfigError, UnknownModel
from core.calls.gateway import Gateway
from core.pricing import cost_of, worst_case_cost
from core.secrets import mask_key
from core.types import ChatRequest, Usage

REQUIRED = {
    "anthropic": 3, "openai": 3, "google": 3, "perplexity": 3, "groq": 3, "xai": 1,
    "deepseek": 2, "ollama": 1,
}


def test_every_provider_has_its_models_protocol_key_and_a_label_that_cannot_be_confused(catalog):
    for provider, at_least in REQUIRED.items():
        assert sum(m.provider == provider for m in catalog.models.values()) >= at_least
    assert catalog.providers["groq"].label != catalog.providers["xai"].label
    assert "Grok" not in catalog.providers["groq"].label and "Groq" not in catalog.providers["xai"].label
    assert {p.protocol for p in catalog.providers.values()} == {
        "openai_chat", "anthropic_messages", "gemini_generate"}
    assert {m.tier for m in catalog.models.values()} == {"economy", "balanced", "premium"}


def test_prices_come_from_genai_prices_and_local_models_are_free_on_purpose(catalog):
    mini = catalog.model("openai:gpt-4o-mini")
    assert mini.price.source == "genai-prices"
    assert (mini.price.input_per_mtok, mini.price.output_per_mtok) == (Decimal("0.15"),
                                                                       Decimal("0.6"))
    local = catalog.model("ollama:llama3.2")
    assert local.price.source == "local (free)" and local.price.output_per_mtok == 0


def test_cost_counts_cached_tokens_at_their_own_rate(catalog):
    sonnet = catalog.model("anthropic:claude-sonnet-4-5")
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)
    expected = Decimal("0.6") * 3 + Decimal("0.4") * Decimal("0.3") + Decimal("0.1") * 15
    assert cost_of(sonnet, usage) == expected
    assert worst_case_cost(sonnet, 1000, 1000) == Decimal("0.018")


def _catalog_file(tmp_path, model_block: str):
    text = f"""
[tiers.economy]
sandbox_ttft_ms = 1
sandbox_tokens_per_s = 100
[providers.acme]
label = "Acme"
protocol = "openai_chat"
base_url = "https://api.acme.test/v1"
key_env = "ACME_API_KEY"
{model_block}
"""
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


def test_an_unknown_price_is_unpriced_never_zero_and_overrides_need_a_date(tmp_path):
    catalog = load_catalog(_catalog_file(tmp_path, """
[models."acme:mystery"]
label = "Mystery"
tier = "economy"
context_window = 1000
max_output_tokens = 100
"""))
    model = catalog.model("acme:mystery")
    assert model.price is None and cost_of(model, Usage(input_tokens=10)) is None
    with pytest.raises(ConfigError, match="as_of"):
        load_catalog(_catalog_file(tmp_path, """
[models."acme:deal"]
label = "Deal"
tier = "economy"
context_window = 1000
max_output_tokens = 100
price = { input_per_mtok = 1, output_per_mtok = 2 }
"""))
    priced = load_catalog(_catalog_file(tmp_path, """
[models."acme:deal"]
label = "Deal"
tier = "economy"
context_window = 1000
max_output_tokens = 100
price = { input_per_mtok = 1, output_per_mtok = 2, as_of = 2026-11-01 }
"""))
    assert priced.model("acme:deal").price.source == "catalog"


def test_a_broken_catalog_file_is_one_line_with_the_place(tmp_path):
    with pytest.raises(ConfigError, match="tier"):
        load_catalog(_catalog_file(tmp_path, """
[models."acme:x"]
label = "X"
tier = "cheap"
context_window = 1000
max_output_tokens = 100
"""))


def test_model_ids_are_parsed_in_one_place_with_the_fix(catalog):
    assert parse_model_id("groq:openai/gpt-oss-120b", catalog) == ("groq", "openai/gpt-oss-120b")
    with pytest.raises(UnknownModel, match="provider:model"):
        catalog.model("gpt-4o")
    with pytest.raises(UnknownModel, match="known providers: anthropic"):
        catalog.model("acme:x")
    with pytest.raises(UnknownModel, match="openai:gpt-4o-mini"):
        catalog.model("openai:gpt-5")


def test_base_urls_follow_the_names_users_know(catalog, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1/")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11434")
    assert catalog.providers["openai"].resolved_base_url() == "http://127.0.0.1:9999/v1"
    assert catalog.providers["ollama"].resolved_base_url() == "http://127.0.0.1:11434/v1"
    assert catalog.providers["groq"].resolved_base_url() == "https://api.groq.com/openai/v1"


async def test_a_key_makes_its_provider_live_and_requests_carry_it(catalog, monkeypatch):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefgh12345678")
    gateway = Gateway(catalog, transport=httpx.MockTransport(handler))
    assert gateway.mode("openai") == "live"
    result = await gateway.complete(ChatRequest.of("openai:gpt-4o-mini", "hello"))
    assert result.mode == "live" and result.text == "hi"
    assert seen[0].headers["authorization"] == "Bearer sk-test-abcdefgh12345678"
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    await gateway.aclose()
    assert Gateway(catalog).mode("anthropic") == "sandbox"
    assert mask_key("sk-test-abcdefgh12345678") == "sk-…5678"


async def test_without_keys_every_provider_answers_from_the_sandbox_and_says_so(catalog):
    async with Gateway(catalog) as gateway:
        for model_id in ("anthropic:claude-haiku-4-5", "google:gemini-2.0-flash",
                         "xai:grok-4-fast", "ollama:llama3.2"):
            result = await gateway.complete(ChatRequest.of(model_id, "hello", max_tokens=50))
            assert result.mode == "sandbox" and result.model == model_id and result.text
    assert not Gateway(catalog).available("ollama") and Gateway(catalog).available("groq")


def test_models_json_lists_every_field_the_issue_names(capsys, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-123456789")
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    keys = {"id", "provider", "tier", "input_per_mtok", "output_per_mtok",
            "cached_input_per_mtok", "price_source", "context_window", "capabilities", "mode"}
    assert all(keys <= set(r) for r in rows)
    modes = {r["provider"]: r["mode"] for r in rows}
    assert modes["groq"] == "live" and modes["openai"] == "sandbox"


async def test_the_gateway_keeps_each_provider_under_its_in_flight_limit(catalog, monkeypatch):
    import asyncio

    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        await asyncio.sleep(0.02)
        in_flight[host] -= 1
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    gateway = Gateway(catalog, transport=httpx.MockTransport(handler),
                      max_in_flight_per_provider=2)
    models = ["openai:gpt-4o-mini", "groq:llama-3.3-70b-versatile"]
    await asyncio.gather(*(gateway.complete(ChatRequest.of(models[i % 2], "hi"))
                           for i in range(12)))
    await gateway.aclose()
    assert peak == {"api.openai.com": 2, "api.groq.com": 2}
