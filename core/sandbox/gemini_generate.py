"""The Gemini ``generateContent`` protocol (``/v1beta/models/{model}:generateContent``).

Streaming is ``:streamGenerateContent?alt=sse``: each ``data:`` chunk is a whole response
object with ``usageMetadata``; the last carries ``finishReason``. Structured output is
``generationConfig.responseMimeType = "application/json"`` with ``responseJsonSchema`` (a JSON
schema) or ``responseSchema`` (Google's OpenAPI subset, upper-case types).
"""

from __future__ import annotations

import math
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

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GeminiGenerate(WireProtocol):
    """generateContent and streamGenerateContent (SSE)."""

    name = "gemini_generate"

    def wire_model(self, body: dict[str, Any], path_model: str | None) -> str:
        require(bool(path_model), "the model is missing from the URL")
        return str(path_model).removeprefix("models/")

    def parse(
        self, body: dict[str, Any], model: ModelSpec, wire_model: str, stream: bool
    ) -> ParsedRequest:
        contents = body.get("contents")
        require(isinstance(contents, list) and bool(contents), "contents is not specified")
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        texts = text_of(system.get("parts") if isinstance(system, dict) else system)
        topic = ""
        for content in contents:
            require(isinstance(content, dict), "contents: each item must be a Content object")
            parts = text_of(content.get("parts"))
            texts.extend(parts)
            if content.get("role", "user") == "user" and parts:
                topic = parts[-1]
        config = body.get("generationConfig") or {}
        require(isinstance(config, dict), "generationConfig: must be an object")
        return ParsedRequest(
            model=model,
            wire_model=wire_model,
            texts=tuple(texts),
            topic=topic,
            max_tokens=positive_int(config.get("maxOutputTokens"), "maxOutputTokens"),
            stream=stream,
            schema=_schema_of(config),
        )

    def error_body(
        self, status: int, kind: ErrorKind, message: str, retry_after: float | None = None
    ) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if kind == "rate_limit" and retry_after is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{math.ceil(retry_after)}s",
                }
            ]
        return {"error": error}

    def unknown_model_message(self, wire_model: str) -> str:
        return (
            f"models/{wire_model} is not found for API version v1beta, or is not supported for "
            "generateContent."
        )

    def context_message(self, input_tokens: int, max_tokens: int, window: int) -> str:
        return (
            f"The input token count ({input_tokens}) plus maxOutputTokens ({max_tokens}) exceeds "
            f"the maximum number of tokens allowed ({window})."
        )

    def complete_body(self, request: ParsedRequest, answer: Answer) -> dict[str, Any]:
        finish = "MAX_TOKENS" if answer.truncated else "STOP"
        return self._chunk(request, answer.text, answer.output_tokens, finish)

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        return []

    def stream_delta(self, request: ParsedRequest, answer: Answer, text: str, sent: int) -> bytes:
        return sse(self._chunk(request, text, sent, None))

    def stream_end(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        finish = "MAX_TOKENS" if answer.truncated else "STOP"
        return [sse(self._chunk(request, "", answer.output_tokens, finish))]

    def _chunk(
        self, request: ParsedRequest, text: str, output_tokens: int, finish: str | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        prompt = request.input_tokens
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt + output_tokens,
            },
            "modelVersion": request.wire_model,
            "responseId": response_id("", request),
        }


def _schema_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema asked for, translating ``responseSchema``'s OpenAPI subset."""
    if config.get("responseMimeType") != "application/json":
        return None
    if isinstance(config.get("responseJsonSchema"), dict):
        return config["responseJsonSchema"]
    if isinstance(config.get("responseSchema"), dict):
        return _from_openapi(config["responseSchema"])
    return {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def _from_openapi(schema: Any) -> Any:
    """Google's OpenAPI schema subset as JSON schema: lower-case types, ``nullable`` as null."""
    if isinstance(schema, list):
        return [_from_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("propertyOrdering", "nullable"):
            continue
        if key == "type" and isinstance(value, str):
            result["type"] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            result["properties"] = {name: _from_openapi(sub) for name, sub in value.items()}
        else:
            result[key] = _from_openapi(value)
    if schema.get("nullable") and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result
