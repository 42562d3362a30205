"""Redaction knows vendor masks: a provider's half-hidden echo of a key is never stored.

A provider that refuses a key often quotes it back masked (``sk-LEAKC*****cdef``). The
end-to-end test serves such a provider on loopback, calls it through ``orchestra ask`` (which
falls back to a sandboxed model), exports the history, and scans the ledger, the CSV and Parquet
exports, the screen and the logs for any piece of the key.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import httpx
import pytest

from core.calls.gateway import Gateway
from core.cli import main
from core.errors import AuthFailed
from core.ledger import Ledger
from core.secrets import REDACTED, mask_key, redact
from core.types import ChatRequest

SECRET = "sk-LEAKCq7Wm2Zr9Tn4Yb6Hd8Jf3Kp5Xs1Vg0cdef"
MASKS = ("*", "…", "•", "x")


def vendor_echo(key: str, mask: str, head: int = 8, tail: int = 4) -> str:
    """A key as vendors quote it back: ``head`` leading, a mask, ``tail`` trailing characters."""
    return key[:head] + mask * (len(key) - head - tail) + key[len(key) - tail:]


def _pieces_of(key: str) -> list[str]:
    """What must never appear: the key, its 8-character head, and every vendor echo of it."""
    return [key, key[:8], *(vendor_echo(key, m, h, t) for m in MASKS for h, t in
                            ((8, 4), (6, 4), (7, 2)))]


# ── the function ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize(("head", "tail"), [(8, 4), (6, 4), (10, 0), (6, 1), (12, 6)])
def test_a_masked_echo_is_redacted_like_the_key(mask: str, head: int, tail: int) -> None:
    echo = vendor_echo(SECRET, mask, head, tail)
    text = f"Incorrect API key provided: {echo}. You can find your API key at example.test."
    assert redact(text, [SECRET]) == (f"Incorrect API key provided: {REDACTED}. You can find "
                                      "your API key at example.test.")


def test_short_masks_single_mask_characters_and_several_echoes() -> None:
    text = f"a {SECRET[:8]}…cdef b {SECRET[:9]}*{SECRET[-2:]} c {SECRET} d {SECRET[:6]}xx"
    assert redact(text, [SECRET]) == f"a {REDACTED} b {REDACTED} c {REDACTED} d {REDACTED}"


def test_what_is_not_an_echo_is_left_alone() -> None:
    other = "sk-OTHERKEYq7Wm2Zr9Tn4Yb6Hd8cdef"
    texts = [
        f"{SECRET[:5]}*****cdef",  # fewer than 6 leading characters
        mask_key(SECRET),  # our own display mask (sk-…cdef)
        f"{SECRET[:8]} and more text",  # no mask after the shared head
        f"{other[:8]}******{other[-4:]}",  # another key's echo
        "sandbox answer: 12 * 4 = 48 • done … ok",
    ]
    for text in texts:
        assert redact(text, [SECRET]) == text


def test_keys_too_short_to_match_ordinary_text_are_ignored() -> None:
    assert redact("the cat sat", ["cat", ""]) == "the cat sat"
    assert redact("token abcd here", ["abcd"]) == f"token {REDACTED} here"


def test_a_bearer_header_value_and_its_token_are_both_redacted() -> None:
    text = f"sent 'Bearer {SECRET}', echoed {vendor_echo(SECRET, '*')}"
    assert redact(text, [f"Bearer {SECRET}", SECRET]) == f"sent '{REDACTED}', echoed {REDACTED}"


# ── each adapter's error path (httpx.MockTransport answering 401) ─────────────────────────
def _echoing_401(provider: str, mask: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = (request.headers.get("x-api-key") or request.headers.get("x-goog-api-key")
                or request.headers["authorization"].removeprefix("Bearer "))
        echo = vendor_echo(sent, mask)
        message = f"Incorrect API key provided: {echo}. Key {echo} is not valid."
        bodies = {
            "openai": {"error": {"message": message, "type": "invalid_request_error",
                                 "param": None, "code": "invalid_api_key"}},
            "anthropic": {"type": "error", "error": {"type": "authentication_error",
                                                     "message": message}},
            "google": {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}},
        }
        return httpx.Response(401, json=bodies[provider])
    return handler


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize(("provider", "model"), [("openai", "openai:gpt-4o-mini"),
                                                 ("anthropic", "anthropic:claude-haiku-4-5"),
                                                 ("google", "google:gemini-2.0-flash")])
async def test_each_adapter_redacts_the_vendors_masked_echo(provider: str, model: str,
                                                           mask: str) -> None:
    transport = httpx.MockTransport(_echoing_401(provider, mask))
    async with Gateway(transport=transport, keys={provider: SECRET}) as gateway:
        with pytest.raises(AuthFailed) as caught:
            await gateway.complete(ChatRequest.of(model, "hi"))
    error = caught.value
    assert error.status_code == 401 and REDACTED in error.body and REDACTED in str(error)
    for piece in _pieces_of(SECRET):
        assert piece not in str(error) and piece not in error.body, piece


# ── end to end: ask → ledger → CSV, Parquet, screen and logs ──────────────────────────────
class _EchoHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible provider that refuses every key, quoting it back masked."""

    mask = "*"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        body = json.dumps({"error": {
            "message": f"Incorrect API key provided: {vendor_echo(key, self.mask)}. You can "
                       "find your API key at https://platform.example/account/api-keys.",
            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the test reads the client's logs, not the server's."""


@pytest.fixture(params=MASKS)
def echoing_provider(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL (…/v1) of a loopback provider echoing keys masked with one mask character."""
    handler = type("Handler", (_EchoHandler,), {"mask": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _ledger_text(db: Path) -> str:
    """Every value of every ledger table, as text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        rows = [con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables]
    finally:
        con.close()
    return repr(rows)


def _parquet_text(path: Path) -> str:
    con = duckdb.connect()
    try:
        return repr(con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall())
    finally:
        con.close()


def test_no_piece_of_the_key_reaches_ledger_exports_screen_or_logs(
    echoing_provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    db, csv, parquet = tmp_path / "k.duckdb", tmp_path / "a.csv", tmp_path / "a.parquet"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", echoing_provider)
    assert main(["ask", "hi", "--model", "openai:gpt-4o-mini", "--json", "--db", str(db)]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["model"] != "openai:gpt-4o-mini"  # refused with 401, then fell back
    [refused] = [a for a in Ledger(str(db)).get_attempts() if a.status == "error"]
    assert (refused.error_class, refused.http_status) == ("AuthFailed", 401)
    assert REDACTED in refused.error_message  # the echo was there, and was redacted
    assert main(["history", "--csv", str(csv), "--db", str(db)]) == 0
    assert main(["history", "--parquet", str(parquet), "--db", str(db)]) == 0
    screen = capsys.readouterr()
    places = {"ledger": _ledger_text(db), "csv": csv.read_text(), "parquet": _parquet_text(parquet),
              "screen": screen.out + screen.err, "logs": caplog.text,
              "ledger file": db.read_bytes().decode("latin-1")}
    assert "Incorrect API key provided" in places["csv"] + places["parquet"]
    for where, text in places.items():
        for piece in _pieces_of(SECRET):
            assert piece not in text, f"{piece!r} leaked into the {where}"
