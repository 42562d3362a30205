"""A gateway whose every call is booked against a run's budgets first.

The dispatcher reserves and settles budgets itself; the multi-model patterns call the gateway
directly, so inside a run they are given this wrapper: each call reserves its worst-case cost
(``BudgetExceeded`` if that would break a budget, and the call is not sent), then settles to
what the call actually cost, or releases the booking when the call failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.routing.budget import BudgetManager, Reservation, worst_case_for
from core.catalog import Catalog
from core.calls.stack import prompt_token_bound
from core.calls.gateway import Gateway
from core.types import ChatRequest, ChatResult, Mode, StreamDone, StreamEvent


class BudgetedGateway:
    """``Gateway``'s calling surface (``catalog``, ``mode``, ``available``, ``complete``,
    ``stream``) with every call reserved against ``budget``."""

    def __init__(self, gateway: Gateway, budget: BudgetManager) -> None:
        self._gateway = gateway
        self._budget = budget

    @property
    def catalog(self) -> Catalog:
        """The wrapped gateway's catalog."""
        return self._gateway.catalog

    def mode(self, provider: str) -> Mode:
        """The wrapped gateway's mode for ``provider``."""
        return self._gateway.mode(provider)

    def available(self, provider: str) -> bool:
        """Whether routing may choose ``provider`` (as the wrapped gateway says)."""
        return self._gateway.available(provider)

    def _reserve(self, request: ChatRequest) -> Reservation:
        model = self.catalog.model(request.model)
        amount, unpriced = worst_case_for(self.catalog, model, prompt_token_bound(request),
                                          request.max_tokens)
        return self._budget.reserve(model.provider, amount, unpriced=unpriced)

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One call, booked first and settled to its actual cost."""
        reservation = self._reserve(request)
        try:
            result = await self._gateway.complete(request)
        except BaseException:
            self._budget.release(reservation)
            raise
        self._budget.settle(reservation, result.cost_usd)
        return result

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streamed call, booked first and settled when its final event arrives."""
        reservation = self._reserve(request)
        settled = False
        try:
            async for event in self._gateway.stream(request):
                if isinstance(event, StreamDone):
                    self._budget.settle(reservation, event.result.cost_usd)
                    settled = True
                yield event
        finally:
            if not settled:
                self._budget.release(reservation)
