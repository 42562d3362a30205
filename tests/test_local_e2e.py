"""End to end through the real llama.cpp server that `orchestra local up` starts (SmolLM2-135M).

One server per module (started by the CLI in a subprocess, stopped at the end); every request
goes through Orchestra's call stack and the openai_chat adapter over loopback HTTP. Outputs are
capped at a few dozen tokens to keep the module fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from core.calls.factory import open_stack
from core.catalog import default_catalog
from core.cli import main
from core.ledger import Ledger
from core.local import server
from core.local.only import LocalOnlyGateway
from core.local.state import STATE_ENV, ServerRecord, read_record
from core.policy import Policy
from core.settings import Settings
from core.types import ChatRequest, Message

pytestmark = pytest.mark.timeout(300)


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, STATE_ENV: str(state)}
    return subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True,
                          text=True, timeout=240, cwd=Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def local_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`orchestra local up` once for the module; `orchestra local down` after it."""
    state = tmp_path_factory.mktemp("local") / "local_server.json"
    started = _cli(state, "local", "up", "--json", "--threads", "2")
    assert started.returncode == 0, started.stderr
    yield state
    stopped = _cli(state, "local", "down", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["stopped"]["pid"] > 0


@pytest.fixture(autouse=True)
def _point_at_server(_no_real_keys: None, local_state: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_ENV, str(local_state))


@pytest.fixture
def record(local_state: Path) -> ServerRecord:
    found = read_record(local_state)
    assert found is not None
    return found


@pytest.fixture
def model_id(record: ServerRecord) -> str:
    return f"local:{record.model_id}"


def _json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_the_catalog_registers_the_running_server(record: ServerRecord, model_id: str) -> None:
    catalog = default_catalog()
    model = catalog.model(model_id)
    assert catalog.providers["local"].base_url == record.base_url
    assert model.tier == "economy" and model.context_window == 8192
    assert model.supports("stream", "json_schema")
    assert model.price is not None and model.price.output_per_mtok == 0  # free, not unpriced


def test_ask_plain(model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "What is the capital of France? One word.", "--model", model_id,
                 "--max-tokens", "16", "--json"]) == 0
    out = _json_out(capsys)
    assert (out["model"], out["provider"], out["mode"]) == (model_id, "local", "live")
    assert out["text"].strip()
    assert out["usage"]["input_tokens"] > 5 and 0 < out["usage"]["output_tokens"] <= 16
    assert out["cost_usd"] == 0


def test_ask_streamed(model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "Name three colours.", "--model", model_id, "--max-tokens", "24",
                 "--stream"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip()
    assert f"[{model_id} · live ·" in captured.err and "$0.000000" in captured.err
    attempts = Ledger().get_attempts()
    assert attempts[-1].model == model_id and attempts[-1].ttft_ms is not None


def test_a_second_up_is_refused_with_the_fix(record: ServerRecord) -> None:
    with pytest.raises(server.LocalServerError) as caught:
        server.up()
    assert str(caught.value) == (
        f"a local server is already running (pid {record.pid}, port {record.port}); "
        "stop it with `orchestra local down` first")


def test_status_reports_the_running_server(record: ServerRecord,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "status", "--json"]) == 0
    out = _json_out(capsys)
    assert out["state"] == "running" and out["server"]["port"] == record.port


async def _call(request: ChatRequest, *, local_only: bool = False) -> Any:
    catalog = default_catalog()
    gateway = LocalOnlyGateway(catalog) if local_only else None
    from core.calls.gateway import Gateway

    async with (gateway or Gateway(catalog)) as gw:
        ledger = Ledger()
        with ledger.attempt_sink() as sink:
            stack = open_stack(gw, Policy(), ledger, on_attempt=sink.add)
            return await stack.call(request)


PERSON = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
          "properties": {"name": {"type": "string", "maxLength": 20},
                         "age": {"type": "integer", "minimum": 0, "maximum": 150}}}


def test_a_json_schema_request_returns_valid_json(model_id: str) -> None:
    request = ChatRequest(model=model_id, max_tokens=60, json_schema=PERSON, schema_name="person",
                          messages=[Message(role="user", content="Alice is 31. Give her as JSON.")])
    outcome = asyncio.run(_call(request))
    value = json.loads(outcome.result.text)
    jsonschema.validate(value, PERSON)
    assert outcome.result.provider == "local"


def test_local_only_routes_an_unpinned_call_to_the_local_model(model_id: str) -> None:
    request = ChatRequest(model="", max_tokens=16,
                          messages=[Message(role="user", content="Prove that sqrt 2 is "
                                            "irrational, rigorously, step by step.")])
    outcome = asyncio.run(_call(request, local_only=True))
    assert outcome.model == model_id
    assert "no viable premium model" in outcome.decision.reason or \
        outcome.decision.tier == "economy"


