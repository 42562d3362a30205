"""Eval suites: YAML prompts × cases × assertions, run across models through the call stack.

``core.evals.suite`` reads a suite (``load_suite``), ``core.evals.assertions`` holds the checks,
``core.evals.runner.EvalRunner`` runs a suite and returns a ``core.evals.report.EvalReport``:
the pass/fail matrix, per-model pass rate, cost and latency, and each failed assertion with its
output.
"""

from core.evals.assertions import ASSERTION_TYPES, Answer, Assertion, CheckResult
from core.evals.suite import Case, Suite, load_suite

__all__ = ["ASSERTION_TYPES", "Answer", "Assertion", "Case", "CheckResult", "Suite",
           "load_suite"]
