"""The built-in tools: ``calculator``, ``clock`` and ``http_get``.

``calculator`` evaluates arithmetic with ``simpleeval`` (no ``eval``: only operators, numbers
and the functions of ``math`` listed here). ``clock`` tells the time in an IANA time zone.
``http_get`` fetches a URL whose host is in the policy's ``[tools] allowlist`` (every other host
is refused before any connection), without following redirects, reading at most
``http_max_bytes`` within ``timeout_s``.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from simpleeval import InvalidExpression, SimpleEval

from core.tools.base import Tool
from core.tools.errors import ToolArgumentsInvalid, ToolFailed, ToolRefused
from core.tools.functions import function_tool
from core.tools.settings import ToolSettings

_MATH_FUNCTIONS = {name: getattr(math, name) for name in (
    "sqrt", "log", "log10", "log2", "exp", "sin", "cos", "tan", "asin", "acos", "atan",
    "floor", "ceil", "factorial", "gcd")}
_MATH_FUNCTIONS.update(abs=abs, round=round, min=min, max=max)
_EVALUATOR = SimpleEval(functions=_MATH_FUNCTIONS, names={"pi": math.pi, "e": math.e})


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly as written and return its value.

    Args:
        expression: arithmetic such as "1234 * 5678" or "sqrt(2) ** 3"; + - * / // % **,
            parentheses, pi, e and math functions (sqrt, log, sin, floor, factorial, ...).
    """
    try:
        value = _EVALUATOR.eval(expression)
    except (InvalidExpression, SyntaxError) as exc:
        raise ToolArgumentsInvalid(f"calculator: '{expression}' is not an arithmetic "
                                   f"expression ({type(exc).__name__}); use numbers and "
                                   "operators only") from exc
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ToolFailed(f"calculator: {expression} cannot be computed: {exc}") from exc
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def clock(timezone: str = "UTC") -> str:
    """The current date and time in a time zone (ISO 8601, with the weekday).

    Args:
        timezone: an IANA time zone name, e.g. "Europe/Paris" or "America/New_York".
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolArgumentsInvalid(f"clock: unknown time zone '{timezone}'; use an IANA name "
                                   "such as Europe/Paris") from exc
    now = datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({now.strftime('%A')}, {timezone})"


def host_allowed(host: str, allowlist: list[str]) -> bool:
    """Whether ``host`` is listed, exactly or under a ``*.domain`` entry."""
    host = host.lower().rstrip(".")
    for entry in (e.lower().rstrip(".") for e in allowlist):
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def http_get_tool(settings: ToolSettings,
                  transport: httpx.AsyncBaseTransport | None = None) -> Tool:
    """``http_get`` bound to the policy's allowlist, size cap and timeout."""

    async def http_get(url: str) -> str:
        """Fetch a web page or API response by URL (GET); only allowlisted hosts answer.

        Args:
            url: the full http:// or https:// URL to fetch.
        """
        target = _allowed_url(url, settings.allowlist)
        return await _fetch(target, settings, transport)

    return function_tool(http_get)


def _allowed_url(url: str, allowlist: list[str]) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ToolArgumentsInvalid(f"http_get: '{url}' is not a URL; send a full "
                                   "http(s):// URL") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise ToolArgumentsInvalid(f"http_get: '{url}' is not an http(s) URL with a host")
    if not host_allowed(target.host, allowlist):
        listed = ", ".join(allowlist) or "none"
        raise ToolRefused(f"http_get: host '{target.host}' is not in the allowlist (allowed: "
                          f"{listed}); add it to [tools] allowlist in the policy to allow it")
    return target


async def _fetch(target: httpx.URL, settings: ToolSettings,
                 transport: httpx.AsyncBaseTransport | None) -> str:
    cap = settings.http_max_bytes
    body = bytearray()
    try:
        async with httpx.AsyncClient(transport=transport, timeout=settings.timeout_s,
                                     follow_redirects=False) as client:
            async with client.stream("GET", target) as response:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > cap:
                        break
    except httpx.HTTPError as exc:
        raise ToolFailed(f"http_get: {target.host} failed: {type(exc).__name__}") from exc
    truncated = len(body) > cap
    text = bytes(body[:cap]).decode(response.encoding or "utf-8", errors="replace")
    head = f"HTTP {response.status_code} {response.headers.get('content-type', '')}".strip()
    if response.is_redirect:
        head += f" (redirect to {response.headers.get('location', '?')}, not followed)"
    if truncated:
        head += f" (truncated to {cap} bytes)"
    return f"{head}\n\n{text}"


def builtin_tools(settings: ToolSettings,
                  transport: httpx.AsyncBaseTransport | None = None) -> list[Tool]:
    """The three built-ins, ``http_get`` bound to ``settings``."""
    return [function_tool(calculator, in_thread=False), function_tool(clock, in_thread=False),
            http_get_tool(settings, transport)]
