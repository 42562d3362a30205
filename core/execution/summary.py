"""A run's summary: the figures users quote, and the saving against one premium model."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from core.catalog import Catalog
from core.execution.events import FailureKind, TaskStatus
from core.execution.executor import Executor
from core.policy import Policy
from core.pricing import cost_of


class TaskResult(BaseModel):
    """One task's line in the summary."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    wave: int
    status: TaskStatus
    model: str = ""
    tier: str = ""
    cost_usd: Decimal | None = None
    resumed: bool = False
    error: str = ""
    failure: FailureKind | None = None
    output: str = ""
    cached: bool = False


class RunSummary(BaseModel):
    """What a run did and cost. ``cost_usd`` is what the ledger holds for the run (unpriced
    calls excluded, counted in ``unpriced_tasks``); ``saving_ratio`` is baseline cost over
    actual cost."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: str
    tasks: int
    waves: int
    done: int
    failures: int
    skipped: int
    cancelled: int
    cost_usd: Decimal
    unpriced_tasks: int = 0
    cached_tasks: int = 0  # answered by the response cache at $0, outside the saving
    providers_used: list[str] = Field(default_factory=list)
    providers_available: int = 0
    makespan_s: float
    baseline_model: str
    baseline_cost_usd: Decimal | None
    saving_usd: Decimal | None
    saving_ratio: float | None
    task_results: list[TaskResult]


def summarize(executor: Executor, catalog: Catalog, baseline_model: str | None = None, *,
              providers_available: int | None = None,
              spent_usd: Decimal | None = None) -> RunSummary:
    """Summarise a finished (or cancelled) run from its executor's task states.

    ``providers_available`` is how many providers routing could use (default: all in the
    catalog). ``spent_usd`` is what the ledger holds for the run — every call, planner and
    scorer calls and earlier sessions included; it is the cost reported (default: the sum of
    the tasks' costs).
    """
    baseline = catalog.model(baseline_model or Policy().baseline_model(catalog))
    results, cost, baseline_cost, unpriced = [], Decimal(0), Decimal(0), 0
    providers: set[str] = set()
    for task in executor.plan.tasks:
        state = executor.states[task.id]
        out = state.output
        results.append(TaskResult(
            id=task.id, title=task.title, wave=state.wave, status=state.status,
            model=out.model if out else "", tier=out.tier if out else "",
            cost_usd=out.cost_usd if out else None, resumed=state.resumed, error=state.error,
            failure=state.failure,
            output=out.text if out else "", cached=out.cached if out else False,
        ))
        if out is None:
            continue
        providers.add(out.model.partition(":")[0])
        if out.cost_usd is None:
            unpriced += 1
        else:
            cost += out.cost_usd
        baseline_cost += cost_of(baseline, out.usage) or Decimal(0)
    counts = {s: sum(1 for r in results if r.status == s)
              for s in ("done", "failed", "skipped", "cancelled")}
    status = ("cancelled" if executor.cancelled else
              "done" if counts["done"] == len(results) else "failed")
    if spent_usd is not None:
        cost = spent_usd
    saving = baseline_cost - cost if counts["done"] else None
    ratio = float(baseline_cost / cost) if cost > 0 else None
    return RunSummary(
        run_id=executor.run_id, status=status, tasks=len(results), waves=len(executor.waves),
        done=counts["done"], failures=counts["failed"], skipped=counts["skipped"],
        cancelled=counts["cancelled"], cost_usd=cost, unpriced_tasks=unpriced,
        cached_tasks=sum(r.cached for r in results),
        providers_used=sorted(providers), providers_available=providers_available or len(catalog.providers),
        makespan_s=round(max(executor.ended_at - executor.started_at, 0.0), 3),
        baseline_model=baseline.id, baseline_cost_usd=baseline_cost if counts["done"] else None,
        saving_usd=saving, saving_ratio=ratio, task_results=results,
    )
