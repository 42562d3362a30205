"""Dashboard jobs: a comparison on its own thread, streamed text visible to a poller; planning
a demand (LLM or uploaded file) for the Run page's preview; starting a run in the background.

A Streamlit rerun stops the page script, so a comparison cannot stream inside it. ``CompareJob``
runs ``core.patterns.compare`` on a background thread with its own event loop and gateway; the
page polls ``texts()`` (the text streamed so far per model) and, once ``done``, reads
``comparison``. Answers are written to the ledger as the comparison ends, so they can be rated.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.catalog import Catalog
from ui.live import LiveRun
from core.ledger.writer import Ledger
from core.patterns.common import ledger_recorder
from core.patterns.compare import Comparison, compare
from core.patterns.judge import JudgeResult, judge
from core.planning.plan import Plan, load_plan_file
from core.planning.planner import PlanResult, plan_with_llm
from core.calls.resilience import BreakerBoard
from core.calls.context import CallContext
from core.calls.factory import open_stack
from core.settings import Settings
from core.types import ChatRequest, ChatResult
from core.execution.runs import RunSession

DEFAULT_RUBRIC = "Correct, complete and concise; answers exactly what was asked."


class CompareJob:
    """One comparison on a background thread. Create with ``CompareJob.start(...)``.

    Args:
        prompt: the prompt (appended to the rendered template when both are given).
        models: catalog model ids.
        template: a prompt-library template name, rendered with ``variables``.
        system: an optional system prompt.
        max_tokens: the output limit of each answer.
        judge_model: when set, this model scores each answer 1–5 against ``rubric`` afterwards.
        rubric: what a good answer does (for the judge).
        settings: the dashboard's settings (catalog, policy, keys, ledger file, sandbox).
        breakers: the dashboard's shared circuit breakers (its calls feed them).
    """

    def __init__(
        self, prompt: str | None, models: Sequence[str], *, template: str | None = None,
        variables: Mapping[str, str] | None = None, system: str | None = None,
        max_tokens: int = 600, judge_model: str | None = None, rubric: str = DEFAULT_RUBRIC,
        settings: Settings, breakers: BreakerBoard | None = None,
    ) -> None:
        self.models = list(models)
        self._breakers = breakers
        self.judge_model = judge_model
        self.rubric = rubric
        self.comparison: Comparison | None = None
        self.verdict: JudgeResult | None = None
        self.error: str | None = None
        self.deltas = 0
        self._call: dict[str, Any] = {
            "prompt": prompt, "models": self.models, "template": template,
            "vars": dict(variables or {}), "system": system, "max_tokens": max_tokens,
        }
        self._settings = settings
        self._ledger = settings.ledger()
        self._texts = {model: "" for model in self.models}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name="compare", daemon=True)

    @classmethod
    def start(cls, prompt: str | None, models: Sequence[str], **options: Any) -> "CompareJob":
        """Start a comparison on a new background thread and return its handle."""
        job = cls(prompt, models, **options)
        job._thread.start()
        return job

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self.comparison = loop.run_until_complete(self._run())
        except Exception as exc:  # noqa: BLE001 - reported to the page, which shows it
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _run(self) -> Comparison:
        async with self._settings.gateway() as gateway:
            with self._ledger.attempt_sink() as sink:
                stack = open_stack(gateway, self._settings.policy, self._ledger,
                                   on_attempt=sink.add, breakers=self._breakers)
                comparison = await compare(stack, **self._call, on_delta=self._delta,
                                           on_record=ledger_recorder(self._ledger))
                self.comparison = comparison  # answers show while the judge works
                if self.judge_model:
                    self.verdict = await judge(stack, comparison.prompt, comparison.results,
                                               self.rubric, self.judge_model,
                                               ledger=self._ledger)
            return comparison

    def _delta(self, model: str, piece: str) -> None:
        with self._lock:
            self._texts[model] = self._texts.get(model, "") + piece
            self.deltas += 1

    def texts(self) -> dict[str, str]:
        """The text each model has streamed so far (a copy; safe from any thread)."""
        with self._lock:
            return dict(self._texts)

    @property
    def done(self) -> bool:
        """True once the comparison has finished (answers or an error)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the comparison ends; True if it did within ``timeout``."""
        self._thread.join(timeout)
        return self.done


def default_compare_models(catalog: Catalog, count: int = 3) -> list[str]:
    """``count`` models on different cloud providers, balanced tier first (for the page)."""
    chosen: list[str] = []
    for tier in ("balanced", "economy", "premium"):
        for model in catalog.by_tier(tier):  # type: ignore[arg-type]
            taken = {m.partition(":")[0] for m in chosen}
            if model.provider not in taken and not catalog.providers[model.provider].local:
                chosen.append(model.id)
            if len(chosen) == count:
                return chosen
    return chosen


def save_ratings(stars: Mapping[str, int | None], best: str | None,
                 ledger: Ledger) -> int:
    """Record a person's ratings (attempt id → 1–5 or None) and best pick; returns how many
    answers were judged. Saving again replaces the earlier judgement of each answer."""
    for attempt_id, rating in stars.items():
        ledger.rate(attempt_id, rating, best=attempt_id == best, source="person")
    if best is not None and best not in stars:
        ledger.rate(best, None, best=True, source="person")
    return len(stars) + (best is not None and best not in stars)


def plan_with_model(demand: str, model_id: str, settings: Settings,
                    breakers: BreakerBoard | None = None) -> PlanResult:
    """Plan ``demand`` with an LLM (JSON-schema output, one repair, offline fallback); blocks.
    The planner's calls are written to the ledger (task ``plan``, no run yet) and feed the
    shared ``breakers``."""

    async def plan() -> PlanResult:
        ledger = settings.ledger()
        async with settings.gateway() as gateway:
            with ledger.attempt_sink() as sink:
                stack = open_stack(gateway, settings.policy, ledger, on_attempt=sink.add,
                                   breakers=breakers)
                where = CallContext(task_id="plan", purpose="planner")

                async def complete(request: ChatRequest) -> ChatResult:
                    return (await stack.call(request, context=where, fallback=False)).result

                return await plan_with_llm(demand, complete, model_id=model_id)

    return asyncio.run(plan())


def plan_from_upload(file_name: str, content: bytes) -> Plan:
    """A plan from an uploaded ``.json``/``.yaml`` file; ``PlanError`` names what is wrong."""
    suffix = Path(file_name).suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{Path(file_name).stem or 'plan'}{suffix}"
        path.write_bytes(content)
        return load_plan_file(path)


def planner_models(catalog: Catalog) -> list[str]:
    """Models that can plan (structured JSON output), balanced tier first."""
    able = [m for m in catalog.models.values() if m.supports("json_schema")]
    order = {"balanced": 0, "economy": 1, "premium": 2}
    return [m.id for m in sorted(able, key=lambda m: order[m.tier])]


def start_run(plan: Plan, budget_usd: Decimal, settings: Settings,
              breakers: BreakerBoard | None = None) -> LiveRun:
    """Start ``plan`` on a background thread with its own budget, over the dashboard's
    ``settings``, feeding the shared circuit ``breakers`` when given."""
    return LiveRun.start(RunSession(plan, budget_usd=budget_usd, settings=settings,
                                    breakers=breakers))
