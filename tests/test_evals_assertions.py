"""Every eval assertion type, passing and failing, and suite files with their one-line errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from core.errors import ConfigError
from core.evals import ASSERTION_TYPES, Answer, Assertion, load_suite
from core.evals.assertions import LlmRubric

ADAPTER: TypeAdapter[Assertion] = TypeAdapter(Assertion)
EVALS = Path(__file__).resolve().parents[1] / "data" / "evals"


def _answer(output: str, latency_ms: float = 100.0, cost: str | None = "0.001") -> Answer:
    return Answer(output=output, latency_ms=latency_ms,
                  cost_usd=None if cost is None else Decimal(cost), vars={"city": "Paris"})


def _check(spec: dict, answer: Answer):
    assertion = ADAPTER.validate_python(spec)
    return assertion.check(answer)


CASES = [
    # (assertion, answer that passes, answer that fails, words of the failure message)
    ({"type": "equals", "value": "Paris"}, _answer("  Paris\n"), _answer("paris"), "exactly"),
    ({"type": "equals", "value": "Paris", "ignore_case": True}, _answer("PARIS"),
     _answer("Lyon"), "exactly"),
    ({"type": "contains", "value": "42"}, _answer("the answer is 42."), _answer("forty-two"),
     "does not contain"),
    ({"type": "contains", "value": "yes", "ignore_case": True}, _answer("YES"), _answer("no"),
     "does not contain"),
    ({"type": "regex", "value": r"Answer:\s*\d+$"}, _answer("so... Answer: 29"),
     _answer("Answer: twenty"), "no match"),
    ({"type": "is-json"}, _answer('```json\n{"a": 1}\n```'), _answer("{a: 1}"), "not JSON"),
    ({"type": "json-schema", "schema": {"type": "object", "required": ["total"],
                                        "properties": {"total": {"type": "number"}}}},
     _answer('{"total": 12.5}'), _answer('{"total": "12"}'), "total"),
    ({"type": "python", "value": "json['total'] == 120 and output.startswith('{')"},
     _answer('{"total": 120}'), _answer('{"total": 12}'), "is false"),
    ({"type": "python", "value": "vars['city'] in output and latency_ms < 500"},
     _answer("Paris it is"), _answer("Paris it is", latency_ms=900), "is false"),
    ({"type": "python", "value": "json['missing'] > 1"}, None, _answer('{"a": 1}'),
     "KeyError"),
    ({"type": "python", "value": "__import__('os').system('true')"}, None, _answer("x"),
     "FunctionNotDefined"),
    ({"type": "python", "value": "output.__class__ is str"}, None, _answer("x"),
     "FeatureNotAvailable"),
    ({"type": "latency", "max_ms": 250}, _answer("ok", latency_ms=249.0),
     _answer("ok", latency_ms=251.0), "limit 250 ms"),
    ({"type": "cost", "max_usd": "0.01"}, _answer("ok", cost="0.0099"),
     _answer("ok", cost="0.02"), "limit $0.01"),
    ({"type": "cost", "max_usd": "0.01"}, None, _answer("ok", cost=None), "unpriced"),
]


@pytest.mark.parametrize("spec,good,bad,why", CASES,
                         ids=[f"{c[0]['type']}-{i}" for i, c in enumerate(CASES)])
def test_each_assertion_passes_and_fails_with_a_reason(spec, good, bad, why):
    if good is not None:
        verdict = _check(spec, good)
        assert verdict.passed and verdict.message == ""
    verdict = _check(spec, bad)
    assert not verdict.passed and why in verdict.message and verdict.type == spec["type"]


def test_every_assertion_type_is_covered():
    covered = {c[0]["type"] for c in CASES} | {"llm-rubric"}
    assert covered == set(ASSERTION_TYPES)


def test_rubric_verdict_passes_at_its_threshold():
    rubric = LlmRubric(type="llm-rubric", value="mentions 60", threshold=4)
    assert rubric.verdict(4, "fine").passed and rubric.verdict(4, "fine").score == 0.8
    low = rubric.verdict(2, "wrong total")
    assert not low.passed and "2/5 (needs 4): wrong total" in low.message


@pytest.mark.parametrize("spec,problem", [
    ({"type": "regex", "value": "([a-z"}, "does not compile"),
    ({"type": "python", "value": "1 +"}, "not valid"),
    ({"type": "json-schema", "schema": {"type": "nonsense"}}, "invalid JSON schema"),
    ({"type": "latency", "max_ms": 0}, "greater than 0"),
    ({"type": "llm-rubric", "value": "good", "threshold": 6}, "less than or equal to 5"),
    ({"type": "sounds-right"}, "does not match any of the expected tags"),
])
def test_a_broken_assertion_is_refused_when_the_suite_loads(spec, problem):
    with pytest.raises(ValidationError, match=problem):
        ADAPTER.validate_python(spec)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_suite_renders_prompt_and_template_cases(tmp_path, catalog):
    suite = load_suite(_write(tmp_path, """
name: capitals
prompt: "Capital of {country}?"
assert: [{type: contains, value: "a"}]
cases:
  - vars: {country: France}
    assert: [{type: equals, value: Paris}]
  - id: own
    prompt: "Say {word}"
    vars: {word: hi}
"""), catalog)
    first, second = suite.cases
    assert (first.id, second.id, suite.kind) == ("case-1", "own", "capitals")
    assert suite.request(first, "m").messages[0].text == "Capital of France?"
    assert [a.type for a in suite.checks_for(first)] == ["contains", "equals"]
    assert suite.request(second, "m").messages[0].text == "Say hi"
    shipped = load_suite(EVALS / "extraction.yaml", catalog)
    request = shipped.request(shipped.cases[0], "openai:gpt-4o-mini")
    assert "ACME Corp" in request.messages[0].text and request.json_schema is not None
    fallback = shipped.request(shipped.cases[0], "x", native_schema=False)
    assert fallback.json_schema is None and "JSON schema" in (fallback.system or "")


@pytest.mark.parametrize("text,fix", [
    ("name: x\ncases: []\n", "cases"),
    ("name: x\nprompt: 'Hi {who}'\ncases: [{vars: {}}]\n", "needs variable 'who'"),
    ("name: x\nprompt: 'Hi'\ncases: [{id: a}, {id: a}]\n", "give each its own id"),
    ("name: x\ncases: [{vars: {}}]\n", "has no prompt"),
    ("name: x\ntemplate: no-such\ncases: [{vars: {}}]\n", "no-such"),
    ("name: x\nprompt: 'Hi'\njudge: openai:gpt-9\ncases: [{}]\n", "gpt-9"),
    ("name: x\nprompt: 'Hi'\ncases: [{assert: [{type: regex, value: '('}]}]\n", "compile"),
    ("name: [unclosed\n", "not valid YAML"),
    ("- just a list\n", "must be a mapping"),
])
def test_a_bad_suite_is_one_config_error_naming_the_file(tmp_path, catalog, text, fix):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_suite(path, catalog)
    message = str(info.value)
    assert fix in message and str(path) in message and "\n" not in message


def test_a_missing_suite_says_where_examples_are(tmp_path):
    with pytest.raises(ConfigError, match="data/evals/"):
        load_suite(tmp_path / "nope.yaml")


def test_shipped_suites_load(catalog):
    names = sorted(p.stem for p in EVALS.glob("*.yaml"))
    assert names == ["arithmetic", "classification", "extraction"]
    for name in names:
        assert load_suite(EVALS / f"{name}.yaml", catalog).cases
