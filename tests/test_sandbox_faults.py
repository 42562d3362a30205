"""Fault injection, auth and context-length errors in each vendor's shape; config from env."""

from __future__ import annotations

import json

import httpx
import pytest

from core.errors import ConfigError
from core.sandbox.config import FaultSpec, SandboxConfig
from sandbox_server import sandbox_client

# protocol -> (base URL, path, body, auth header)
TARGETS = {
    "openai": ("https://api.openai.com/v1", "/chat/completions",
               {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello there"}]},
               "authorization"),
    "anthropic": ("https://api.anthropic.com", "/v1/messages",
                  {"model": "claude-sonnet-4-5", "max_tokens": 256,
                   "messages": [{"role": "user", "content": "hello there"}]}, "x-api-key"),
    "google": ("https://generativelanguage.googleapis.com",
               "/v1beta/models/gemini-2.5-flash:generateContent",
               {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]},
               "x-goog-api-key"),
}
STREAM_PATHS = {"google": "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"}


def faulty(provider: str, kind: str, **spec) -> SandboxConfig:
    return SandboxConfig(latency_scale=0, faults={provider: FaultSpec(kinds=(kind,), **spec)})


async def call(provider: str, config: SandboxConfig | None = None, body_extra: dict | None = None,
               headers: dict | None = None, **client_kwargs) -> httpx.Response:
    base, path, body, _ = TARGETS[provider]
    async with sandbox_client(base, config, **client_kwargs) as client:
        return await client.post(path, json={**body, **(body_extra or {})}, headers=headers)


def error_fields(provider: str, response: httpx.Response) -> tuple[str, str | None]:
    """(type-or-status, code) of an error body, asserting the vendor's envelope."""
    body = response.json()
    if provider == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return body["error"]["type"], None
    if provider == "google":
        assert body["error"]["code"] == response.status_code and body["error"]["message"]
        return body["error"]["status"], None
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["type"], body["error"]["code"]


@pytest.mark.parametrize("provider,expected", [
    ("openai", ("requests", "rate_limit_exceeded")),
    ("anthropic", ("rate_limit_error", None)),
    ("google", ("RESOURCE_EXHAUSTED", None)),
])
async def test_rate_limit_has_retry_headers_and_vendor_body(provider, expected):
    config = SandboxConfig(latency_scale=0.5, faults={provider: FaultSpec(
        kinds=("rate_limit",), retry_after_seconds=2)})
    response = await call(provider, config)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1" and response.headers["retry-after-ms"] == "1000"
    assert response.headers["x-orchestra-sandbox"] == "1"
    assert error_fields(provider, response) == expected
    if provider == "google":
        assert response.json()["error"]["details"][0]["retryDelay"] == "1s"


@pytest.mark.parametrize("kind,status,expected", [
    ("server_error", 500, {"openai": "server_error", "anthropic": "api_error",
                           "google": "INTERNAL"}),
    ("unavailable", 503, {"openai": "server_error", "anthropic": "overloaded_error",
                          "google": "UNAVAILABLE"}),
])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_server_faults_use_the_vendor_shape(provider, kind, status, expected):
    response = await call(provider, faulty(provider, kind))
    assert response.status_code == status
    assert error_fields(provider, response)[0] == expected[provider]


async def test_overloaded_529_is_anthropic_only():
    response = await call("anthropic", faulty("anthropic", "overloaded"))
    assert response.status_code == 529
    assert error_fields("anthropic", response) == ("overloaded_error", None)
    assert (await call("openai", faulty("openai", "overloaded"))).status_code == 200


