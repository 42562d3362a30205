"""A small Server-Sent Events parser (the WHATWG ``text/event-stream`` format).

Lines end with CRLF, LF or CR; ``field: value`` lines build up an event and a blank line
dispatches it. ``data:`` lines of one event join with newlines, lines starting with ``:`` are
comments (keep-alives), and an event left without its blank line when the stream ends is dropped,
as the specification says. The decoder is incremental: text may arrive split anywhere, even
between the CR and LF of one line ending.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its type (``message`` when unnamed), data and last event id."""

    event: str = "message"
    data: str = ""
    id: str = ""


class SSEDecoder:
    """Turns chunks of stream text into events; feed it text, collect what completed."""

    def __init__(self) -> None:
        self._pending = ""  # text after the last complete line
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""

    def feed(self, text: str) -> list[SSEEvent]:
        """Consume a chunk of text; return the events it completed, in order.

        Line endings are normalised and split with ``str`` methods (C speed), never by a
        character loop: CRLF and lone CR become LF, and a chunk ending in CR remembers that a
        leading LF of the next chunk belongs to that same line ending.
        """
        if not text:
            return []
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = False
        buffer = self._pending + text
        if "\r" in buffer:
            self._skip_lf = buffer.endswith("\r")
            buffer = buffer.replace("\r\n", "\n").replace("\r", "\n")
        lines = buffer.split("\n")
        self._pending = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._last_id = value
        return None  # "retry" and unknown fields are ignored

    def _dispatch(self) -> SSEEvent | None:
        event_type, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return SSEEvent(event=event_type or "message", data="\n".join(data), id=self._last_id)


async def aiter_sse(chunks: AsyncIterable[str]) -> AsyncIterator[SSEEvent]:
    """Events from an async stream of text chunks (e.g. ``response.aiter_text()``)."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
