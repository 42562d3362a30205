"""Choosing how a demand becomes a plan: a plan file, the LLM planner, or the offline planner."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Literal

from core.catalog import Tier
from core.calls.gateway import Gateway
from core.planning.plan import load_plan_file
from core.planning.planner import PlanResult, plan_offline, plan_with_llm
from core.routing.candidates import RouteRequest
from core.routing.router import Router
from core.types import AttemptRecord, ChatResult

PlannerChoice = Literal["offline", "llm"]


def cheapest_json_model(gateway: Gateway, tier: Tier) -> str:
    """The cheapest viable model of ``tier`` with JSON-schema output: the LLM planner asks a
    balanced one, complexity scoring an economy one."""
    router = Router(gateway.catalog, available=gateway.available)
    request = RouteRequest("helper call", tier=tier, capabilities=("json_schema",),
                           max_output_tokens=2000)
    return router.route(request).model


async def make_plan(demand: str, *, planner: PlannerChoice = "offline",
                    plan_file: Path | str | None = None,
                    gateway: Gateway | None = None) -> PlanResult:
    """A validated plan for ``demand``: from ``plan_file`` when given, else from the planner."""
    if plan_file is not None:
        plan = load_plan_file(plan_file)
        if demand:
            plan = plan.model_copy(update={"demand": demand})
        return PlanResult(plan=plan, source="file", notes=[f"read from {plan_file}"])
    if planner == "offline":
        return PlanResult(plan=plan_offline(demand), source="offline")
    owned = gateway is None
    gateway = gateway or Gateway()
    try:
        return await plan_with_llm(demand, gateway.complete, model_id=cheapest_json_model(gateway, "balanced"))
    finally:
        if owned:
            await gateway.aclose()


def calls_as_attempts(calls: list[ChatResult], *, run_id: str = "", task_id: str = "plan",
                      wave: int = 0, reason: str = "LLM planner") -> list[AttemptRecord]:
    """Helper calls made outside dispatch (the LLM planner, complexity scoring) as ledger
    attempts, so every call's tokens and cost land in the ledger."""
    now = time.time()
    return [
        AttemptRecord(
            attempt_id=uuid.uuid4().hex, run_id=run_id, task_id=task_id, wave=wave,
            provider=c.provider,
            model=c.model, mode=c.mode, status="ok", input_tokens=c.usage.input_tokens,
            output_tokens=c.usage.output_tokens, cached_input_tokens=c.usage.cached_input_tokens,
            reasoning_tokens=c.usage.reasoning_tokens, cost_usd=c.cost_usd,
            latency_ms=c.latency_ms, ttft_ms=c.ttft_ms, reason=reason,
            started_at=now - c.latency_ms / 1000, ended_at=now,
        )
        for c in calls
    ]