async def test_hang_outlasts_the_client_timeout():
    config = faulty("openai", "hang", hang_seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        await call("openai", config, timeout=httpx.Timeout(5.0, read=0.1))


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_malformed_body_is_not_json(provider):
    response = await call(provider, faulty(provider, "malformed"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_reset_cuts_a_stream_after_some_chunks(provider):
    base, path, body, _ = TARGETS[provider]
    path = STREAM_PATHS.get(provider, path)
    async with sandbox_client(base, faulty(provider, "reset")) as client:
        async with client.stream("POST", path, json={**body, "stream": True}) as response:
            assert response.status_code == 200
            received = []
            with pytest.raises(httpx.RemoteProtocolError):
                async for chunk in response.aiter_bytes():
                    received.append(chunk)
    assert b"".join(received).count(b"data:") >= 2


async def test_reset_cuts_a_plain_body_and_malformed_breaks_a_stream():
    with pytest.raises(httpx.RemoteProtocolError):
        await call("openai", faulty("openai", "reset"))
    base, path, body, _ = TARGETS["openai"]
    async with sandbox_client(base, faulty("openai", "malformed")) as client:
        async with client.stream("POST", path, json={**body, "stream": True}) as response:
            lines = [line async for line in response.aiter_lines() if line.startswith("data:")]
    with pytest.raises(json.JSONDecodeError):
        for line in lines:
            json.loads(line.removeprefix("data: "))


@pytest.mark.parametrize("provider,expected", [
    ("openai", ("invalid_request_error", "invalid_api_key")),
    ("anthropic", ("authentication_error", None)),
    ("google", ("UNAUTHENTICATED", None)),
])
async def test_the_invalid_sandbox_key_gets_401(provider, expected):
    header = TARGETS[provider][3]
    value = "Bearer sk-sandbox-invalid" if header == "authorization" else "sk-sandbox-invalid"
    response = await call(provider, headers={header: value})
    assert response.status_code == 401
    assert error_fields(provider, response) == expected
    assert "sk-sandbox-invalid" not in response.text
    assert (await call(provider, headers={header: "sk-fine"})).status_code == 200


@pytest.mark.parametrize("provider,extra,expected", [
    ("openai", {"max_tokens": 128_000}, ("invalid_request_error", "context_length_exceeded")),
    ("anthropic", {"max_tokens": 200_000}, ("invalid_request_error", None)),
    ("google", {"generationConfig": {"maxOutputTokens": 1_048_576}}, ("INVALID_ARGUMENT", None)),
])
async def test_prompt_plus_max_tokens_over_the_window_is_a_400(provider, extra, expected):
    response = await call(provider, body_extra=extra)
    assert response.status_code == 400
    assert error_fields(provider, response) == expected


async def statuses(config: SandboxConfig, count: int = 24) -> list[int]:
    base, path, body, _ = TARGETS["openai"]
    async with sandbox_client(base, config) as client:
        return [(await client.post(path, json=body)).status_code for _ in range(count)]


async def test_faults_are_drawn_deterministically_from_the_seed():
    kinds = ("rate_limit", "server_error", "unavailable")
    first = await statuses(SandboxConfig(latency_scale=0, failure_rate=0.5, seed=7,
                                         fault_kinds=kinds))
    again = await statuses(SandboxConfig(latency_scale=0, failure_rate=0.5, seed=7,
                                         fault_kinds=kinds))
    other = await statuses(SandboxConfig(latency_scale=0, failure_rate=0.5, seed=8,
                                         fault_kinds=kinds))
    assert first == again != other
    assert 200 in first and {429, 500, 503} & set(first)
    assert set(await statuses(SandboxConfig(latency_scale=0), 10)) == {200}


async def test_model_override_beats_provider_override():
    config = SandboxConfig(latency_scale=0, faults={
        "openai": FaultSpec(kinds=("server_error",)),
        "openai:gpt-4o": FaultSpec(failure_rate=0),
    })
    assert (await call("openai", config)).status_code == 200
    mini = {"model": "gpt-4o-mini"}
    assert (await call("openai", config, body_extra=mini)).status_code == 500
    assert (await call("anthropic", config)).status_code == 200


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("ORCHESTRA_SANDBOX_FAILURE_RATE", "0.25")
    monkeypatch.setenv("ORCHESTRA_SANDBOX_SEED", "42")
    config = SandboxConfig.from_env()
    assert (config.failure_rate, config.seed, config.latency_scale) == (0.25, 42, 0.0)
    assert SandboxConfig.from_env(seed=3, latency_scale=None).seed == 3


@pytest.mark.parametrize("var,value", [
    ("ORCHESTRA_SANDBOX_FAILURE_RATE", "1.5"),
    ("ORCHESTRA_SANDBOX_FAILURE_RATE", "often"),
    ("ORCHESTRA_SANDBOX_SEED", "0.5"),
    ("ORCHESTRA_SANDBOX_LATENCY_SCALE", "-1"),
])
def test_bad_env_values_raise_config_error_naming_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        SandboxConfig.from_env()


def test_bad_overrides_and_unknown_fields_are_config_errors():
    with pytest.raises(ConfigError, match="failure_rate"):
        SandboxConfig.from_env(failure_rate=2)
    with pytest.raises(ConfigError, match="colour"):
        SandboxConfig.build(colour="red")
