"""Structured output through the call stack: native on each protocol, validated, repaired once.

The served sandbox answers each protocol's native structured-output request with JSON of the
schema; scripted OpenAI HTTP (httpx.MockTransport) plays a model whose answers are invalid.
"""

from __future__ import annotations

import json

import httpx
import pytest

from core.calls.gateway import Gateway
from core.calls.stack import CallStack
from core.routing.state import routing_state
from core.calls.structured import call_structured, structured_request
from core.errors import InvalidOutput
from core.policy import Policy, RetrySettings
from core.types import AttemptRecord, ChatRequest

SCHEMA = {"type": "object", "required": ["city", "population"], "additionalProperties": False,
          "properties": {"city": {"type": "string"},
                         "population": {"type": "integer", "minimum": 0}}}
FAST = Policy(retry=RetrySettings(base_s=0.0, cap_s=0.0, max_attempts=2))


def _stack(gateway: Gateway, attempts: list[AttemptRecord]) -> CallStack:
    return CallStack(gateway, FAST, routing_state(FAST, configured=gateway.available),
                     on_attempt=attempts.append)


@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5",
                                   "google:gemini-2.0-flash"])
async def test_each_protocol_returns_validated_json_through_the_served_sandbox(
        served_sandbox, model):
    attempts: list[AttemptRecord] = []
    async with Gateway.for_served_sandbox(served_sandbox) as gateway:
        value, outcome = await call_structured(
            _stack(gateway, attempts), ChatRequest.of(model, "Largest city of Japan?"), SCHEMA)
    assert set(value) == {"city", "population"} and isinstance(value["population"], int)
    assert outcome.model == model and [a.status for a in attempts] == ["ok"]


def _openai(content: str) -> httpx.Response:
    return httpx.Response(200, json={
        "id": "x", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}})


class Script:
    """OpenAI chat answers, one per request, in order; every request body kept."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.bodies = list(answers), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return _openai(self.answers.pop(0))


def _gateway(script: Script) -> Gateway:
    return Gateway(transport=httpx.MockTransport(script), keys={"openai": "sk-test-x"})


async def test_an_invalid_answer_is_repaired_once_on_the_same_model():
    script = Script('{"city": "Tokyo"}', '{"city": "Tokyo", "population": 14000000}')
    attempts: list[AttemptRecord] = []
    async with _gateway(script) as gateway:
        value, outcome = await call_structured(
            _stack(gateway, attempts), ChatRequest.of("openai:gpt-4o", "Largest city?"), SCHEMA,
            fallback=False)
    assert value == {"city": "Tokyo", "population": 14000000}
    first, repaired = script.bodies
    assert first["response_format"]["json_schema"]["schema"] == SCHEMA  # asked natively
    assert repaired["messages"][-2] == {"role": "assistant", "content": '{"city": "Tokyo"}'}
    assert "population" in repaired["messages"][-1]["content"]
    rejected, answered = attempts
    assert (rejected.status, rejected.error_class) == ("error", "InvalidOutput")
    assert rejected.cost_usd is not None and rejected.cost_usd > 0  # paid, though rejected
    assert answered.status == "ok" and outcome.model == "openai:gpt-4o"


async def test_two_invalid_answers_fail_with_a_classified_error():
    script = Script("Tokyo, about 14 million", '{"city": 3}')
    attempts: list[AttemptRecord] = []
    async with _gateway(script) as gateway:
        with pytest.raises(InvalidOutput) as info:
            await call_structured(_stack(gateway, attempts),
                                  ChatRequest.of("openai:gpt-4o", "Largest city?"), SCHEMA,
                                  fallback=False)
    assert info.value.model == "openai:gpt-4o" and "twice" in str(info.value)
    assert info.value.result is not None and info.value.result.text == '{"city": 3}'
    assert [a.error_class for a in attempts] == ["InvalidOutput", "InvalidOutput"]


def test_a_model_without_native_schema_is_asked_in_the_system_prompt(catalog):
    request = ChatRequest.of("deepseek:deepseek-reasoner", "Largest city?", system="Be brief.")
    asked = structured_request(request, SCHEMA, catalog)
    assert asked.json_schema is None and asked.system.startswith("Be brief.")
    assert json.dumps(SCHEMA) in asked.system
    native = structured_request(ChatRequest.of("openai:gpt-4o", "x"), SCHEMA, catalog)
    assert native.json_schema == SCHEMA


PLAN = {
    "demand": "Extract invoice fields with three providers",
    "tasks": [{"id": f"extract-{name}", "title": f"Extract ({name})", "kind": "extraction",
               "model": model, "schema": SCHEMA,
               "prompt": "ACME Corp billed 120 EUR; give the city and its population."}
              for name, model in (("openai", "openai:gpt-4o-mini"),
                                  ("anthropic", "anthropic:claude-haiku-4-5"),
                                  ("gemini", "google:gemini-2.0-flash"))],
}


async def test_plan_tasks_with_schema_get_validated_json_from_each_protocol(served_sandbox,
                                                                              tmp_path):
    from core.execution.runs import RunSession
    from core.ledger import Ledger
    from core.planning.plan import parse_plan

    plan = parse_plan(PLAN)
    assert plan.tasks[0].schema_ == SCHEMA
    assert parse_plan(json.loads(plan.model_dump_json())).tasks[0].schema_ == SCHEMA  # resume
    gateway = Gateway.for_served_sandbox(served_sandbox)
    summary = await RunSession(plan, db_path=tmp_path / "s.duckdb", gateway=gateway,
                               policy=FAST).run()
    assert summary.status == "done"
    models = {t["id"]: t["model"] for t in PLAN["tasks"]}
    for task in summary.task_results:
        value = json.loads(task.output)
        assert set(value) == {"city", "population"} and task.model == models[task.id]
    attempts = Ledger(tmp_path / "s.duckdb").get_attempts()
    assert len(attempts) == 3 and all(a.status == "ok" for a in attempts)


def test_a_plan_task_schema_must_be_a_json_schema():
    from core.errors import PlanError
    from core.planning.plan import parse_plan

    broken = {**PLAN, "tasks": [{**PLAN["tasks"][0], "schema": {"type": "nonsense"}}]}
    with pytest.raises(PlanError, match="not a valid JSON schema"):
        parse_plan(broken)


def test_ask_schema_answers_json_matching_the_file_on_a_json_schema_model(capsys, tmp_path,
                                                                           catalog):
    from core.cli import main

    schema_file = tmp_path / "city.json"
    schema_file.write_text(json.dumps(SCHEMA))
    db = str(tmp_path / "a.duckdb")
    assert main(["ask", "Largest city of Japan?", "--schema", str(schema_file), "--json",
                 "--db", db]) == 0
    out = json.loads(capsys.readouterr().out)
    value = json.loads(out["text"])
    assert set(value) == {"city", "population"}
    assert catalog.model(out["model"]).supports("json_schema")  # routing respects it
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "nonsense"}')
    assert main(["ask", "x", "--schema", str(bad), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "not a valid JSON schema" in err and len(err.strip().splitlines()) == 1
