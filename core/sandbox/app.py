"""The sandbox ASGI app: the three LLM wire protocols for every catalog model, at real paths.

Routes (so clients pointed at each vendor's base URL work unchanged):

- OpenAI-compatible: ``POST /v1/chat/completions``, ``/chat/completions`` (Perplexity) and
  ``/openai/v1/chat/completions`` (Groq); ``GET /v1/models`` (and the same prefixes).
- Anthropic: ``POST /v1/messages``.
- Gemini: ``POST /v1beta/models/{model}:generateContent`` and
  ``:streamGenerateContent?alt=sse``.
- ``GET /health``.

Every response carries ``x-orchestra-sandbox: 1``. Answers are deterministic for a seed, paced
by the catalog's tier timings (times ``latency_scale``), and faults are injected as configured:
a ``hang`` holds the request until the client's timeout closes it (or ``hang_seconds`` pass,
then a 504 in the vendor's shape), so clients time out for real; ``content_filter`` answers 200
with the vendor's refusal (OpenAI ``finish_reason: content_filter``, Anthropic ``stop_reason:
refusal``, Gemini ``finishReason: SAFETY``) after a few tokens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from core.catalog import Catalog, ModelSpec
from core.sandbox.anthropic_messages import AnthropicMessages
from core.sandbox.config import FaultKind, SandboxConfig
from core.sandbox.faults import Fault, FaultInjector
from core.sandbox.gemini_generate import GeminiGenerate
from core.sandbox.openai_chat import OpenAIChat
from core.sandbox.protocols import (
    Answer,
    ErrorKind,
    ParsedRequest,
    SandboxHTTPError,
    WireProtocol,
    build_answer,
    refused,
)
from core.sandbox.schema import SchemaProblem, check_schema

SANDBOX_HEADERS = {"x-orchestra-sandbox": "1"}
INVALID_KEY = "sk-sandbox-invalid"  # a request carrying this key gets a 401, for auth tests
STREAM_CHUNK_TOKENS = 3
_FAULT_MESSAGES = {
    "rate_limit": "Rate limit reached for {model} (sandbox fault injection); retry after {wait}s.",
    "server_error": "The server had an error while processing your request (sandbox fault).",
    "unavailable": "The service is temporarily unavailable (sandbox fault).",
    "overloaded": "Overloaded (sandbox fault)",
}


class SandboxConnectionReset(ConnectionResetError):
    """Raised by the app mid-body to cut the connection (the ``reset`` fault)."""


class _ResetResponse(Response):
    """Sends the headers and the first half of a body, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2],
                    "more_body": True})
        raise SandboxConnectionReset("sandbox fault: connection reset mid-body")


