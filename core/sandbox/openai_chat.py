"""The OpenAI-compatible Chat Completions protocol (OpenAI, Groq, xAI, DeepSeek, Perplexity, Ollama).

Requests: ``messages``, ``max_tokens``/``max_completion_tokens``, ``stream`` with
``stream_options.include_usage``, ``response_format`` (``json_schema`` or ``json_object``).
Perplexity answers carry ``citations`` and ``search_results``; xAI takes ``search_parameters``.
"""

from __future__ import annotations

import time
from typing import Any

from core.catalog import ModelSpec
from core.sandbox.protocols import (
    Answer,
    ErrorKind,
    ParsedRequest,
    WireProtocol,
    positive_int,
    require,
    response_id,
    sse,
    text_of,
)

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
        messages = body.get("messages")
        require(isinstance(messages, list) and bool(messages), "messages: must be a non-empty array")
        texts: list[str] = []
        topic = ""
        for message in messages:
            require(isinstance(message, dict) and "role" in message, "messages: each needs a role")
            parts = text_of(message.get("content"))
            texts.extend(parts)
            if message["role"] == "user" and parts:
                topic = parts[-1]
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
        body["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": _finish_reason(answer),
            }
        ]
        body["usage"] = _usage(request, answer)
        return self._with_citations(body, answer)

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        return [self._chunk(request, answer, {"role": "assistant", "content": ""}, None)]

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
    spec = response_format.get("json_schema")
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


def _finish_reason(answer: Answer) -> str:
    return "length" if answer.truncated else "stop"


def _usage(request: ParsedRequest, answer: Answer) -> dict[str, int]:
    prompt = request.input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": answer.output_tokens,
        "total_tokens": prompt + answer.output_tokens,
    }
