"""Vendor failures → Orchestra exceptions: the status logic shared by the three adapters.

Each adapter maps failures in one place: it hands ``error_from_response`` (or
``error_from_payload`` for errors inside a stream) a *classifier* that reads its vendor's structured
error body; this module supplies what the three share: the status-code table, ``retry-after``
parsing, transport-exception mapping, and key redaction. Nothing here looks at message text.

Status table (a structured body, when the classifier recognises it, wins)::

    429            RateLimited       retry_after from retry-after-ms / retry-after
    503, 529       Overloaded
    other 5xx      ServerError
    401, 402, 403  AuthFailed        (402: the account has no credit; retrying cannot help)
    408, 504       ProviderTimeout   (504: a gateway gave up waiting for the model)
    other 4xx      BadRequest
    other non-2xx  MalformedResponse (a redirect or informational reply is not the protocol)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import httpx

from core.catalog import ModelSpec
from core.errors import (
    AuthFailed,
    BadRequest,
    ConnectionFailed,
    MalformedResponse,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from core.secrets import redact

_SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
_MIN_SECRET_LENGTH = 4
_MESSAGE_EXCERPT = 300


class Verdict(NamedTuple):
    """What a vendor's error body says: an exception class and a retry hint, when it says."""

    kind: type[ProviderError] | None = None
    retry_after: float | None = None


Classifier = Callable[[int | None, Any], Verdict]


def class_for_status(status: int) -> type[ProviderError]:
    """The exception class an HTTP status maps to when the body says nothing more specific."""
    if status == 429:
        return RateLimited
    if status in (503, 529):
        return Overloaded
    if status in (408, 504):
        return ProviderTimeout
    if status >= 500:
        return ServerError
    if status in (401, 402, 403):
        return AuthFailed
    if status >= 400:
        return BadRequest
    return MalformedResponse


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    A value that is not a finite, non-negative number (``nan``, ``inf``, ``-3``, ``1e400``) or a
    readable date is ignored, as if the header were absent; a date in the past means now.
    """
    millis = _finite_seconds(headers.get("retry-after-ms"), 1000.0)
    if millis is not None:
        return millis
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_seconds(value, 1.0)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            return None
        return max(when.timestamp() - (time.time() if now is None else now), 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _finite_seconds(value: str | None, per_second: float) -> float | None:
    """``value`` / ``per_second`` if it is a finite, non-negative number, else None."""
    if value is None:
        return None
    try:
        seconds = float(value) / per_second
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def error_object(payload: Any) -> dict[str, Any]:
    """The ``error`` object of a vendor error body (``{"error": {...}}``, maybe in a list)."""
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if not isinstance(payload, dict):
        return {}
    error = payload.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str):
        return {"message": error}
    return {}


def secrets_of(client: httpx.AsyncClient) -> tuple[str, ...]:
    """The credential values a client carries, so error text can be scrubbed of them."""
    found: list[str] = []
    for name in _SECRET_HEADERS:
        value = client.headers.get(name)
        if value:
            found.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() == "bearer":
                found.append(token)
    key_param = client.base_url.params.get("key")
    if key_param:
        found.append(key_param)
    return tuple(s for s in found if len(s) >= _MIN_SECRET_LENGTH)


@dataclass(frozen=True)
class CallContext:
    """Who a call is for (model, provider) and which secrets its error text must never show."""

    model: ModelSpec
    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, client: httpx.AsyncClient, model: ModelSpec) -> "CallContext":
        """The context of one call on this client."""
        return cls(model=model, secrets=secrets_of(client))

    def redact(self, text: str) -> str:
        """``text`` with every secret, and any vendor-masked echo of one, ``[redacted]``."""
        return redact(text, self.secrets)  # core.secrets.redact: also masked echoes (issue 10)

    def error(
        self,
        kind: type[ProviderError],
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        body: str = "",
    ) -> ProviderError:
        """A provider error stamped with provider, model, status and a redacted body excerpt."""
        return kind(
            self.redact(f"{self.model.id}: {message}"),
            provider=self.model.provider,
            model=self.model.id,
            status_code=status_code,
            retry_after=retry_after,
            body=self.redact(body),
        )

    def malformed(self, what: str, body: str = "", status_code: int | None = 200) -> ProviderError:
        """A MalformedResponse saying what did not parse."""
        return self.error(MalformedResponse, what, status_code=status_code, body=body)


def _describe(payload: Any, status: int | None) -> str:
    error = error_object(payload)
    label = error.get("type") or error.get("status") or error.get("code") or ""
    message = str(error.get("message") or "")[:_MESSAGE_EXCERPT]
    head = f"HTTP {status}" if status is not None else "error in stream"
    return " ".join(part for part in (head, str(label), message) if part).strip()


def error_from_payload(
    ctx: CallContext,
    payload: Any,
    classify: Classifier,
    *,
    status: int | None = None,
    body: str = "",
    headers: httpx.Headers | None = None,
) -> ProviderError:
    """The exception for a parsed vendor error body (a failed response, or an error event)."""
    verdict = classify(status, payload)
    if verdict.kind is not None:
        kind = verdict.kind
    elif status is not None:
        kind = class_for_status(status)
    else:
        kind = ServerError  # an error event inside a 200 stream with no recognised type
    retry_after = retry_after_seconds(headers) if headers is not None else None
    if retry_after is None:
        retry_after = verdict.retry_after
    body = body or json.dumps(payload)
    return ctx.error(
        kind, _describe(payload, status), status_code=status, retry_after=retry_after, body=body
    )


def error_from_response(
    ctx: CallContext, response: httpx.Response, classify: Classifier
) -> ProviderError:
    """The exception for a non-2xx response whose body has been read."""
    text = response.text
    try:
        payload: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):
        payload = None
    return error_from_payload(
        ctx, payload, classify, status=response.status_code, body=text, headers=response.headers
    )


@contextmanager
def transport_errors(ctx: CallContext) -> Iterator[None]:
    """Map httpx transport exceptions raised in the block to ProviderTimeout/ConnectionFailed."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ctx.error(ProviderTimeout, f"timed out ({type(exc).__name__})") from exc
    except httpx.DecodingError as exc:
        raise ctx.malformed(f"undecodable body ({type(exc).__name__}: {exc})") from exc
    except httpx.TransportError as exc:
        reason = f"connection failed ({type(exc).__name__}: {exc})"
        raise ctx.error(ConnectionFailed, reason) from exc