class Sandbox:
    """Request handling shared by every route: auth, model lookup, limits, faults, answers."""

    def __init__(self, catalog: Catalog, config: SandboxConfig) -> None:
        self.catalog = catalog
        self.config = config
        self.faults = FaultInjector(config)
        self._models: dict[tuple[str, str], list[ModelSpec]] = {}
        for model in catalog.models.values():
            protocol = catalog.providers[model.provider].protocol
            self._models.setdefault((protocol, model.name), []).append(model)
            self._models.setdefault((protocol, model.id), []).append(model)
        self._hosts = {
            name: urlsplit(spec.base_url).hostname or "" for name, spec in catalog.providers.items()
        }

    async def handle(
        self, request: Request, protocol: WireProtocol, path_model: str | None, stream: bool
    ) -> Response:
        """Answer one generation request in ``protocol``'s dialect."""
        try:
            parsed = await self._parse(request, protocol, path_model, stream)
        except SandboxHTTPError as exc:
            return self.error_response(protocol, exc.status, exc.kind, exc.message)
        fault = self.faults.draw(parsed.model, protocol.name)
        if fault is not None and fault.status is not None:
            return self._fault_error(protocol, parsed, fault)
        if fault is not None and fault.kind == "hang":
            if await _hang(request, fault.hang_seconds):
                return Response(status_code=499, headers=SANDBOX_HEADERS)  # nobody is listening
            message = f"the sandbox held the request for {fault.hang_seconds:g}s (hang fault)"
            return self.error_response(protocol, 504, "timeout", message)
        answer = (await asyncio.to_thread(build_answer, self.config, parsed)  # local model: HTTP
                  if self.config.text == "local" else build_answer(self.config, parsed))
        if fault is not None and fault.kind == "content_filter":
            answer = refused(answer)
        if parsed.stream:
            return StreamingResponse(
                self._stream(protocol, parsed, answer, fault),
                media_type="text/event-stream",
                headers={**SANDBOX_HEADERS, "cache-control": "no-cache"},
            )
        ttft, per_token = self.timing(parsed.model)
        if ttft or per_token:
            await asyncio.sleep(ttft + per_token * answer.output_tokens)
        body = json.dumps(protocol.complete_body(parsed, answer)).encode()
        if fault is not None and fault.kind == "malformed":
            body = body[: len(body) // 2]
        response_class = _ResetResponse if fault is not None and fault.kind == "reset" else Response
        return response_class(body, media_type="application/json", headers=SANDBOX_HEADERS)

    async def _parse(
        self, request: Request, protocol: WireProtocol, path_model: str | None, stream: bool
    ) -> ParsedRequest:
        if _carries_invalid_key(request):
            raise SandboxHTTPError(401, "auth", "Invalid API key (sandbox auth test).")
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            message = "the request body is not valid JSON"
            raise SandboxHTTPError(400, "invalid_request", message) from exc
        if not isinstance(body, dict):
            raise SandboxHTTPError(400, "invalid_request", "the request body must be an object")
        wire_model = protocol.wire_model(body, path_model)
        model = self._resolve(protocol, wire_model, request.headers.get("host", ""))
        parsed = protocol.parse(body, model, wire_model, stream)
        requested = parsed.max_tokens or 0
        if parsed.input_tokens + requested > model.context_window:
            message = protocol.context_message(
                parsed.input_tokens, requested, model.context_window
            )
            raise SandboxHTTPError(400, "context_length", message)
        if parsed.schema is not None:
            try:
                check_schema(parsed.schema)
            except SchemaProblem as exc:
                raise SandboxHTTPError(400, "invalid_request", str(exc)) from exc
        return parsed

    def _resolve(self, protocol: WireProtocol, wire_model: str, host: str) -> ModelSpec:
        """The catalog model a wire name means; several matches prefer the request's host."""
        matches = self._models.get((protocol.name, wire_model))
        if not matches:
            raise SandboxHTTPError(404, "not_found", protocol.unknown_model_message(wire_model))
        hostname = host.split(":", 1)[0]
        for model in matches:
            if self._hosts.get(model.provider) == hostname:
                return model
        return matches[0]

    def timing(self, model: ModelSpec) -> tuple[float, float]:
        """Seconds to the first token and seconds per token, scaled; zeros when instant."""
        scale = self.config.latency_scale
        tier = self.catalog.tiers.get(model.tier)
        if scale == 0 or tier is None:
            return 0.0, 0.0
        speedup = self.catalog.providers[model.provider].sandbox_speedup
        ttft = tier.sandbox_ttft_ms / 1000 / speedup * scale
        return ttft, scale / (tier.sandbox_tokens_per_s * speedup)

    async def _stream(
        self, protocol: WireProtocol, parsed: ParsedRequest, answer: Answer, fault: Fault | None
    ) -> AsyncIterator[bytes]:
        """SSE frames paced like the model: start, time to first token, token groups, end."""
        for frame in protocol.stream_start(parsed, answer):
            yield frame
        ttft, per_token = self.timing(parsed.model)
        if ttft:
            await asyncio.sleep(ttft)
        kind = fault.kind if fault is not None else None
        if kind == "malformed":
            yield b'data: {"sandbox": "malformed chunk", "choices": [\n\n'
            return
        frames = _middle_frames(protocol, parsed, answer)
        cut = max(1, len(frames) // 2) if kind == "reset" else None
        for index, (frame, tokens) in enumerate(frames):
            if cut is not None and index >= cut:
                raise SandboxConnectionReset("sandbox fault: connection reset mid-stream")
            if index and per_token:
                await asyncio.sleep(per_token * tokens)
            yield frame
        for frame in protocol.stream_end(parsed, answer):
            yield frame

    def _fault_error(self, protocol: WireProtocol, parsed: ParsedRequest, fault: Fault) -> Response:
        assert fault.status is not None
        message = _FAULT_MESSAGES[fault.kind].format(
            model=parsed.wire_model, wait=f"{fault.retry_after_seconds:g}"
        )
        headers = fault.retry_after_headers() if fault.kind == "rate_limit" else {}
        return self.error_response(
            protocol, fault.status, fault.kind, message, headers, fault.retry_after_seconds
        )

    def error_response(
        self,
        protocol: WireProtocol,
        status: int,
        kind: ErrorKind | FaultKind,
        message: str,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> Response:
        """An error response in the protocol's vendor shape, marked as a sandbox one."""
        body = protocol.error_body(status, kind, message, retry_after)  # type: ignore[arg-type]
        return JSONResponse(body, status_code=status, headers={**SANDBOX_HEADERS, **(headers or {})})


def _middle_frames(
    protocol: WireProtocol, parsed: ParsedRequest, answer: Answer
) -> list[tuple[bytes, float]]:
    """The frames between start and end, each with the tokens it carries (for pacing): tool-call
    pieces, or the text in groups of ``STREAM_CHUNK_TOKENS``."""
    if answer.tool_calls:
        frames = protocol.stream_tool_calls(parsed, answer)
        return [(frame, answer.output_tokens / len(frames)) for frame in frames]
    pieces = answer.pieces
    groups = [pieces[start:start + STREAM_CHUNK_TOKENS]
              for start in range(0, len(pieces), STREAM_CHUNK_TOKENS)]
    sent = 0
    middle: list[tuple[bytes, float]] = []
    for group in groups:
        sent += len(group)
        middle.append((protocol.stream_delta(parsed, answer, "".join(group), sent), len(group)))
    return middle


async def _hang(request: Request, seconds: float) -> bool:
    """Hold the request until the client gives up (True) or for ``seconds`` at most (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(0.05, remaining))
    return False


def _carries_invalid_key(request: Request) -> bool:
    headers = request.headers
    candidates = (
        headers.get("authorization", "").removeprefix("Bearer ").strip(),
        headers.get("x-api-key", ""),
        headers.get("x-goog-api-key", ""),
        request.query_params.get("key", ""),
    )
    return INVALID_KEY in candidates


def build_app(catalog: Catalog, config: SandboxConfig) -> Starlette:
    """The sandbox as a Starlette ASGI app serving every model of ``catalog``."""
    sandbox = Sandbox(catalog, config)
    openai, anthropic, gemini = OpenAIChat(), AnthropicMessages(), GeminiGenerate()

    async def chat_completions(request: Request) -> Response:
        return await sandbox.handle(request, openai, None, False)

    async def messages(request: Request) -> Response:
        return await sandbox.handle(request, anthropic, None, False)

    async def generate(request: Request) -> Response:
        model, _, action = request.path_params["target"].rpartition(":")
        if action not in ("generateContent", "streamGenerateContent"):
            message = f"method '{action}' is not supported by the sandbox"
            return sandbox.error_response(gemini, 404, "not_found", message)
        return await sandbox.handle(request, gemini, model, action == "streamGenerateContent")

    async def list_models(request: Request) -> Response:
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": m.provider}
            for m in catalog.models.values()
            if catalog.providers[m.provider].protocol == "openai_chat"
        ]
        return JSONResponse({"object": "list", "data": data}, headers=SANDBOX_HEADERS)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "sandbox": True}, headers=SANDBOX_HEADERS)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": {"message": f"no sandbox route for {request.url.path}"}},
                            status_code=404, headers=SANDBOX_HEADERS)

    routes = [Route("/health", health, methods=["GET"])]
    for prefix in ("/v1", "", "/openai/v1"):
        routes.append(Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]))
        routes.append(Route(f"{prefix}/models", list_models, methods=["GET"]))
    routes.append(Route("/v1/messages", messages, methods=["POST"]))
    for version in ("/v1beta", "/v1"):
        routes.append(Route(f"{version}/models/{{target}}", generate, methods=["POST"]))
    return Starlette(routes=routes, exception_handlers={404: not_found})
