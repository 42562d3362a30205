"""Run a suite: every case on every model (``repeat`` times), concurrently, through the stack.

Each answer is a pinned call of the call stack with no fallback (an eval of model A answered by
model B would be a lie): budgeted, breaker-checked, retried and recorded like any other call.
A model that fails a case is a result with an error, never an exception, so one failure does
not stop the run. ``llm-rubric`` checks are graded by the judge through the same stack, and
their cost is counted apart (``judge_cost_usd``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal

from core.calls.context import CallContext, CallOutcome
from core.calls.stack import CallStack
from core.errors import AllModelsFailed, BudgetExceeded, ConfigError, ProviderError
from core.evals.assertions import Answer, CheckResult, LlmRubric
from core.evals.report import CaseResult, EvalReport, build_report
from core.evals.rubric import grade
from core.evals.suite import Case, Suite
from core.types import ChatRequest

Progress = Callable[[int, int], None]
ResultHook = Callable[[CaseResult], None]
DEFAULT_CONCURRENCY = 8
CALL_FAILURES = (ProviderError, AllModelsFailed, BudgetExceeded)
"""What a pinned call raises when the model gave no answer (or budgets ruled it out)."""


class EvalRunner:
    """Runs one suite's cases against models over a call stack.

    Args:
        stack: the session's call stack.
        judge_model: grades ``llm-rubric`` assertions (default: the suite's ``judge``).
        concurrency: at most this many cases in flight at once.
        on_progress: called with (finished, total) after each result.
        on_result: called with each result as it finishes (the CLI keeps them, so an
            interrupted run still records what it finished).
        eval_id: this run's id (default: a fresh one); it names the outcomes and task ids.
    """

    def __init__(self, stack: CallStack, *, judge_model: str | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY, on_progress: Progress | None = None,
                 on_result: ResultHook | None = None, eval_id: str | None = None) -> None:
        self.stack = stack
        self.catalog = stack.catalog
        self.judge_model = judge_model
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.on_result = on_result
        self.eval_id = eval_id or uuid.uuid4().hex

    async def pinned_call(self, request: ChatRequest, context: CallContext) -> CallOutcome:
        """One call of ``request.model`` through the stack, without fallback."""
        return await self.stack.call(request, context=context, fallback=False)

    async def run(self, suite: Suite, models: Sequence[str], *, repeat: int = 1) -> EvalReport:
        """Every case of ``suite`` on every model, ``repeat`` times; the report of all results."""
        models = self._check(suite, models, repeat)
        jobs = [(case, model, n) for case in suite.cases for model in models
                for n in range(1, repeat + 1)]
        gate = asyncio.Semaphore(self.concurrency)
        done = [0]
        started = time.perf_counter()

        async def one(case: Case, model: str, n: int) -> CaseResult:
            async with gate:
                result = await self._case(suite, case, model, n)
            done[0] += 1
            if self.on_result is not None:
                self.on_result(result)
            if self.on_progress is not None:
                self.on_progress(done[0], len(jobs))
            return result

        results = await asyncio.gather(*(one(*job) for job in jobs))
        return build_report(self.eval_id, suite.name, suite.kind, models,
                            [c.id for c in suite.cases], repeat, list(results),
                            (time.perf_counter() - started) * 1000)

    def _check(self, suite: Suite, models: Sequence[str], repeat: int) -> list[str]:
        unique = list(dict.fromkeys(m.strip() for m in models if m.strip()))
        if not unique:
            raise ConfigError("give the models to evaluate, e.g. --models a,b,c")
        for model in unique:
            self.catalog.model(model)
        if repeat < 1:
            raise ConfigError("--repeat must be a whole number >= 1")
        self.judge_model = self.judge_model or suite.judge
        if suite.needs_judge:
            if not self.judge_model:
                raise ConfigError(f"suite '{suite.name}' has llm-rubric assertions: give a "
                                  "judge with --judge MODEL or judge: in the suite")
            self.catalog.model(self.judge_model)
        return unique

    async def _case(self, suite: Suite, case: Case, model: str, n: int) -> CaseResult:
        native = self.catalog.model(model).supports("json_schema")
        request = suite.request(case, model, native_schema=native)
        prompt = request.messages[-1].text
        context = CallContext(task_id=f"eval:{self.eval_id}:{case.id}#{n}", purpose="eval")
        try:
            outcome = await self.pinned_call(request, context)
        except CALL_FAILURES as exc:
            return CaseResult(case_id=case.id, model=model, repeat=n, prompt=prompt,
                              error_class=type(exc).__name__, error=_one_line(exc),
                              attempt_id=_last_attempt(exc))
        result = outcome.result
        answer = Answer(output=result.text, latency_ms=result.latency_ms,
                        cost_usd=result.cost_usd, vars=case.vars)
        checks, judge_cost = await self._checks(suite, case, prompt, answer,
                                                context.but(purpose="judge"))
        return CaseResult(
            case_id=case.id, model=model, repeat=n, prompt=prompt, output=result.text,
            mode=result.mode, latency_ms=result.latency_ms, ttft_ms=result.ttft_ms,
            cost_usd=result.cost_usd, judge_cost_usd=judge_cost,
            input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens,
            attempt_id=outcome.attempts[-1].attempt_id if outcome.attempts else None,
            checks=checks)

    async def _checks(self, suite: Suite, case: Case, prompt: str, answer: Answer,
                      context: CallContext) -> tuple[list[CheckResult], Decimal | None]:
        checks: list[CheckResult] = []
        judge_cost: Decimal | None = Decimal(0)
        for assertion in suite.checks_for(case):
            if not isinstance(assertion, LlmRubric):
                checks.append(assertion.check(answer))
                continue
            check, cost = await self._rubric(assertion, prompt, answer.output, context)
            checks.append(check)
            judge_cost = None if judge_cost is None or cost is None else judge_cost + cost
        return checks, judge_cost

    async def _rubric(self, assertion: LlmRubric, prompt: str, output: str,
                      context: CallContext) -> tuple[CheckResult, Decimal | None]:
        assert self.judge_model is not None  # _check demands one when a rubric is present

        async def call(request: ChatRequest) -> CallOutcome:
            return await self.pinned_call(request, context)

        try:
            verdict = await grade(call, self.catalog, self.judge_model, prompt, output,
                                  assertion.value)
        except CALL_FAILURES as exc:
            return CheckResult(type=assertion.type, passed=False,
                               message=f"the judge failed: {_one_line(exc)}"), Decimal(0)
        if verdict.score is None:
            return CheckResult(type=assertion.type, passed=False,
                               message=verdict.reason), verdict.cost_usd
        return assertion.verdict(verdict.score, verdict.reason), verdict.cost_usd


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def _last_attempt(exc: BaseException) -> str | None:
    """The last HTTP attempt a failed call made (None when no model was called)."""
    if isinstance(exc, AllModelsFailed) and exc.attempts:
        return exc.attempts[-1].attempt_id
    return None
