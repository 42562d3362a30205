"""The Gemini ``generateContent`` protocol (``/v1beta/models/{model}:generateContent``).

Streaming is ``:streamGenerateContent?alt=sse``: each ``data:`` chunk is a whole response
object with ``usageMetadata``; the last carries ``finishReason``. Structured output is
``generationConfig.responseMimeType = "application/json"`` with ``responseJsonSchema`` (a JSON
schema) or ``responseSchema`` (Google's OpenAPI subset, upper-case types).

Tools: ``tools[].functionDeclarations`` (``parametersJsonSchema``, or ``parameters`` in the
OpenAPI subset) with ``toolConfig.functionCallingConfig`` (``mode`` AUTO / ANY / NONE,
``allowedFunctionNames``); calls are ``functionCall`` parts, sent whole (a stream sends them in
one chunk). A last user turn of ``functionResponse`` parts is what the answer is drawn from.
"""

from __future__ import annotations

import json
import math
from typing import Any

from core.catalog import ModelSpec
from core.sandbox.protocols import (
    Answer,
    ErrorKind,
    ParsedRequest,
    WireProtocol,
    known_choice,
    offered_tool,
    positive_int,
    require,
    response_id,
    sse,
    text_of,
)
from core.sandbox.tools import OfferedTool, ToolOutcome

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_BLOCKED_RATING = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                   "blocked": True}


class GeminiGenerate(WireProtocol):
    """generateContent and streamGenerateContent (SSE)."""

    name = "gemini_generate"

    def wire_model(self, body: dict[str, Any], path_model: str | None) -> str:
        require(bool(path_model), "the model is missing from the URL")
        return str(path_model).removeprefix("models/")

    def parse(
        self, body: dict[str, Any], model: ModelSpec, wire_model: str, stream: bool
    ) -> ParsedRequest:
        contents: Any = body.get("contents")
        require(isinstance(contents, list) and bool(contents), "contents is not specified")
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        texts = text_of(system.get("parts") if isinstance(system, dict) else system)
        topic = ""
        for content in contents:
            require(isinstance(content, dict), "contents: each item must be a Content object")
            parts = text_of(content.get("parts"))
            texts.extend(parts + _call_texts(content.get("parts")))
            if content.get("role", "user") == "user" and parts:
                topic = parts[-1]
        config = body.get("generationConfig") or {}
        require(isinstance(config, dict), "generationConfig: must be an object")
        tools = _offered(body.get("tools"))
        return ParsedRequest(
            model=model,
            wire_model=wire_model,
            texts=tuple(texts),
            topic=topic,
            max_tokens=positive_int(config.get("maxOutputTokens"), "maxOutputTokens"),
            stream=stream,
            schema=_schema_of(config),
            tools=tools,
            tool_choice=_choice(body.get("toolConfig") or body.get("tool_config"), tools),
            tool_results=_results(contents),
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
        body = self._chunk(request, answer.text, answer.output_tokens, _finish(answer))
        if answer.filtered:
            candidate = body["candidates"][0]
            del candidate["content"]
            candidate["safetyRatings"] = [_BLOCKED_RATING]
        if answer.tool_calls:
            body["candidates"][0]["content"]["parts"] = [
                {"functionCall": {"name": call.name, "args": call.arguments}}
                for call in answer.tool_calls
            ]
        return body

    def stream_tool_calls(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        return []  # the calls travel whole in the last chunk (stream_end)

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        return []

    def stream_delta(self, request: ParsedRequest, answer: Answer, text: str, sent: int) -> bytes:
        return sse(self._chunk(request, text, sent, None))

    def stream_end(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        if answer.tool_calls or answer.filtered:
            return [sse(self.complete_body(request, answer))]
        return [sse(self._chunk(request, "", answer.output_tokens, _finish(answer)))]

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


def _finish(answer: Answer) -> str:
    if answer.filtered:
        return "SAFETY"
    return "MAX_TOKENS" if answer.truncated else "STOP"


def _offered(raw: Any) -> tuple[OfferedTool, ...]:
    """The function declarations of every ``tools`` entry (camelCase or snake_case)."""
    require(raw is None or isinstance(raw, list), "tools: must be an array")
    tools = []
    for entry in raw or []:
        require(isinstance(entry, dict), "tools: each item must be a Tool object")
        declarations = entry.get("functionDeclarations") or entry.get("function_declarations")
        for index, decl in enumerate(declarations or []):
            require(isinstance(decl, dict), "functionDeclarations: each must be an object")
            schema = decl.get("parametersJsonSchema") or decl.get("parameters_json_schema")
            if schema is None:
                schema = _from_openapi(decl.get("parameters") or {"type": "OBJECT"})
            tools.append(offered_tool(decl.get("name"), decl.get("description"), schema,
                                      f"functionDeclarations[{index}]"))
    return tuple(tools)


def _choice(raw: Any, tools: tuple[OfferedTool, ...]) -> str:
    """``functionCallingConfig``: AUTO, NONE, or ANY (one allowed name: that tool)."""
    config = raw.get("functionCallingConfig") or raw.get("function_calling_config") \
        if isinstance(raw, dict) else None
    if not isinstance(config, dict):
        return "auto" if tools else "none"
    mode = str(config.get("mode") or "AUTO").upper()
    if mode == "NONE":
        return "none"
    allowed = config.get("allowedFunctionNames") or config.get("allowed_function_names") or []
    if mode in ("ANY", "VALIDATED") and isinstance(allowed, list) and len(allowed) == 1:
        return known_choice(str(allowed[0]), tools, "allowedFunctionNames")
    return "required" if mode == "ANY" else "auto"


def _call_texts(parts: Any) -> list[str]:
    """The arguments and responses in function parts (they count as input)."""
    texts = []
    for part in parts if isinstance(parts, list) else []:
        for key in ("functionCall", "function_call", "functionResponse", "function_response"):
            if isinstance(part, dict) and isinstance(part.get(key), dict):
                texts.append(json.dumps(part[key].get("args") or part[key].get("response")))
    return texts


def _results(contents: list[Any]) -> tuple[ToolOutcome, ...]:
    """The ``functionResponse`` parts of the last user turn."""
    last = contents[-1]
    if last.get("role", "user") != "user" or not isinstance(last.get("parts"), list):
        return ()
    results = []
    for part in last["parts"]:
        response = part.get("functionResponse") or part.get("function_response") \
            if isinstance(part, dict) else None
        if isinstance(response, dict):
            results.append(_outcome(response))
    return tuple(results)


def _outcome(response: dict[str, Any]) -> ToolOutcome:
    """A functionResponse as a result: ``output`` (or ``error``) text, else the JSON."""
    body = response.get("response")
    body = body if isinstance(body, dict) else {"output": body}
    is_error = "error" in body and "output" not in body
    value = body.get("error") if is_error else body.get("output", body.get("result", body))
    text = value if isinstance(value, str) else json.dumps(value)
    return ToolOutcome(str(response.get("name")), text, is_error)


def _schema_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema asked for, translating ``responseSchema``'s OpenAPI subset."""
    if config.get("responseMimeType") != "application/json":
        return None
    json_schema, openapi = config.get("responseJsonSchema"), config.get("responseSchema")
    if isinstance(json_schema, dict):
        return json_schema
    if isinstance(openapi, dict):
        translated: dict[str, Any] = _from_openapi(openapi)
        return translated
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
