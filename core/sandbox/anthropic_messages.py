"""The Anthropic Messages protocol (``POST /v1/messages``).

Structured output is a forced tool: ``tools=[{name, input_schema}]`` with
``tool_choice={"type": "tool", "name": ...}`` answers with a ``tool_use`` block (streamed as
``input_json_delta`` pieces) and ``stop_reason`` ``tool_use`` (its input fits what the prompt
asks of that tool when ``core.sandbox.tools`` sees an ask, else it is schema-generated). Other
tool choices (``auto``, ``any``, ``none``) let ``core.sandbox.tools`` decide: one ``tool_use``
block per call. A last user turn of ``tool_result`` blocks is what the answer is drawn from. Streams follow the documented event
order: message_start, content_block_start, ping, content_block_delta..., content_block_stop,
message_delta (output usage), message_stop.
"""

from __future__ import annotations

import json
from typing import Any

from core.catalog import ModelSpec
from core.sandbox.protocols import (
    STREAM_PIECE_TOKENS,
    Answer,
    ErrorKind,
    ParsedRequest,
    SandboxHTTPError,
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

_ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "not_found": "not_found_error",
    "auth": "authentication_error",
    "context_length": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "unavailable": "overloaded_error",
    "overloaded": "overloaded_error",
    "timeout": "timeout_error",
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
        messages: Any = body.get("messages")
        require(isinstance(messages, list) and bool(messages), "messages: Field required")
        texts = text_of(body.get("system") or [])
        topic = ""
        for message in messages:
            require(isinstance(message, dict) and "role" in message, "messages: each needs a role")
            parts = text_of(message.get("content"))
            texts.extend(parts + _block_texts(message.get("content")))
            if message["role"] == "user" and parts:
                topic = parts[-1]
        schema, name = _forced_tool(body)
        tools = _offered(body.get("tools"))
        return ParsedRequest(
            model=model,
            wire_model=wire_model,
            texts=tuple(texts),
            topic=topic,
            max_tokens=positive_int(body["max_tokens"], "max_tokens"),
            stream=bool(body.get("stream")),
            schema=schema,
            schema_name=name,
            tools=tools,
            tool_choice=_choice(body.get("tool_choice"), tools),
            tool_results=_results(messages),
            call_id_prefix="toolu_",
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
        message = self._message(request, answer.output_tokens, _stop_reason(answer))
        if answer.tool_calls:
            message["content"] = [_tool_use(call, call.arguments) for call in answer.tool_calls]
            return message
        block = self._block(request, answer)
        if answer.is_structured:
            block["input"] = answer.structured
        else:
            block["text"] = answer.text
        message["content"] = [block]
        return message

    def stream_tool_calls(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        frames = []
        for index, call in enumerate(answer.tool_calls):
            frames.append(sse({"type": "content_block_start", "index": index,
                               "content_block": _tool_use(call, {})}, "content_block_start"))
            for piece in call_pieces(call, STREAM_PIECE_TOKENS):
                delta = {"type": "input_json_delta", "partial_json": piece}
                frames.append(sse({"type": "content_block_delta", "index": index, "delta": delta},
                                  "content_block_delta"))
            frames.append(sse({"type": "content_block_stop", "index": index},
                              "content_block_stop"))
        return frames

    def stream_start(self, request: ParsedRequest, answer: Answer) -> list[bytes]:
        message = self._message(request, 1, None)
        if answer.tool_calls:
            return [sse({"type": "message_start", "message": message}, "message_start"),
                    sse({"type": "ping"}, "ping")]
        block = self._block(request, answer)
        if answer.is_structured:
            block["input"] = {}
        else:
            block["text"] = ""
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
        stop = [] if answer.tool_calls else [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop")]
        return [
            *stop,
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


def _tool_use(call: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _offered(raw: Any) -> tuple[OfferedTool, ...]:
    """The ``tools`` of a request: ``{name, description, input_schema}`` each."""
    require(raw is None or isinstance(raw, list), "tools: Input should be a valid list")
    tools = []
    for index, tool in enumerate(raw or []):
        require(isinstance(tool, dict), f"tools.{index}: Input should be an object")
        tools.append(offered_tool(tool.get("name"), tool.get("description"),
                                  tool.get("input_schema"), f"tools.{index}"))
    return tuple(tools)


def _choice(raw: Any, tools: tuple[OfferedTool, ...]) -> str:
    """``tool_choice`` ``{type: auto | any | none | tool}`` as our choice words."""
    if raw is None:
        return "auto" if tools else "none"
    require(isinstance(raw, dict), "tool_choice: Input should be an object")
    kind = raw.get("type")
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if kind in modes:
        return modes[str(kind)]
    require(kind == "tool", "tool_choice.type: must be auto, any, none or tool")
    return known_choice(str(raw.get("name")), tools, "tool_choice.name")


def _block_texts(content: Any) -> list[str]:
    """The input carried by tool_use and tool_result blocks (it counts as input)."""
    texts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_use":
            texts.append(json.dumps(block.get("input")))
        elif block.get("type") == "tool_result":
            texts.extend(text_of(block.get("content")))
    return texts


def _results(messages: list[Any]) -> tuple[ToolOutcome, ...]:
    """The ``tool_result`` blocks of the last user turn, named after their ``tool_use`` calls."""
    names: dict[str, str] = {}
    for message in messages:
        for block in _blocks(message.get("content")):
            if block.get("type") == "tool_use":
                names[str(block.get("id"))] = str(block.get("name"))
    last = messages[-1]
    if last.get("role") != "user":
        return ()
    results = []
    for block in _blocks(last.get("content")):
        if block.get("type") != "tool_result":
            continue
        call_id = block.get("tool_use_id")
        require(call_id in names, f"tool_result: tool_use_id '{call_id}' answers no tool_use")
        results.append(ToolOutcome(names[str(call_id)], "".join(text_of(block.get("content"))),
                                   bool(block.get("is_error"))))
    return tuple(results)


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _stop_reason(answer: Answer) -> str:
    if answer.filtered:
        return "refusal"
    if answer.is_structured or answer.tool_calls:
        return "tool_use"
    return "max_tokens" if answer.truncated else "end_turn"
