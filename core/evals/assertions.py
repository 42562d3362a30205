"""Assertions an eval case makes about one model's answer.

Each assertion is a small pydantic model tagged by ``type``::

    equals      value (text), ignore_case            the answer, trimmed, is exactly ``value``
    contains    value (text), ignore_case            ``value`` occurs in the answer
    regex       value (pattern)                      the pattern matches somewhere in the answer
    is-json                                          the answer parses as JSON (a code fence is
                                                     tolerated)
    json-schema schema (JSON schema)                 the answer is JSON valid against ``schema``
    python      value (expression)                   a Python expression over ``output``,
                                                     ``json``, ``latency_ms``, ``cost_usd`` and
                                                     ``vars`` is true (evaluated with simpleeval,
                                                     never ``eval``)
    latency     max_ms                               the answer took at most ``max_ms``
    cost        max_usd                              the answer cost at most ``max_usd`` (an
                                                     unpriced answer fails: its cost is unknown)
    llm-rubric  value (rubric), threshold (1-5)      a judge model scores the answer against the
                                                     rubric at ``threshold`` or more

Every check but ``llm-rubric`` is a pure function of the answer (``check``); the rubric is
graded by ``core.evals.rubric`` through the call stack, since it needs a model call.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

import jsonschema
import simpleeval
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.calls.structured import check_against, parse_json

SAFE_FUNCTIONS: dict[str, Any] = {
    "len": len, "int": int, "float": float, "str": str, "bool": bool, "abs": abs, "min": min,
    "max": max, "round": round, "sum": sum, "any": any, "all": all, "sorted": sorted,
}


class Answer(BaseModel):
    """What the assertions look at: the answer text and what it took."""

    model_config = ConfigDict(extra="forbid")

    output: str
    latency_ms: float
    cost_usd: Decimal | None
    vars: dict[str, str] = Field(default_factory=dict)


class CheckResult(BaseModel):
    """One assertion's verdict on one answer; ``message`` says why it failed."""

    model_config = ConfigDict(extra="forbid")

    type: str
    passed: bool
    message: str = ""
    score: float | None = None


