"""The official SDKs (openai, anthropic, google-genai) complete calls against the served sandbox."""

from __future__ import annotations

import json

import anthropic
import openai
from google import genai
from google.genai import types

from core.sandbox.textgen import count_tokens

PROMPT = "Give me two tips for writing clear commit messages."


def test_openai_sdk_plain_stream_and_json_schema(served_sandbox):
    client = openai.OpenAI(base_url=served_sandbox + "/v1", api_key="sk-test", max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = plain.choices[0].message.content
    assert "sandbox" in text
    assert plain.usage.prompt_tokens == count_tokens(PROMPT)
    assert plain.usage.completion_tokens == count_tokens(text)

    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens

    schema = {"type": "object", "properties": {"tips": {"type": "array", "items": {
        "type": "string"}}}, "required": ["tips"], "additionalProperties": False}
    structured = client.chat.completions.create(
        model="gpt-4o", messages=messages,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "tips", "schema": schema, "strict": True}},
    )
    assert isinstance(json.loads(structured.choices[0].message.content)["tips"], list)


def test_openai_sdk_maps_sandbox_errors(served_sandbox):
    client = openai.OpenAI(base_url=served_sandbox + "/v1", api_key="sk-sandbox-invalid",
                           max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]
    try:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    except openai.AuthenticationError as exc:
        assert exc.status_code == 401 and exc.code == "invalid_api_key"
    else:
        raise AssertionError("expected a 401")
    good = openai.OpenAI(base_url=served_sandbox + "/v1", api_key="sk-test", max_retries=0)
    try:
        good.chat.completions.create(model="gpt-404", messages=messages)
    except openai.NotFoundError as exc:
        assert exc.code == "model_not_found"
    else:
        raise AssertionError("expected a 404")


def test_anthropic_sdk_plain_and_stream(served_sandbox):
    client = anthropic.Anthropic(base_url=served_sandbox, api_key="sk-ant-test", max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]
    plain = client.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=messages)
    text = plain.content[0].text
    assert "sandbox" in text and plain.stop_reason == "end_turn"
    assert plain.usage.input_tokens == count_tokens(PROMPT)
    assert plain.usage.output_tokens == count_tokens(text)

    with client.messages.stream(model="claude-haiku-4-5", max_tokens=512,
                                messages=messages) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_anthropic_sdk_forced_tool(served_sandbox):
    client = anthropic.Anthropic(base_url=served_sandbox, api_key="sk-ant-test", max_retries=0)
    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1,
                                                         "maximum": 5}}, "required": ["score"]}
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=256,
        messages=[{"role": "user", "content": PROMPT}],
        tools=[{"name": "rate", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "rate"},
    )
    block = message.content[0]
    assert block.type == "tool_use" and 1 <= block.input["score"] <= 5


def test_google_genai_sdk_plain_and_stream(served_sandbox):
    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=served_sandbox))
    plain = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert "sandbox" in plain.text
    assert plain.usage_metadata.prompt_token_count == count_tokens(PROMPT)
    assert plain.usage_metadata.candidates_token_count == count_tokens(plain.text)

    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash",
                                                        contents=PROMPT))
    assert "".join(c.text or "" for c in chunks) == plain.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP

    structured = client.models.generate_content(
        model="gemini-2.5-pro", contents=PROMPT,
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema={"type": "object", "properties": {"tip": {"type": "string"}},
                                  "required": ["tip"]},
        ),
    )
    assert isinstance(json.loads(structured.text)["tip"], str)
