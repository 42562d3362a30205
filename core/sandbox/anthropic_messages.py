"""The Anthropic Messages protocol (``POST /v1/messages``).

Structured output is a forced tool: ``tools=[{name, input_schema}]`` with
``tool_choice={"type": "tool", "name": ...}`` answers with a ``tool_use`` block (streamed as
``input_json_delta`` pieces) and ``stop_reason`` ``tool_use``. Streams follow the documented event
order: message_start, content_block_start, ping, content_block_delta..., content_block_stop,
message_delta (output usage), message_stop.
"""

from __future__ import annotations

from typing import Any

from core.catalog import ModelSpec
from core.sandbox.protocols import (
    Answer,
    ErrorKind,
    ParsedRequest,
    SandboxHTTPError,
    WireProtocol,
    positive_int,
    require,
    response_id,
    sse,
    text_of,
)

_ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "not_found": "not_found_error",
    "auth": "authentication_error",
    "context_length": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "unavailable": "overloaded_error",
    "overloaded": "overloaded_error",
}


class AnthropicMessages(WireProtocol):
    """Messages API, non-streaming and SSE with named events."""

    name = "anthropic_messages"

    def wire_model(self, body: dict[str, Any], path_model: str | None) -> str:
        model = body.get("model")
        require(isinstance(model, str) and bool(model), "model: Field required")
        return str(model)

    def parse(
        self, body: dict[str, Any], model: ModelSpec, wire_model: str, stream: bool
    ) -> ParsedRequest:
        require("max_tokens" in body, "max_tokens: Field required")
        messages = body.get("messages")
        require(isinstance(messages, list) and bool(messages), "messages: Field required")
        texts = text_of(body.get("system") or [])
        topic = ""
        for message in messages:
            require(isinstance(message, dict) and "role" in message, "messages: each needs a role")
            parts = text_of(message.get("content"))
            texts.extend(parts)
            if message["role"] == "user" and parts:
                topic = parts[-1]
        schema, name = _forced_tool(body)
        return ParsedRequest(
            model=model,
            wire_model=wire_model,
            texts=tuple(texts),
            topic=topic,
            max_tokens=positive_int(body["max_tokens"], "max_tokens"),
            stream=bool(body.get("stream")),
            schema=schema,
            schema_name=name,
        )

    def error_body(
        self, status: int, kind: ErrorKind, message: str, retry_after: float | None = None
    ) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": _ERROR_TYPES[kind], "message": message},
            "request_id": "req_sandbox",
        }

    def unknown_model_message(self, wire_model: str) -> str:
        return f"model: {wire_model}"

    def context_message(self, input_tokens: int, max_tokens: int, window: int) -> str:
        return (
            f"input length and `max_tokens` exceed context limit: {input_tokens} + {max_tokens} "
            f"> {window}, decrease input length or `max_tokens` and try again"
        )

    def complete_body(self, request: ParsedRequest, answer: Answer) -> dict[str, Any]:
        block = self._block(request, answer)
        if answer.is_structured:
            block["input"] = answer.structured
        else:
            block["text"] = answer.text
        message = self._message(request, answer.output_tokens, _stop_reason(answer))
        message["content"] = [block]
        return message

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        block = self._block(request, answer)
        if answer.is_structured:
            block["input"] = {}
        else:
            block["text"] = ""
        message = self._message(request, 1, None)
        return [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": block},
                "content_block_start"),
            sse({"type": "ping"}, "ping"),
        ]

    def stream_delta(self, request: ParsedRequest, answer: Answer, text: str, sent: int) -> bytes:
        if answer.is_structured:
            delta = {"type": "input_json_delta", "partial_json": text}
        else:
            delta = {"type": "text_delta", "text": text}
        return sse({"type": "content_block_delta", "index": 0, "delta": delta},
                   "content_block_delta")

    def stream_end(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        return [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": None},
                    "usage": {"output_tokens": answer.output_tokens},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]

    def _message(self, request: ParsedRequest, output_tokens: int, stop: str | None) -> dict[str, Any]:
        return {
            "id": response_id("msg_", request),
            "type": "message",
            "role": "assistant",
            "model": request.wire_model,
            "content": [],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": request.input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _block(self, request: ParsedRequest, answer: Answer) -> dict[str, Any]:
        if answer.is_structured:
            return {"type": "tool_use", "id": response_id("toolu_", request),
                    "name": request.schema_name}
        return {"type": "text"}


def _forced_tool(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The input schema of the tool that ``tool_choice`` forces, if any."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") != "tool":
        return None, "result"
    name = choice.get("name")
    tools = body.get("tools") or []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("name") == name:
            schema = tool.get("input_schema")
            require(isinstance(schema, dict), f"tools: tool '{name}' needs an input_schema object")
            return schema, str(name)
    raise SandboxHTTPError(400, "invalid_request", f"tool_choice: no tool named '{name}'")


def _stop_reason(answer: Answer) -> str:
    if answer.is_structured:
        return "tool_use"
    return "max_tokens" if answer.truncated else "end_turn"
