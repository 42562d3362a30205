"""What the ledger keeps of one tool call, and the redaction of its arguments.

Arguments are stored as JSON with secrets removed: the value of any argument whose name says it
is a secret (``api_key``, ``token``, ``password``, ``authorization``…) at any depth, and, in any
string value, every known secret (the provider keys in the environment) or masked echo of one
(``core.secrets.redact``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from core.secrets import REDACTED, redact

ToolCallStatus = Literal["ok", "error", "timeout"]
_SECRET_NAME = re.compile(r"(api[_-]?key|secret|token|passw(or)?d|authorization|credential|"
                          r"^key$|_key$)", re.IGNORECASE)


class ToolCallRecord(BaseModel):
    """One tool call as the ``tool_calls`` table stores it.

    ``attempt_id`` is the model call that asked for it; ``call_id`` the model's id for the call;
    ``started_at`` unix seconds; ``status`` ok, error (the tool raised or refused) or timeout.
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str = ""
    task_id: str = ""
    attempt_id: str
    call_id: str
    tool: str
    source: str = ""
    arguments_json: str = "{}"
    started_at: float
    duration_ms: float
    status: ToolCallStatus
    error: str = ""


def redact_arguments(arguments: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``arguments`` with secret-named values and known secrets replaced."""
    return _redact(arguments, list(secrets))


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED if _SECRET_NAME.search(str(key)) else _redact(item, secrets)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, secrets) for item in value]
    if isinstance(value, str) and secrets:
        return redact(value, secrets)
    return value


def arguments_json(arguments: dict[str, Any], secrets: Iterable[str] = ()) -> str:
    """The redacted arguments as compact JSON."""
    return json.dumps(redact_arguments(arguments, secrets), default=str, ensure_ascii=False,
                      separators=(",", ":"))
