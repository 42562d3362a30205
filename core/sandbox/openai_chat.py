"""The OpenAI-compatible Chat Completions protocol (OpenAI, Groq, xAI, DeepSeek, Perplexity, Ollama).

Requests: ``messages``, ``max_tokens``/``max_completion_tokens``, ``stream`` with
``stream_options.include_usage``, ``response_format`` (``json_schema`` or ``json_object``).
Perplexity answers carry ``citations`` and ``search_results``; xAI takes ``search_parameters``.
Tools: ``tools[].function`` and ``tool_choice`` in, ``message.tool_calls`` (streamed as
``delta.tool_calls`` pieces by ``index``) and ``finish_reason: tool_calls`` out; trailing
``role: tool`` messages are the results the answer is drawn from.
"""

from __future__ import annotations

import time
from typing import Any

from core.catalog import ModelSpec
from core.sandbox.protocols import (
    STREAM_PIECE_TOKENS,
    Answer,
    ErrorKind,
    ParsedRequest,
    WireProtocol,
    call_pieces,
    known_choice,
    offered_tool,
    positive_int,
    require,
    response_id,
    sse,
    text_of,
)
from core.sandbox.tools import OfferedTool, ToolOutcome

# error kind -> (type, code, param), as OpenAI's error objects carry them
_ERRORS: dict[str, tuple[str, str | None, str | None]] = {
    "invalid_request": ("invalid_request_error", None, None),
    "not_found": ("invalid_request_error", "model_not_found", "model"),
    "auth": ("invalid_request_error", "invalid_api_key", None),
    "context_length": ("invalid_request_error", "context_length_exceeded", "messages"),
    "rate_limit": ("requests", "rate_limit_exceeded", None),
    "server_error": ("server_error", None, None),
    "unavailable": ("server_error", None, None),
    "overloaded": ("server_error", None, None),
    "timeout": ("server_error", "timeout", None),
}
_JSON_OBJECT_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