def test_the_local_only_policy_preset_routes_every_call_locally(
        model_id: str, local_only_preset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``[routing] local_only = true`` in the local policy does what ``--local-only`` does."""
    assert main(["ask", "Prove that sqrt 2 is irrational, rigorously.", "--max-tokens", "12",
                 "--json"]) == 0
    assert _json_out(capsys)["model"] == model_id
    assert main(["ask", "hi", "--model", "openai:gpt-4o-mini"]) == 2
    assert "openai:gpt-4o-mini is not a running local model and local-only mode is on" in \
        capsys.readouterr().err


def test_the_openai_sdk_agrees_with_orchestras_usage(record: ServerRecord, model_id: str) -> None:
    import openai

    prompt = "List the planets of the solar system, one per line."
    request = ChatRequest(model=model_id, max_tokens=20, temperature=0,
                          messages=[Message(role="user", content=prompt)])
    ours = asyncio.run(_call(request)).result
    client = openai.OpenAI(base_url=record.base_url, api_key="local", max_retries=0)
    theirs = client.chat.completions.create(
        model=record.model_id, messages=[{"role": "user", "content": prompt}], max_tokens=20,
        temperature=0)
    assert theirs.usage is not None
    assert ours.usage.input_tokens == theirs.usage.prompt_tokens
    assert ours.usage.output_tokens == theirs.usage.completion_tokens
    assert ours.text == theirs.choices[0].message.content


def test_compare_across_the_local_model_and_two_sandboxed_providers(
        model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    models = [model_id, "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"]
    assert main(["compare", "Say hello.", "--models", ",".join(models), "--max-tokens", "16",
                 "--json"]) == 0
    out = _json_out(capsys)
    by_model = {r["model"]: r for r in out["results"]}
    assert set(by_model) == set(models) and not any(r["error"] for r in by_model.values())
    assert by_model[model_id]["mode"] == "live"
    assert by_model["openai:gpt-4o-mini"]["mode"] == "sandbox"
    assert "sandbox answer" not in by_model[model_id]["text"]


def test_a_five_task_local_only_run_finishes_every_wave(
        model_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = [("facts", "research", [], 2, "Two facts about green tea."),
             ("history", "research", [], 2, "One sentence on the history of tea."),
             ("compare", "analysis", ["facts", "history"], 4, "Compare these in one sentence."),
             ("draft", "writing", ["compare"], 5, "Write a two-line note from this."),
             ("edit", "review", ["draft"], 3, "Shorten the note.")]
    plan = {"demand": "a short note on tea", "tasks": [
        {"id": i, "title": i.title(), "kind": kind, "depends_on": deps, "complexity": level,
         "prompt": prompt, "max_output_tokens": 24} for i, kind, deps, level, prompt in steps]}
    path = tmp_path / "tea.json"
    path.write_text(json.dumps(plan))
    assert main(["run", "--plan", str(path), "--local-only", "--json"]) == 0
    out = _json_out(capsys)
    assert out["status"] == "done" and out["done"] == 5 and out["waves"] == 4
    assert {t["model"] for t in out["task_results"]} == {model_id}
    assert out["providers_used"] == ["local"]
    assert out["cost_usd"] == 0
    assert out["baseline_cost_usd"] > 0  # what the premium model would have cost


def test_the_llm_planner_on_the_local_model_says_what_happened(model_id: str) -> None:
    """What `run --planner llm --local-only` does before the run: the plan comes from the
    local model (validated, repaired or fallen back, and the result says which)."""
    from core.execution.runs import plan_run

    async def plan() -> Any:
        return await plan_run("compare tea and coffee, then write a short recommendation",
                              run_id="plan-test", planner="llm",
                              settings=Settings.from_environ(os.environ, local_only=True))

    result = asyncio.run(plan())
    assert result.source in ("llm", "llm-repaired", "offline-fallback")
    assert (result.source == "llm") == (not result.notes)
    planner_calls = Ledger().get_attempts(run_id="plan-test")
    assert planner_calls and {a.model for a in planner_calls} == {model_id}
    assert len(result.plan.tasks) >= 1


def test_sandbox_text_from_the_local_model_keeps_the_simulated_provider(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORCHESTRA_SANDBOX_TEXT", "local")
    assert main(["ask", "Name one fruit.", "--model", "openai:gpt-4o-mini", "--max-tokens",
                 "16", "--json"]) == 0
    out = _json_out(capsys)
    assert (out["provider"], out["mode"]) == ("openai", "sandbox")
    assert out["text"].strip() and "sandbox" not in out["text"].lower()
    assert out["cost_usd"] > 0  # the simulated provider's own price


def test_the_models_page_view_shows_the_server_and_its_measured_speed(
        model_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ui.local_view import local_view

    assert main(["ask", "Count from one to ten.", "--model", model_id, "--max-tokens", "24",
                 "--stream"]) == 0
    view = local_view(Settings.from_environ(os.environ))
    assert view.installed and view.model_id == model_id
    assert view.speed is not None and view.speed.samples >= 1
    assert view.speed.decode_tokens_per_s > 0 and view.speed.ttft_ms > 0
