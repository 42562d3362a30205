"""Structured output: schema instances validate, in each protocol's encoding."""

from __future__ import annotations

import json
from typing import Literal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from core.providers.sse import SSEDecoder
from core.sandbox.schema import schema_instance
from sandbox_server import sandbox_client

RICH_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 5, "maxLength": 30},
        "status": {"type": "string", "enum": ["draft", "final"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 3, "maximum": 9, "multipleOf": 3},
        "done": {"type": "boolean"},
        "when": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4,
                 "uniqueItems": True},
        "owner": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string",
                                                                 "format": "email"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
        "note": {"type": ["string", "null"]},
        "kind": {"const": "report"},
    },
    "required": ["title", "status", "score", "count", "done", "tags", "owner", "kind"],
    "additionalProperties": False,
}


class Step(BaseModel):
    id: str
    depends_on: list[str] = Field(default_factory=list)
    complexity: int = Field(ge=1, le=5)
    kind: Literal["write", "research", "code"]
    note: str | None = None


class Plan(BaseModel):
    goal: str
    steps: list[Step] = Field(min_length=1, max_length=6)


@pytest.mark.parametrize("schema", [RICH_SCHEMA, Plan.model_json_schema(),
                                    {"type": "array", "items": {"anyOf": [{"type": "integer"},
                                                                          {"type": "null"}]}},
                                    {"allOf": [{"properties": {"a": {"type": "integer"}},
                                                "required": ["a"]},
                                               {"properties": {"b": {"type": "boolean"}},
                                                "required": ["b"]}]}])
def test_instances_validate_and_are_deterministic(schema):
    instance = schema_instance(schema, 0, "openai:gpt-4o", "prompt")
    jsonschema.validate(instance, schema)
    assert schema_instance(schema, 0, "openai:gpt-4o", "prompt") == instance


def _bounded(kind: str):
    low = st.integers(-50, 50)
    return st.builds(lambda a, b: {"type": kind, "minimum": min(a, b), "maximum": max(a, b)},
                     low, low)


LEAVES = st.one_of(
    st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
              st.integers(0, 20), st.integers(0, 20)),
    _bounded("integer"),
    _bounded("number"),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda values: {"enum": values}),
    st.sampled_from(["date", "email", "uri", "date-time"]).map(
        lambda f: {"type": "string", "format": f}),
)
SCHEMAS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda items, lo, extra: {"type": "array", "items": items, "minItems": lo,
                                            "maxItems": lo + extra},
                  inner, st.integers(0, 3), st.integers(0, 3)),
        st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), inner, max_size=4).flatmap(
            lambda props: st.builds(
                lambda required: {"type": "object", "properties": props,
                                  "required": sorted(required), "additionalProperties": False},
                st.sets(st.sampled_from(sorted(props)) if props else st.nothing()),
            )),
        st.lists(inner, min_size=1, max_size=3).map(lambda options: {"anyOf": options}),
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(schema=SCHEMAS, seed=st.integers(0, 1000))
def test_generated_schemas_always_validate(schema, seed):
    jsonschema.validate(schema_instance(schema, seed, "m", "p"), schema)


def test_pydantic_models_round_trip_through_refs():
    plan = Plan.model_validate(schema_instance(Plan.model_json_schema(), 3, "m", "p"))
    assert plan.steps and all(1 <= step.complexity <= 5 for step in plan.steps)


async def test_openai_json_schema_response_format():
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Report on caching."}],
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "report", "schema": RICH_SCHEMA,
                                            "strict": True}},
    }
    async with sandbox_client("https://api.openai.com/v1") as client:
        response = await client.post("/chat/completions", json=body)
        bad = await client.post("/chat/completions", json={
            **body, "response_format": {"type": "json_schema", "json_schema": {
                "name": "x", "schema": {"type": "object", "properties": {"a": {"type": 5}}}}}})
    content = response.json()["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), RICH_SCHEMA)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


async def test_anthropic_forced_tool_answers_with_tool_use_also_when_streamed():
    body = {
        "model": "claude-haiku-4-5", "max_tokens": 2048,
        "messages": [{"role": "user", "content": "Plan a launch."}],
        "tools": [{"name": "plan", "description": "the plan",
                   "input_schema": Plan.model_json_schema()}],
        "tool_choice": {"type": "tool", "name": "plan"},
    }
    async with sandbox_client("https://api.anthropic.com") as client:
        plain = (await client.post("/v1/messages", json=body)).json()
        async with client.stream("POST", "/v1/messages", json={**body, "stream": True}) as resp:
            decoder, events = SSEDecoder(), []
            async for text in resp.aiter_text():
                events.extend(decoder.feed(text))
    block = plain["content"][0]
    assert plain["stop_reason"] == "tool_use"
    assert block["type"] == "tool_use" and block["name"] == "plan"
    Plan.model_validate(block["input"])
    data = [json.loads(e.data) for e in events]
    start = next(d for d in data if d["type"] == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["input"] == {}
    pieces = [d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta"]
    assert len(pieces) > 1 and json.loads("".join(pieces)) == block["input"]
    delta = next(d for d in data if d["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == plain["usage"]["output_tokens"]


@pytest.mark.parametrize("key", ["responseJsonSchema", "responseSchema"])
async def test_gemini_json_output(key):
    schema = RICH_SCHEMA
    if key == "responseSchema":  # Google's OpenAPI subset: upper-case types, nullable
        schema = {"type": "OBJECT", "properties": {
            "name": {"type": "STRING"}, "rank": {"type": "INTEGER", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}}},
            "required": ["name", "tags"], "propertyOrdering": ["name", "rank", "tags"]}
    body = {"contents": [{"role": "user", "parts": [{"text": "Report."}]}],
            "generationConfig": {"responseMimeType": "application/json", key: schema}}
    async with sandbox_client("https://generativelanguage.googleapis.com") as client:
        response = await client.post("/v1beta/models/gemini-2.5-pro:generateContent", json=body)
    value = json.loads(response.json()["candidates"][0]["content"]["parts"][0]["text"])
    if key == "responseJsonSchema":
        jsonschema.validate(value, RICH_SCHEMA)
    else:
        assert isinstance(value["name"], str) and all(isinstance(t, str) for t in value["tags"])
        assert value.get("rank") is None or isinstance(value["rank"], int)


@pytest.mark.parametrize("pattern", [r"^[a-z0-9][a-z0-9_-]{0,39}$", r"^[A-Z]+-\d+$", r"^\d+$",
                                     r"^[a-z]+_[a-z]+$"])
def test_common_string_patterns_are_honoured(pattern):
    schema = {"type": "object", "required": ["code"], "additionalProperties": False,
              "properties": {"code": {"type": "string", "pattern": pattern}}}
    for seed in range(5):
        jsonschema.validate(schema_instance(schema, "pattern", seed), schema)
