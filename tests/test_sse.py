"""The SSE parser: fields, multi-line data, comments, line endings, chunk boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.providers.sse import SSEDecoder, SSEEvent, aiter_sse
from fixtures.scripted import transcript


def parse(text: str) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.feed(text)


def test_named_event_and_data() -> None:
    events = parse('event: message_stop\ndata: {"type": "message_stop"}\n\n')
    assert events == [SSEEvent(event="message_stop", data='{"type": "message_stop"}')]


def test_unnamed_event_is_message() -> None:
    assert parse("data: hello\n\n") == [SSEEvent(event="message", data="hello")]


def test_multi_line_data_joins_with_newlines() -> None:
    assert parse("data: first\ndata:second\ndata:  third\n\n")[0].data == "first\nsecond\n third"


def test_comments_and_keepalives_are_ignored() -> None:
    text = ": keep-alive\n\n:OPENROUTER PROCESSING\ndata: x\n: inside\n\n"
    assert parse(text) == [SSEEvent(data="x")]


def test_blank_line_without_data_dispatches_nothing_and_resets_event() -> None:
    assert parse("event: ping\n\ndata: y\n\n") == [SSEEvent(event="message", data="y")]


def test_crlf_and_cr_line_endings() -> None:
    assert parse("event: a\r\ndata: 1\r\n\r\n") == [SSEEvent(event="a", data="1")]
    assert parse("event: b\rdata: 2\r\r") == [SSEEvent(event="b", data="2")]


def test_field_without_colon_and_id_field() -> None:
    events = parse("id: 7\ndata\ndata: z\n\ndata: w\n\n")
    assert events == [SSEEvent(data="\nz", id="7"), SSEEvent(data="w", id="7")]


def test_retry_and_unknown_fields_are_ignored() -> None:
    assert parse("retry: 1000\nfoo: bar\ndata: q\n\n") == [SSEEvent(data="q")]


def test_incomplete_last_event_is_dropped() -> None:
    assert parse("data: done\n\ndata: partial\n") == [SSEEvent(data="done")]


def test_cr_at_chunk_end_followed_by_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r") == []
    assert decoder.feed("\n\r") == [SSEEvent(data="a")]
    assert decoder.feed("\ndata: b\r\n\r\n") == [SSEEvent(data="b")]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(text[start:point])
        start = point
    pieces.append(text[start:])
    return pieces


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    text = transcript("gemini_stream.sse") + transcript("anthropic_stream.sse")
    whole = parse(text)
    decoder = SSEDecoder()
    chunked = [event for piece in _split(text, cuts) for event in decoder.feed(piece)]
    assert chunked == whole
    assert len(whole) == 4 + 9


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
def test_any_chunking_of_any_line_ending_gives_the_same_events(ending, cuts) -> None:
    lf = transcript("anthropic_stream_tools.sse").replace("\r\n", "\n")
    text = lf.replace("\n", ending)
    decoder = SSEDecoder()
    pieces = [p for piece in _split(text, cuts) for p in (piece, "")]  # empty chunks too
    chunked = [event for piece in pieces for event in decoder.feed(piece)]
    assert chunked == parse(lf)
    assert len(chunked) == 19


async def test_aiter_sse_over_async_chunks() -> None:
    async def chunks():
        for piece in ("data: {\"a\"", ": 1}\r\n", "\r\nevent: e\ndata: 2\n\n"):
            yield piece

    events = [event async for event in aiter_sse(chunks())]
    assert events == [SSEEvent(data='{"a": 1}'), SSEEvent(event="e", data="2")]
