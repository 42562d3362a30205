"""The official SDKs call tools against the served sandbox and parse everything with their own types.

Each SDK offers a calculator, gets a tool call back (plain, and streamed where the SDK assembles
the pieces itself), sends the result and gets the final answer drawn from it.
"""

from __future__ import annotations

import json

import anthropic
import openai
from google import genai
from google.genai import types

QUESTION = "What is 1234 * 5678?"
SCHEMA = {"type": "object", "properties": {"expression": {"type": "string"}},
          "required": ["expression"]}
DESCRIPTION = "Evaluate an arithmetic expression."


def test_openai_sdk_tool_call_round_trip(served_sandbox):
    client = openai.OpenAI(base_url=served_sandbox + "/v1", api_key="sk-test", max_retries=0)
    tools = [{"type": "function", "function": {"name": "calculator", "description": DESCRIPTION,
                                               "parameters": SCHEMA}}]
    messages: list = [{"role": "user", "content": QUESTION}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "calculator"
    assert json.loads(call.function.arguments) == {"expression": "1234 * 5678"}

    with client.chat.completions.stream(model="gpt-4o-mini", messages=messages,
                                        tools=tools) as stream:
        streamed = stream.get_final_completion()
    assert streamed.choices[0].message.tool_calls[0].function.arguments == call.function.arguments

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "7006652"}]
    final = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
    assert final.choices[0].finish_reason == "stop"
    assert "7006652" in final.choices[0].message.content


def test_anthropic_sdk_tool_call_round_trip(served_sandbox):
    client = anthropic.Anthropic(base_url=served_sandbox, api_key="sk-ant-test", max_retries=0)
    tools = [{"name": "calculator", "description": DESCRIPTION, "input_schema": SCHEMA}]
    messages: list = [{"role": "user", "content": QUESTION}]
    first = client.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=messages,
                                   tools=tools)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if isinstance(b, anthropic.types.ToolUseBlock))
    assert use.name == "calculator" and use.input == {"expression": "1234 * 5678"}

    with client.messages.stream(model="claude-haiku-4-5", max_tokens=300, messages=messages,
                                tools=tools) as stream:
        streamed = stream.get_final_message()
    streamed_use = next(b for b in streamed.content if b.type == "tool_use")
    assert streamed_use.input == use.input and streamed_use.id == use.id

    messages += [{"role": "assistant", "content": first.content},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": use.id, "content": "7006652"}]}]
    final = client.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=messages,
                                   tools=tools)
    assert final.stop_reason == "end_turn"
    assert "7006652" in "".join(b.text for b in final.content if b.type == "text")


def test_google_genai_sdk_tool_call_round_trip(served_sandbox):
    client = genai.Client(api_key="gm-test", http_options=types.HttpOptions(
        base_url=served_sandbox, api_version="v1beta"))
    declaration = types.FunctionDeclaration(
        name="calculator", description=DESCRIPTION,
        parameters=types.Schema(type=types.Type.OBJECT,
                                properties={"expression": types.Schema(type=types.Type.STRING)},
                                required=["expression"]))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    question = types.Content(role="user", parts=[types.Part(text=QUESTION)])
    first = client.models.generate_content(model="gemini-2.0-flash", contents=[question],
                                           config=config)
    call = first.function_calls[0]
    assert call.name == "calculator" and call.args == {"expression": "1234 * 5678"}

    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash",
                                                        contents=[question], config=config))
    assert [c.args for chunk in chunks for c in chunk.function_calls or []] == [call.args]

    answer = types.Part.from_function_response(name="calculator", response={"output": "7006652"})
    contents = [question, first.candidates[0].content, types.Content(role="user", parts=[answer])]
    final = client.models.generate_content(model="gemini-2.0-flash", contents=contents,
                                           config=config)
    assert not final.function_calls and "7006652" in final.text
