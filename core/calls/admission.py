"""Admission: whether a call to one model may be sent now, and booking it if so.

In order: the provider must be available (its key was not refused this session), the call's
worst-case cost must fit every budget (it is reserved), the provider's breaker must let it
through (in half-open state this takes the single probe), and the call is counted toward the
provider's share for the concentration cap. A refusal says which of these stopped it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from core.catalog import Catalog, ModelSpec
from core.errors import BudgetExceeded
from core.routing.budget import Reservation, worst_case_for
from core.routing.state import RoutingState
from core.types import ChatRequest

RefusalKind = Literal["unavailable", "over_budget", "breaker_open"]
NO_RESERVATION = Reservation(0, "", Decimal(0))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a model was passed over without being called."""

    kind: RefusalKind
    reason: str
    error: BudgetExceeded | None = None


def prompt_token_bound(request: ChatRequest) -> int:
    """An upper bound of the prompt's tokens (one per character), so reservations stay safe."""
    chars = sum(len(m.text) for m in request.messages) + len(request.system or "")
    chars += sum(len(json.dumps(part.model_dump())) for m in request.messages
                 for part in m.parts if part.type != "text")
    if request.json_schema is not None:
        chars += len(json.dumps(request.json_schema))
    chars += sum(len(json.dumps(tool.model_dump())) for tool in request.tools)
    return chars + 16 * (len(request.messages) + 1)


class Admission:
    """Books calls against one session's routing state (the only writer of its budgets,
    breaker probes and shares)."""

    def __init__(self, catalog: Catalog, state: RoutingState) -> None:
        self.catalog = catalog
        self.state = state

    def admit(self, spec: ModelSpec, request: ChatRequest) -> Reservation | Refusal:
        """Reserve a call to ``spec``, or say why it may not be sent."""
        state, provider = self.state, spec.provider
        if provider in state.unavailable:
            return Refusal("unavailable", f"{provider} unavailable")
        reservation = NO_RESERVATION
        if state.budget is not None:
            worst, unpriced = worst_case_for(self.catalog, spec, prompt_token_bound(request),
                                             request.max_tokens)
            try:
                reservation = state.budget.reserve(provider, worst, unpriced=unpriced)
            except BudgetExceeded as exc:
                return Refusal("over_budget", f"{spec.id} over budget", exc)
        if not state.breakers.get(provider).allow():
            self.release(reservation)
            return Refusal("breaker_open", f"{provider} breaker open")
        state.shares.record(provider)
        return reservation

    def settle(self, reservation: Reservation, cost: Decimal | None) -> Decimal:
        """Charge what the call cost (an unpriced call keeps its worst case); the charge."""
        if self.state.budget is None or not reservation.id:
            return Decimal(0) if cost is None else cost
        return self.state.budget.settle(reservation, cost)

    def release(self, reservation: Reservation) -> None:
        """Drop a booking whose call cost nothing."""
        if self.state.budget is not None and reservation.id:
            self.state.budget.release(reservation)
