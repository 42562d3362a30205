"""Choosing how a demand becomes a plan: a plan file, the LLM planner, or the offline planner.

The LLM planner's calls go through the call stack like every other call (purpose
``planner``, task ``plan`` of the run they are made for), so they count against that run's
budget and land in the ledger.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from core.calls.context import CallContext
from core.calls.stack import CallStack
from core.catalog import Tier
from core.planning.plan import load_plan_file
from core.planning.planner import PlanResult, plan_offline, plan_with_llm
from core.routing.candidates import RouteRequest
from core.routing.router import Router
from core.types import ChatRequest, ChatResult

PlannerChoice = Literal["offline", "llm"]


def cheapest_json_model(stack: CallStack, tier: Tier) -> str:
    """The cheapest viable model of ``tier`` with JSON-schema output: the LLM planner asks a
    balanced one, complexity scoring an economy one. Budgets are left to the call itself."""
    state = dataclasses.replace(stack.state, budget=None)
    request = RouteRequest("helper call", tier=tier, capabilities=("json_schema",),
                           max_output_tokens=2000)
    return Router(stack.catalog, stack.policy, state).route(request).model


async def make_plan(demand: str, *, planner: PlannerChoice = "offline",
                    plan_file: Path | str | None = None, stack: CallStack | None = None,
                    run_id: str = "") -> PlanResult:
    """A validated plan for ``demand``: from ``plan_file`` when given, else from the planner.

    The LLM planner needs ``stack``; its calls are recorded under ``run_id`` (task ``plan``).
    """
    if plan_file is not None:
        plan = load_plan_file(plan_file, stack.catalog if stack else None)
        if demand:
            plan = plan.model_copy(update={"demand": demand})
        return PlanResult(plan=plan, source="file", notes=[f"read from {plan_file}"])
    if planner == "offline":
        return PlanResult(plan=plan_offline(demand), source="offline")
    if stack is None:
        raise ValueError("the LLM planner calls a model: give it the session's call stack")
    where = CallContext(run_id=run_id, task_id="plan", purpose="planner")

    async def complete(request: ChatRequest) -> ChatResult:
        return (await stack.call(request, context=where, fallback=False)).result

    return await plan_with_llm(demand, complete, model_id=cheapest_json_model(stack, "balanced"),
                               catalog=stack.catalog)