class OpenAIChat(WireProtocol):
    """Chat Completions, non-streaming and SSE (``data: {...}`` chunks, then ``[DONE]``)."""

    name = "openai_chat"

    def wire_model(self, body: dict[str, Any], path_model: str | None) -> str:
        model = body.get("model")
        require(isinstance(model, str) and bool(model), "you must provide a model parameter")
        return str(model)

    def parse(
        self, body: dict[str, Any], model: ModelSpec, wire_model: str, stream: bool
    ) -> ParsedRequest:
        messages: Any = body.get("messages")
        require(isinstance(messages, list) and bool(messages), "messages: must be a non-empty array")
        texts: list[str] = []
        topic = ""
        for message in messages:
            require(isinstance(message, dict) and "role" in message, "messages: each needs a role")
            parts = text_of(message.get("content"))
            texts.extend(parts + _call_texts(message))
            if message["role"] == "user" and parts:
                topic = parts[-1]
        tools = _offered(body.get("tools"))
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        schema, name = _schema_of(body.get("response_format"))
        stream_options = body.get("stream_options") or {}
        return ParsedRequest(
            model=model,
            wire_model=wire_model,
            texts=tuple(texts),
            topic=topic,
            max_tokens=positive_int(limit, "max_tokens"),
            stream=bool(body.get("stream")),
            include_usage=bool(stream_options.get("include_usage")),
            schema=schema,
            schema_name=name,
            live_search=_wants_search(model, body),
            tools=tools,
            tool_choice=_choice(body.get("tool_choice"), tools),
            tool_results=_results(messages),
        )

    def error_body(
        self, status: int, kind: ErrorKind, message: str, retry_after: float | None = None
    ) -> dict[str, Any]:
        error_type, code, param = _ERRORS[kind]
        return {"error": {"message": message, "type": error_type, "param": param, "code": code}}

    def unknown_model_message(self, wire_model: str) -> str:
        return f"The model `{wire_model}` does not exist or you do not have access to it."

    def context_message(self, input_tokens: int, max_tokens: int, window: int) -> str:
        return (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{input_tokens + max_tokens} tokens ({input_tokens} in the messages, {max_tokens} in "
            "the completion). Please reduce the length of the messages or completion."
        )

    def complete_body(self, request: ParsedRequest, answer: Answer) -> dict[str, Any]:
        body = self._envelope(request, "chat.completion")
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.tool_calls:
            message["content"] = None
            message["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in answer.tool_calls
            ]
        body["choices"] = [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(answer),
            }
        ]
        body["usage"] = _usage(request, answer)
        return self._with_citations(body, answer)

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        content = None if answer.tool_calls else ""
        return [self._chunk(request, answer, {"role": "assistant", "content": content}, None)]

    def stream_tool_calls(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        frames = []
        for index, call in enumerate(answer.tool_calls):
            opening = {"index": index, "id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": ""}}
            frames.append(self._chunk(request, answer, {"tool_calls": [opening]}, None))
            for piece in call_pieces(call, STREAM_PIECE_TOKENS):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                frames.append(self._chunk(request, answer, delta, None))
        return frames

    def stream_delta(self, request: ParsedRequest, answer: Answer, text: str, sent: int) -> bytes:
        return self._chunk(request, answer, {"content": text}, None)

    def stream_end(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        frames = [self._chunk(request, answer, {}, _finish_reason(answer))]
        if request.include_usage:
            last = self._envelope(request, "chat.completion.chunk")
            last["choices"] = []
            last["usage"] = _usage(request, answer)
            frames.append(sse(last))
        frames.append(sse("[DONE]"))
        return frames

    def _envelope(self, request: ParsedRequest, kind: str) -> dict[str, Any]:
        return {
            "id": response_id("chatcmpl-", request),
            "object": kind,
            "created": int(time.time()),
            "model": request.wire_model,
            "system_fingerprint": "fp_sandbox",
        }

    def _chunk(
        self, request: ParsedRequest, answer: Answer, delta: dict[str, Any], finish: str | None
    ) -> bytes:
        body = self._envelope(request, "chat.completion.chunk")
        body["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        ]
        if request.include_usage:
            body["usage"] = None
        return sse(self._with_citations(body, answer))

    def _with_citations(self, body: dict[str, Any], answer: Answer) -> dict[str, Any]:
        if answer.citations:
            body["citations"] = list(answer.citations)
            body["search_results"] = [
                {"title": f"Sandbox source {i + 1}", "url": url, "date": "2025-01-15"}
                for i, url in enumerate(answer.citations)
            ]
        return body


def _schema_of(response_format: Any) -> tuple[dict[str, Any] | None, str]:
    """The JSON schema and its name asked for by ``response_format``, if any."""
    if not isinstance(response_format, dict):
        return None, "result"
    kind = response_format.get("type")
    if kind == "json_object":
        return _JSON_OBJECT_SCHEMA, "result"
    if kind != "json_schema":
        return None, "result"
    spec: Any = response_format.get("json_schema")
    require(isinstance(spec, dict), "response_format.json_schema: must be an object")
    schema = spec.get("schema")
    require(isinstance(schema, dict), "response_format.json_schema.schema: must be an object")
    return schema, str(spec.get("name") or "result")


def _wants_search(model: ModelSpec, body: dict[str, Any]) -> bool:
    """Perplexity always searches; xAI searches when ``search_parameters`` leave it on."""
    if model.provider == "perplexity":
        return True
    params = body.get("search_parameters")
    return isinstance(params, dict) and params.get("mode", "auto") != "off"


def _offered(raw: Any) -> tuple[OfferedTool, ...]:
    """The ``tools`` of a request: ``{type: function, function: {name, description, parameters}}``."""
    require(raw is None or isinstance(raw, list), "tools: must be an array")
    tools = []
    for index, tool in enumerate(raw or []):
        where = f"tools[{index}].function"
        require(isinstance(tool, dict) and tool.get("type") == "function"
                and isinstance(tool.get("function"), dict), f"{where}: Field required")
        function = tool["function"]
        schema = function.get("parameters", {"type": "object", "properties": {}})
        tools.append(offered_tool(function.get("name"), function.get("description"), schema, where))
    return tuple(tools)


def _choice(raw: Any, tools: tuple[OfferedTool, ...]) -> str:
    """``tool_choice``: a mode string, or ``{type: function, function: {name}}``."""
    if raw is None:
        return "auto" if tools else "none"
    if isinstance(raw, dict):
        function: Any = raw.get("function")
        require(isinstance(function, dict), "tool_choice.function: Field required")
        raw = function.get("name")
    require(isinstance(raw, str), "tool_choice: must be a string or a function object")
    return known_choice(str(raw), tools, "tool_choice")


def _call_texts(message: dict[str, Any]) -> list[str]:
    """The arguments of an assistant message's tool calls (they count as input)."""
    calls = message.get("tool_calls")
    texts = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            texts.append(function["arguments"])
    return texts


def _results(messages: list[Any]) -> tuple[ToolOutcome, ...]:
    """The ``role: tool`` messages that end the conversation, named after their calls."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or [] if isinstance(message, dict) else []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                names[str(call.get("id"))] = str(call["function"].get("name"))
    results: list[ToolOutcome] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        call_id = message.get("tool_call_id")
        require(isinstance(call_id, str), "messages[].tool_call_id: Field required")
        require(call_id in names, f"tool_call_id '{call_id}' answers no earlier tool call")
        results.insert(0, ToolOutcome(names[call_id], "".join(text_of(message.get("content")))))
    return tuple(results)


def _finish_reason(answer: Answer) -> str:
    if answer.filtered:
        return "content_filter"
    if answer.tool_calls:
        return "tool_calls"
    return "length" if answer.truncated else "stop"


def _usage(request: ParsedRequest, answer: Answer) -> dict[str, int]:
    prompt = request.input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": answer.output_tokens,
        "total_tokens": prompt + answer.output_tokens,
    }
