"""An eval session: a suite run on its own call stack, recorded in the ledger.

``evaluate`` is what ``orchestra eval`` and the dashboard's Evals page both run: a gateway, the
session's call stack (the policy's budgets, with ``budget_usd`` as the run budget when given),
attempts to the ledger through its batched sink, and each answered result as an outcome
(source ``eval``). The outcomes of the results that finished are written even when the run is
interrupted or fails, so nothing already paid for is lost. ``EvalJob`` runs it on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from decimal import Decimal

from core.calls.gateway import Gateway
from core.calls.cache import with_cache
from core.calls.factory import open_stack
from core.calls.stack import CallStack
from core.routing.state import routing_state
from core.evals.report import CaseResult, EvalReport, outcomes_of
from core.evals.runner import EvalRunner, Progress
from core.evals.suite import Suite
from core.ledger.outcomes import record_outcomes
from core.ledger.sink import AttemptSink
from core.ledger.writer import Ledger
from core.policy import Policy, load_policy
from core.settings import Settings


def eval_policy(budget_usd: Decimal | None, policy: Policy | None = None, *,
                cache: bool = False) -> Policy:
    """The policy (default: the policy file) with ``budget_usd`` as its per-run budget and,
    with ``cache``, the response cache on (reruns of a suite are then nearly free)."""
    policy = policy or load_policy()
    if cache:
        policy = with_cache(policy)
    if budget_usd is None:
        return policy
    return policy.model_copy(update={"budget": policy.budget.model_copy(
        update={"per_run_usd": budget_usd})})


def _stack(gateway: Gateway, policy: Policy, ledger: Ledger | None,
           sink: AttemptSink | None) -> CallStack:
    """The session's stack: seeded from the ledger (budgets spent today, the cap, ratings, the
    response cache when the policy enables it), or fresh when nothing is recorded."""
    if ledger is not None and sink is not None:
        return open_stack(gateway, policy, ledger, on_attempt=sink.add)
    return CallStack(gateway, policy, routing_state(policy, configured=gateway.available))


async def evaluate(suite: Suite, models: Sequence[str], *, ledger: Ledger | None,
                   policy: Policy, repeat: int = 1, judge_model: str | None = None,
                   concurrency: int | None = None, on_progress: Progress | None = None,
                   gateway: Gateway | None = None) -> EvalReport:
    """Run ``suite`` on ``models`` and record it (``ledger=None`` records nothing).

    At most ``concurrency`` cases are in flight (default: the policy's per-run concurrency),
    and at most the policy's per-provider limit at one provider (unless ``gateway`` is given).
    """
    limits = policy.concurrency
    gateway = gateway or Gateway(max_in_flight_per_provider=limits.per_provider)
    finished: list[CaseResult] = []
    runner: EvalRunner | None = None
    try:
        async with gateway as client:
            sinking = ledger.attempt_sink() if ledger else contextlib.nullcontext(None)
            with sinking as sink:
                stack = _stack(client, policy, ledger, sink)
                runner = EvalRunner(stack, judge_model=judge_model,
                                    concurrency=concurrency or limits.per_run,
                                    on_progress=on_progress, on_result=finished.append)
                return await runner.run(suite, models, repeat=repeat)
    finally:
        if ledger is not None and runner is not None and finished:
            record_outcomes(ledger, outcomes_of(finished, runner.eval_id, suite.name,
                                                suite.kind))


class EvalJob:
    """An eval session on a background thread, for the dashboard: progress, then the report
    (or the error that stopped it). Its calls use the dashboard's ``settings`` (keys, sandbox,
    ledger file) under ``policy``."""

    def __init__(self, suite: Suite, models: Sequence[str], *, settings: Settings,
                 policy: Policy, repeat: int = 1, judge_model: str | None = None) -> None:
        self.suite, self.models = suite, list(models)
        self.settings, self.policy = settings, policy
        self.repeat, self.judge_model = repeat, judge_model
        self.done_count, self.total = 0, len(suite.cases) * len(self.models) * repeat
        self.report: EvalReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="eval-job", daemon=True)

    @classmethod
    def start(cls, suite: Suite, models: Sequence[str], *, settings: Settings,
              policy: Policy, repeat: int = 1, judge_model: str | None = None) -> "EvalJob":
        """A job, already running."""
        job = cls(suite, models, settings=settings, policy=policy, repeat=repeat,
                  judge_model=judge_model)
        job._thread.start()
        return job

    def _progress(self, done: int, total: int) -> None:
        self.done_count, self.total = done, total

    def _main(self) -> None:
        try:
            gateway = self.settings.gateway(
                max_in_flight_per_provider=self.policy.concurrency.per_provider)
            self.report = asyncio.run(evaluate(
                self.suite, self.models, ledger=self.settings.ledger(), policy=self.policy,
                repeat=self.repeat, judge_model=self.judge_model, on_progress=self._progress,
                gateway=gateway))
        except Exception as exc:  # shown on the page; the thread must not die silently
            self.error = exc

    @property
    def done(self) -> bool:
        """True once the run finished or failed."""
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job; True when it finished within ``timeout``."""
        self._thread.join(timeout)
        return self.done
