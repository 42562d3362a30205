"""The tool loop: model → tool calls → results → model, until it answers or hits ``max_turns``.

Every model call goes through the caller's ``call`` (the call stack, bound to its context), so
each one is routed, budgeted, capped, breaker-checked, retried, recorded and traced. The first
turn is routed among models with the ``tools`` capability; later turns pin the model that
answered, so one model sees the whole conversation (it still falls back if it fails). Tool
calls of one turn run concurrently, each within the timeout; their records are handed to
``record`` as the turn ends (it must not block: ``ToolCallWriter`` writes them to the ledger on
its own thread). A tool's failure is returned to the model as an
``is_error`` result. ``max_turns`` bounds the model calls: if the last one still asks for
tools, the loop stops with ``stopped="max_turns"`` and those calls are not run. A request's
``tool_choice`` of ``required`` or a tool's name holds for the first turn only (later turns are
``auto``), so that a forced call does not force every turn after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from opentelemetry.trace import TracerProvider

from core.routing.candidates import RouteRequest
from core.tools.base import Tool
from core.tools.execute import CallSite, ExecutedCall, execute_call
from core.tools.records import ToolCallRecord
from core.types import (AttemptRecord, ChatRequest, ChatResult, Message, Part, TextPart,
                        ToolCallPart, Usage)


class OutcomeLike(Protocol):
    """What the loop reads of a call stack's outcome."""

    result: ChatResult
    model: str
    attempts: list[AttemptRecord]
    charged_usd: Decimal


ModelCall = Callable[[ChatRequest, RouteRequest], Awaitable[Any]]
"""One model call through the call stack (e.g. ``lambda r, route: stack.call(r, route, …)``);
it returns the stack's outcome (``OutcomeLike``)."""


@dataclass
class ToolLoopResult:
    """A finished loop: the last answer, every model call and every tool call, in order."""

    result: ChatResult
    model: str
    calls: list[Any]
    tool_calls: list[ExecutedCall]
    messages: list[Message]
    stopped: Literal["answered", "max_turns"]
    charged_usd: Decimal = Decimal(0)
    usage: Usage = field(default_factory=Usage)

    @property
    def cost_usd(self) -> Decimal | None:
        """What every model call cost together; None if any was unpriced."""
        costs = [c.result.cost_usd for c in self.calls]
        return None if any(c is None for c in costs) else sum(costs, Decimal(0))

    @property
    def attempts(self) -> list[AttemptRecord]:
        """Every HTTP attempt of every model call."""
        return [a for c in self.calls for a in c.attempts]


def tools_route(route: RouteRequest, model: str | None = None) -> RouteRequest:
    """``route`` needing the ``tools`` capability (and pinned to ``model`` when given)."""
    caps = tuple(dict.fromkeys((*route.capabilities, "tools")))
    return dataclasses.replace(route, capabilities=caps, model=model or route.model)


async def run_tool_loop(
    call: ModelCall, request: ChatRequest, route: RouteRequest, tools: Sequence[Tool], *,
    max_turns: int, timeout_s: float, run_id: str = "", task_id: str = "",
    record: Callable[[list[ToolCallRecord]], None] | None = None,
    on_tool_call: Callable[[ExecutedCall], None] | None = None,
    secrets: Iterable[str] = (), tracer_provider: TracerProvider | None = None,
) -> ToolLoopResult:
    """Run the loop for ``request`` offering ``tools`` (see the module docstring); tool spans
    go to ``tracer_provider`` (default: the process's)."""
    by_name = {tool.name: tool for tool in tools}
    offered = request.model_copy(update={"tools": [t.spec for t in tools]})
    messages, secret_list = list(request.messages), list(secrets)
    calls: list[Any] = []
    executed: list[ExecutedCall] = []
    turn_route = tools_route(route)
    while True:
        outcome = await call(offered.model_copy(update={"messages": messages,
                                                        "model": turn_route.model or ""}),
                             turn_route)
        calls.append(outcome)
        result: ChatResult = outcome.result
        if not result.tool_calls or len(calls) >= max_turns:
            stopped: Literal["answered", "max_turns"] = ("answered" if not result.tool_calls
                                                         else "max_turns")
            return _finish(result, outcome.model, calls, executed, messages, stopped)
        messages.append(_assistant_message(result))
        site = CallSite(run_id, task_id, outcome.attempts[-1].attempt_id)
        done = await asyncio.gather(*(execute_call(c, by_name, site, timeout_s=timeout_s,
                                                   secrets=secret_list,
                                                   tracer_provider=tracer_provider)
                                      for c in result.tool_calls))
        if record is not None:
            record([d.record for d in done])
        for item in done:
            executed.append(item)
            if on_tool_call is not None:
                on_tool_call(item)
        messages.append(Message(role="tool", parts=[d.result for d in done]))
        turn_route = tools_route(route, outcome.model)
        if offered.tool_choice != "none":
            offered = offered.model_copy(update={"tool_choice": "auto"})


def _assistant_message(result: ChatResult) -> Message:
    """The model's turn as the conversation keeps it: its text, then its tool calls."""
    parts: list[Part] = [TextPart(text=result.text)] if result.text else []
    parts += [ToolCallPart(id=c.id, name=c.name, arguments=c.arguments)
              for c in result.tool_calls]
    return Message(role="assistant", parts=parts)


def _finish(result: ChatResult, model: str, calls: list[Any], executed: list[ExecutedCall],
            messages: list[Message], stopped: Literal["answered", "max_turns"]
            ) -> ToolLoopResult:
    usage = sum((c.result.usage for c in calls), Usage())
    charged = sum((c.charged_usd for c in calls), Decimal(0))
    return ToolLoopResult(result=result, model=model, calls=calls, tool_calls=executed,
                          messages=messages, stopped=stopped, charged_usd=charged,
                          usage=usage)
