"""The call stack's vocabulary: where a call is made from (copied into its attempt records,
events and spans), what the stack needs of a gateway, and what a finished call returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from core.catalog import Catalog
from core.errors import (AllModelsFailed, BudgetExceeded, InvalidOutput, OrchestraError,
                         ProviderTimeout)
from core.routing.router import RouteDecision
from core.types import AttemptRecord, CallPurpose, ChatRequest, ChatResult, Mode


@dataclass(frozen=True, slots=True)
class CallContext:
    """Where a call runs: its run, task and wave (empty outside a run), the comparison it
    belongs to (patterns), what it was made for, and the pattern step's name."""

    run_id: str = ""
    task_id: str = ""
    wave: int = 0
    comparison_id: str = ""
    purpose: CallPurpose = "task"
    label: str = ""  # a step's name inside a pattern ("moa: layer 1"), stored as the reason

    def but(self, **changes: object) -> "CallContext":
        """A copy with some fields changed (e.g. ``ctx.but(purpose="judge")``)."""
        return replace(self, **changes)  # type: ignore[arg-type]


Validator = Callable[[ChatResult], None]
"""Checks an answer; raises ``InvalidOutput`` to reject it (the attempt is then a failure)."""


class GatewayLike(Protocol):
    """What the stack needs from ``core.calls.gateway.Gateway``: one HTTP attempt per call."""

    catalog: Catalog

    def mode(self, provider: str) -> Mode: ...
    def available(self, provider: str) -> bool: ...
    async def complete(self, request: ChatRequest) -> ChatResult: ...
    def stream(self, request: ChatRequest) -> Any: ...


@dataclass
class CallOutcome:
    """A finished call: the result, the model that gave it, every attempt and the decision.

    ``charged_usd`` is what the budgets were charged for it, rejected-but-paid answers
    included."""

    result: ChatResult
    model: str
    attempts: list[AttemptRecord]
    decision: RouteDecision
    charged_usd: Decimal
    restarted: bool = False


def all_failed(errors: list[OrchestraError], tried: list[str], why: str,
               attempts: list[AttemptRecord]) -> OrchestraError:
    """One error for a call whose every model failed or was ruled out: ``BudgetExceeded``
    when budgets ruled every model out, else ``AllModelsFailed`` keeping every cause."""
    if not tried and errors and all(isinstance(e, BudgetExceeded) for e in errors):
        return errors[0]
    causes = "; ".join(f"{getattr(e, 'model', '') or '?'}: {type(e).__name__}"
                       for e in errors) or why
    return AllModelsFailed(
        f"every model failed for this call (tried {', '.join(tried) or 'none'}): {causes}",
        list(errors), attempts)


def passes(validate: Validator | None, result: ChatResult) -> bool:
    """Whether an answer passes a call's check (always, when it has none)."""
    try:
        if validate is not None:
            validate(result)
    except InvalidOutput:
        return False
    return True


class DeadlineReached(ProviderTimeout):
    """The task's deadline passed during an attempt: not the provider's fault, not retried."""

    retryable_default = False