class _Assertion(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def _verdict(self, passed: bool, why: str) -> CheckResult:
        return CheckResult(type=getattr(self, "type"), passed=passed,
                           message="" if passed else why)


class Equals(_Assertion):
    """The trimmed answer equals ``value``."""

    type: Literal["equals"]
    value: str
    ignore_case: bool = False

    def check(self, answer: Answer) -> CheckResult:
        """Compare the trimmed answer with ``value``."""
        got, want = answer.output.strip(), self.value.strip()
        if self.ignore_case:
            got, want = got.casefold(), want.casefold()
        return self._verdict(got == want, f"expected exactly {self.value!r}")


class Contains(_Assertion):
    """``value`` occurs in the answer."""

    type: Literal["contains"]
    value: str = Field(min_length=1)
    ignore_case: bool = False

    def check(self, answer: Answer) -> CheckResult:
        """Look for ``value`` in the answer."""
        got, want = answer.output, self.value
        if self.ignore_case:
            got, want = got.casefold(), want.casefold()
        return self._verdict(want in got, f"does not contain {self.value!r}")


class Regex(_Assertion):
    """The pattern ``value`` matches somewhere in the answer."""

    type: Literal["regex"]
    value: str = Field(min_length=1)

    @field_validator("value")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex {value!r} does not compile ({exc})") from exc
        return value

    def check(self, answer: Answer) -> CheckResult:
        """Search the answer for the pattern."""
        return self._verdict(re.search(self.value, answer.output) is not None,
                             f"no match for /{self.value}/")


class IsJson(_Assertion):
    """The answer is JSON."""

    type: Literal["is-json"]

    def check(self, answer: Answer) -> CheckResult:
        """Parse the answer as JSON."""
        try:
            parse_json(answer.output)
        except ValueError as exc:
            return self._verdict(False, str(exc))
        return self._verdict(True, "")


class JsonSchema(_Assertion):
    """The answer is JSON that validates against ``schema_``."""

    type: Literal["json-schema"]
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid JSON schema: {exc.message}") from exc
        return schema

    def check(self, answer: Answer) -> CheckResult:
        """Parse the answer and validate it against the schema."""
        try:
            check_against(parse_json(answer.output), self.schema_)
        except ValueError as exc:
            return self._verdict(False, str(exc))
        return self._verdict(True, "")


class PythonExpr(_Assertion):
    """A Python expression over the answer is true (restricted evaluation with simpleeval)."""

    type: Literal["python"]
    value: str = Field(min_length=1)

    @field_validator("value")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            simpleeval.EvalWithCompoundTypes().parse(value)
        except SyntaxError as exc:
            raise ValueError(f"python expression {value!r} is not valid ({exc.msg})") from exc
        return value

    def check(self, answer: Answer) -> CheckResult:
        """Evaluate the expression with ``output``, ``json``, ``latency_ms``, ``cost_usd``,
        ``vars``; an error while evaluating fails the check and says what went wrong."""
        try:
            parsed: Any = parse_json(answer.output)
        except ValueError:
            parsed = None
        names = {"output": answer.output, "json": parsed, "latency_ms": answer.latency_ms,
                 "cost_usd": None if answer.cost_usd is None else float(answer.cost_usd),
                 "vars": dict(answer.vars), "None": None, "True": True, "False": False}
        evaluator = simpleeval.EvalWithCompoundTypes(names=names, functions=SAFE_FUNCTIONS)
        try:
            result = evaluator.eval(self.value)
        except (simpleeval.InvalidExpression, LookupError, TypeError, ValueError,
                AttributeError, ArithmeticError) as exc:
            return self._verdict(False, f"{self.value!r} raised {type(exc).__name__}: {exc}")
        return self._verdict(bool(result), f"{self.value!r} is false")


class Latency(_Assertion):
    """The answer took at most ``max_ms`` milliseconds."""

    type: Literal["latency"]
    max_ms: float = Field(gt=0)

    def check(self, answer: Answer) -> CheckResult:
        """Compare the answer's latency with the limit."""
        return self._verdict(answer.latency_ms <= self.max_ms,
                             f"took {answer.latency_ms:.0f} ms, limit {self.max_ms:g} ms")


class Cost(_Assertion):
    """The answer cost at most ``max_usd``; an unpriced answer fails (its cost is unknown)."""

    type: Literal["cost"]
    max_usd: Decimal = Field(gt=0)

    def check(self, answer: Answer) -> CheckResult:
        """Compare the answer's cost with the limit."""
        if answer.cost_usd is None:
            return self._verdict(False, "cost unknown (unpriced model)")
        return self._verdict(answer.cost_usd <= self.max_usd,
                             f"cost ${answer.cost_usd:.6f}, limit ${self.max_usd}")


class LlmRubric(_Assertion):
    """A judge scores the answer 1–5 against ``value``; it passes at ``threshold`` or more."""

    type: Literal["llm-rubric"]
    value: str = Field(min_length=1)
    threshold: int = Field(default=3, ge=1, le=5)

    def verdict(self, score: int, reason: str) -> CheckResult:
        """The check's result for the judge's score and reason."""
        passed = score >= self.threshold
        return CheckResult(type=self.type, passed=passed, score=score / 5,
                           message="" if passed else
                           f"judge scored {score}/5 (needs {self.threshold}): {reason}")


PureAssertion = Equals | Contains | Regex | IsJson | JsonSchema | PythonExpr | Latency | Cost
Assertion = Annotated[PureAssertion | LlmRubric, Field(discriminator="type")]
ASSERTION_TYPES = ("equals", "contains", "regex", "is-json", "json-schema", "python", "latency",
                   "cost", "llm-rubric")
