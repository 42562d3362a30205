"""Running one tool call: a timeout, an OpenTelemetry span, a ledger record, never a raise.

``execute_call`` turns whatever happens — a result, an exception, a timeout, an unknown tool —
into a ``ToolResultPart`` for the model (``is_error`` on failure) and a ``ToolCallRecord``
for the ledger (its arguments and error with ``secrets`` redacted). Only cancellation
propagates: a tool's failure never fails the task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, TracerProvider

from core.secrets import redact
from core.tools.base import Tool
from core.tools.records import ToolCallRecord, ToolCallStatus, arguments_json
from core.types import ToolCallPart, ToolResultPart

TRACER_NAME = "orchestra"


@dataclass(frozen=True, slots=True)
class CallSite:
    """Where a tool call happens: the run, the task and the model attempt that asked."""

    run_id: str = ""
    task_id: str = ""
    attempt_id: str = ""


@dataclass(frozen=True, slots=True)
class ExecutedCall:
    """One tool call: what the model asked, what it got back, and the ledger record."""

    call: ToolCallPart
    result: ToolResultPart
    record: ToolCallRecord


async def execute_call(call: ToolCallPart, tools: Mapping[str, Tool], site: CallSite, *,
                       timeout_s: float, secrets: Iterable[str] = (),
                       tracer_provider: TracerProvider | None = None) -> ExecutedCall:
    """Run ``call`` with its tool, within ``timeout_s``, inside an ``execute_tool`` span (on
    ``tracer_provider``, else the process's)."""
    tool, secret_list = tools.get(call.name), list(secrets)
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name,
                  "gen_ai.tool.call.id": call.id}
    started, t0 = time.time(), time.monotonic()
    with tracer.start_as_current_span(f"execute_tool {call.name}", attributes=attributes,
                                      record_exception=False,
                                      set_status_on_exception=False) as span:
        status, content, error = await _run(call, tool, tools, timeout_s)
        if status != "ok":
            span.set_status(Status(StatusCode.ERROR, error))
            span.set_attribute("error.type", "timeout" if status == "timeout" else "tool_error")
    record = ToolCallRecord(
        run_id=site.run_id, task_id=site.task_id, attempt_id=site.attempt_id, call_id=call.id,
        tool=call.name, source=tool.source if tool else "", started_at=started,
        duration_ms=(time.monotonic() - t0) * 1000, status=status,
        error=redact(error, secret_list), arguments_json=arguments_json(call.arguments,
                                                                        secret_list))
    result = ToolResultPart(call_id=call.id, name=call.name, content=content,
                            is_error=status != "ok")
    return ExecutedCall(call=call, result=result, record=record)


async def _run(call: ToolCallPart, tool: Tool | None, tools: Mapping[str, Tool],
               timeout_s: float) -> tuple[ToolCallStatus, str, str]:
    """(status, content for the model, error for the ledger)."""
    if tool is None:
        error = (f"no tool named '{call.name}'; call one of: {', '.join(tools) or 'none'}")
        return "error", error, error
    try:
        async with asyncio.timeout(timeout_s) as limit:
            return "ok", await tool.run(dict(call.arguments)), ""
    except TimeoutError:
        if not limit.expired():  # the tool's own TimeoutError, not our limit
            error = f"{call.name} failed: TimeoutError"
            return "error", error, error
        error = f"{call.name} did not finish within {timeout_s:g}s (the [tools] timeout_s)"
        return "timeout", error, error
    except Exception as exc:  # any failure of the tool goes back to the model, typed
        error = f"{type(exc).__name__}: {exc}"[:1000]
        return "error", error, error
