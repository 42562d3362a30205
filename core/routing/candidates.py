"""What rankers see: the task to route (``RouteRequest``) and each model's routing facts
(``Candidate``), flattened once from the catalog so the hot path builds no pydantic objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from decimal import Decimal

from core.catalog import Catalog, ModelSpec, Tier
from core.routing.budget import tier_ceiling_price
from core.types import ChatRequest

CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What the router needs to know about a task (all but ``text`` optional)."""

    text: str = ""
    kind: str = ""
    complexity: int | None = None
    tier: Tier | None = None
    model: str | None = None
    capabilities: tuple[str, ...] = ()
    prompt_tokens: int | None = None
    max_output_tokens: int = 1024
    dependencies: int = 0

    def estimated_prompt_tokens(self) -> int:
        """The given prompt size, else about four characters per token."""
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        return len(self.text) // CHARS_PER_TOKEN + 1


class Candidate:
    """A model's routing facts, flattened once for the hot path (rankers read these)."""

    __slots__ = ("id", "provider", "tier", "context", "caps", "only_for", "in_rate",
                 "out_rate", "in_price", "out_price", "unpriced")

    def __init__(self, model: ModelSpec, catalog: Catalog) -> None:
        price = model.price or tier_ceiling_price(catalog, model.tier)
        self.id = model.id
        self.provider = model.provider
        self.tier = model.tier
        self.context = model.context_window
        self.caps = model.capabilities
        self.only_for = model.route_only_for
        self.unpriced = model.price is None
        self.in_price = price.input_per_mtok if price else Decimal(0)
        self.out_price = price.output_per_mtok if price else Decimal(0)
        self.in_rate = float(self.in_price)
        self.out_rate = float(self.out_price)


def route_request_for(request: ChatRequest, *, stream: bool = False,
                      **overrides: Any) -> RouteRequest:
    """A RouteRequest read off a ChatRequest: its text, output limit and needed capabilities."""
    needs = (("json_schema", request.json_schema is not None),
             ("live_search", request.live_search), ("stream", stream),
             ("tools", bool(request.tools) and request.tool_choice != "none"))
    values: dict[str, Any] = {
        "text": "\n".join(m.text for m in request.messages),
        "capabilities": tuple(cap for cap, needed in needs if needed),
        "max_output_tokens": request.max_tokens,
    }
    values.update(overrides)
    return RouteRequest(**values)
