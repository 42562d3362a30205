"""StreamingASGITransport: chunks reach the client as the app sends them, and failures map to httpx."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.sandbox.transport import StreamingASGITransport


class SpacedEvents:
    """A raw ASGI app sending three SSE events ``gap`` seconds apart, recording its progress."""

    def __init__(self, gap: float = 0.2, count: int = 3) -> None:
        self.gap = gap
        self.count = count
        self.finished = asyncio.Event()
        self.stopped = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        try:
            for i in range(self.count):
                if i:
                    await asyncio.sleep(self.gap)
                await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(),
                            "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.finished.set()
        finally:
            self.stopped.set()


def client_for(app, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://test", **kwargs)


async def test_first_chunk_arrives_while_the_app_is_still_running():
    app = SpacedEvents(gap=0.2)
    received: list[tuple[bytes, bool]] = []
    async with client_for(app) as client, client.stream("GET", "/events") as response:
        async for chunk in response.aiter_raw():
            received.append((chunk, app.finished.is_set()))
    assert [chunk for chunk, _ in received] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    assert received[0][1] is False  # the app had not finished when the first event arrived
    assert received[1][1] is False
    assert app.finished.is_set()


async def test_closing_mid_stream_stops_the_app():
    app = SpacedEvents(gap=0.05, count=1000)
    async with client_for(app) as client, client.stream("GET", "/events") as response:
        async for chunk in response.aiter_raw():
            assert chunk == b"data: 0\n\n"
            break
    await asyncio.wait_for(app.stopped.wait(), 5)
    assert not app.finished.is_set()


async def test_app_failure_before_the_headers_is_a_remote_protocol_error():
    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    async with client_for(broken) as client:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.get("/")
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_app_failure_mid_body_is_a_remote_protocol_error():
    async def cut(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ConnectionResetError("dropped")

    async with client_for(cut) as client, client.stream("GET", "/") as response:
        chunks = []
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
    assert chunks == [b"partial"]
    assert isinstance(caught.value.__cause__, ConnectionResetError)


async def test_a_hanging_app_hits_the_client_read_timeout():
    stopped = asyncio.Event()

    async def hang(scope, receive, send):
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()

    async with client_for(hang, timeout=httpx.Timeout(5.0, read=0.05)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/")
    assert stopped.is_set()


async def test_request_body_headers_and_query_reach_the_app():
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({
            "body": (await request.json()),
            "header": request.headers["x-probe"],
            "query": request.query_params["alt"],
            "path": request.url.path,
        })

    app = Starlette(routes=[Route("/v1beta/models/{target}", echo, methods=["POST"])])
    async with client_for(app) as client:
        response = await client.post(
            "/v1beta/models/m:streamGenerateContent?alt=sse",
            json={"a": [1, 2]}, headers={"x-probe": "yes"},
        )
    assert response.json() == {"body": {"a": [1, 2]}, "header": "yes", "query": "sse",
                               "path": "/v1beta/models/m:streamGenerateContent"}
