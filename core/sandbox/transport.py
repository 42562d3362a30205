"""An httpx transport that runs an ASGI app in process and streams its body as it is sent.

httpx 0.28's ``ASGITransport`` runs the app to the end and buffers the whole body, so a client
sees no byte of a stream before the last. ``StreamingASGITransport`` runs the app in a task and
hands each body chunk to the client through a bounded ``asyncio.Queue`` as the app sends it:

- closing the response mid-stream tells the app the client disconnected and cancels it;
- the request's read timeout applies while waiting for the headers and for each chunk
  (``httpx.ReadTimeout``), so a hanging app behaves like a hanging server;
- an exception raised by the app surfaces as ``httpx.RemoteProtocolError`` (a server that
  dies mid-response drops the connection), chained to the original.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

_QUEUE_SIZE = 64
_DONE = object()


class _AppFailed:
    """Queue item telling the client side that the app raised."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _AppRun:
    """One request's app task, its outgoing message queue and its disconnect signal."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], request: httpx.Request) -> None:
        self.request = request
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self.disconnected = asyncio.Event()
        self._body = request.stream.__aiter__()  # type: ignore[union-attr]
        self._body_done = False
        timeout = request.extensions.get("timeout", {})
        self.read_timeout: float | None = timeout.get("read")
        self.task = asyncio.create_task(self._run(app, scope))

    async def _run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the client side
            await self.queue.put(_AppFailed(exc))
        else:
            await self.queue.put(_DONE)

    async def _receive(self) -> Message:
        if not self._body_done:
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self.disconnected.is_set():
            raise OSError("client disconnected")
        await self.queue.put(message)

    async def next_message(self) -> Any:
        """The app's next message; a read timeout or app failure raises an httpx error."""
        try:
            return await asyncio.wait_for(self.queue.get(), self.read_timeout)
        except asyncio.TimeoutError as exc:
            await self.close()
            message = "the sandbox did not answer in time"
            raise httpx.ReadTimeout(message, request=self.request) from exc

    async def close(self) -> None:
        """Signal a disconnect and stop the app task."""
        self.disconnected.set()
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task

    def failure(self, item: Any, during: str) -> httpx.RemoteProtocolError | None:
        """The httpx error for an app failure or an early end, else None."""
        if isinstance(item, _AppFailed):
            error = httpx.RemoteProtocolError(
                f"the server dropped the connection {during}: {type(item.exc).__name__}",
                request=self.request,
            )
            error.__cause__ = item.exc
            return error
        if item is _DONE:
            return httpx.RemoteProtocolError(
                f"the server closed the connection {during}", request=self.request
            )
        return None


class _StreamingBody(httpx.AsyncByteStream):
    """The response body: chunks as the app sends them, until ``more_body`` is false."""

    def __init__(self, run: _AppRun) -> None:
        self._run = run

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._run.next_message()
            error = self._run.failure(message, "mid-body")
            if error is not None:
                await self._run.close()
                raise error
            if message["type"] != "http.response.body":
                continue
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                return

    async def aclose(self) -> None:
        await self._run.close()


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Mount an ASGI app as an httpx transport, streaming response bodies chunk by chunk.

    Args:
        app: the ASGI application (e.g. ``core.sandbox.app.build_app(...)``).
        client: the (host, port) the app sees as the client address.
    """

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Start the app on the request; return once it has sent the response headers."""
        run = _AppRun(self.app, self._scope(request), request)
        try:
            start = await run.next_message()
            error = run.failure(start, "before answering")
            if error is not None:
                raise error
        except BaseException:
            await run.close()
            raise
        return httpx.Response(
            status_code=start["status"],
            headers=[(k, v) for k, v in start.get("headers", [])],
            stream=_StreamingBody(run),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _scope(self, request: httpx.Request) -> dict[str, Any]:
        url = request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": self.client,
            "root_path": "",
        }
