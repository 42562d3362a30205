"""Planners: the deterministic offline planner and the LLM planner's repair and fallback flow."""

from __future__ import annotations

import json

import pytest

from core.errors import PlanError, RateLimited
from core.calls.gateway import Gateway
from core.planning.plan import Plan, plan_json_schema
from core.planning.planner import plan_from_reply, plan_offline, plan_with_llm
from core.types import ChatRequest, ChatResult

EXAMPLE = ("research the three cheapest EU cloud GPU offers, compare them, and write a one-page "
           "recommendation")
MODEL = "openai:gpt-4o-mini"


# ── offline planner ─────────────────────────────────────────────────────────────────────────

def test_example_demand_gives_a_multi_wave_plan() -> None:
    plan = plan_offline(EXAMPLE)
    assert len(plan.tasks) >= 5 and len(plan.waves()) >= 3
    assert plan.waves()[0] == ["research-1", "research-2", "research-3"]
    assert all(plan.task(i).kind == "research" for i in plan.waves()[0])
    assert "cheapest EU cloud GPU offers" in plan.task("research-2").prompt
    assert "#2 of 3" in plan.task("research-2").prompt
    assert plan.task("compare").depends_on == ["research-1", "research-2", "research-3"]
    assert "one-page recommendation" in plan.task("draft").prompt
    assert [plan.task(i).kind for i in ("compare", "draft", "review", "final")] == [
        "analysis", "writing", "review", "writing"]
    assert {t.complexity for t in plan.tasks} >= {2, 3, 4}  # routing spreads the tiers
    assert all(not t.capabilities for t in plan.tasks)  # nothing asks for current web info


def test_offline_planner_is_deterministic() -> None:
    assert plan_offline(EXAMPLE) == plan_offline(EXAMPLE)


def test_named_items_become_parallel_research_with_a_focus() -> None:
    plan = plan_offline("Compare AWS, Azure and GCP for ML training and recommend one for a startup")
    research = plan.waves()[0]
    assert [plan.task(i).title for i in research] == [
        "Research: AWS", "Research: Azure", "Research: GCP"]
    assert "focus on ML training" in plan.task("research-3").prompt
    assert "recommend one for a startup" in plan.task("draft").prompt


def test_two_items_with_versus() -> None:
    plan = plan_offline("compare Rust vs Go")
    assert [plan.task(i).title for i in plan.waves()[0]] == ["Research: Rust", "Research: Go"]
    assert plan.task("draft").kind == "writing"


def test_research_list_and_then_clause() -> None:
    plan = plan_offline("research Postgres, MySQL, SQLite then write a blog post about databases")
    assert len(plan.waves()[0]) == 3
    assert plan.task("final").depends_on == ["draft", "review"]


def test_bulleted_list_items() -> None:
    demand = "Evaluate these options:\n1. Rent an office\n2. Go fully remote\n- Co-working\nWrite a memo."
    plan = plan_offline(demand)
    assert [plan.task(i).title for i in plan.waves()[0]] == [
        "Research: Rent an office", "Research: Go fully remote", "Research: Co-working"]


def test_counted_items_without_names() -> None:
    plan = plan_offline("Find the 5 best laptops for students under $1000 and write a buying guide")
    assert len(plan.waves()[0]) == 5
    assert "best laptops for students under $1000" in plan.task("research-5").prompt


@pytest.mark.parametrize("demand, kind", [
    ("translate this to French: Hello, how are you?", "translation"),
    ("Summarise the plot of Hamlet", "summarization"),
    ("classify these reviews as positive or negative: great; awful", "classification"),
    ("extract the dates from: we met on 3 May and 9 June", "extraction"),
])
def test_single_step_demands(demand: str, kind: str) -> None:
    plan = plan_offline(demand)
    assert [t.kind for t in plan.tasks] == [kind]
    assert plan.tasks[0].prompt == demand


def test_two_single_steps_chain() -> None:
    plan = plan_offline("summarise this and then translate it to German: Orchestra routes steps.")
    assert [t.kind for t in plan.tasks] == ["summarization", "translation"]
    assert plan.waves() == [["step-1"], ["step-2"]]
    assert "previous step's output" in plan.task("step-2").prompt


def test_short_question_is_one_task() -> None:
    plan = plan_offline("What is the capital of France?")
    assert len(plan.tasks) == 1 and plan.tasks[0].kind == "analysis"


def test_current_information_asks_for_live_search() -> None:
    plan = plan_offline("Write a blog post about the latest news in fusion energy")
    research = [plan.task(i) for i in plan.waves()[0]]
    assert research and all(t.capabilities == ["live_search"] for t in research)
    assert plan.task("analysis").capabilities == []
    assert len(plan.waves()) == 5


def test_code_demand_gets_a_code_pipeline() -> None:
    plan = plan_offline("Write a python function that parses ISO dates with time zones")
    assert plan.waves() == [["spec"], ["implement"], ["tests"], ["review"], ["final"]]
    assert plan.task("implement").kind == "code" and plan.task("review").kind == "review"


def test_empty_demand_is_refused() -> None:
    with pytest.raises(PlanError, match="demand is empty"):
        plan_offline("   ")


# ── LLM planner ─────────────────────────────────────────────────────────────────────────────

class ScriptedModel:
    """An async ``complete`` that replies with scripted texts and records every request."""

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []

    async def __call__(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(model=request.model, provider="openai", mode="sandbox", text=reply)


def plan_json(*tasks: dict[str, object]) -> str:
    """A reply in the schema's shape: every field present, optional ones null."""
    full = [{"title": t["id"], "kind": "research", "prompt": f"do {t['id']}", "depends_on": [],
             "complexity": None, "tier": None, "capabilities": [], "max_output_tokens": None,
             **t} for t in tasks]
    return json.dumps({"demand": "paraphrased by the model", "tasks": full})


GOOD = plan_json({"id": "research"}, {"id": "draft", "kind": "writing", "depends_on": ["research"],
                                       "complexity": 3})
TYPO = plan_json({"id": "research"}, {"id": "draft", "kind": "writing", "depends_on": ["reserch"]})


async def test_valid_first_reply() -> None:
    model = ScriptedModel(GOOD)
    result = await plan_with_llm("write about tides", model, model_id=MODEL)
    assert result.source == "llm" and result.notes == []
    assert result.plan.demand == "write about tides"  # the user's words, not the paraphrase
    assert result.plan.waves() == [["research"], ["draft"]]
    assert result.plan.task("research").max_output_tokens == 800  # null → default
    request = model.requests[0]
    assert request.json_schema == plan_json_schema() and request.model == MODEL
    assert request.system and "write about tides" in request.messages[0].text
    assert len(result.calls) == 1


async def test_invalid_then_repaired() -> None:
    model = ScriptedModel(TYPO, GOOD)
    result = await plan_with_llm("write about tides", model, model_id=MODEL)
    assert result.source == "llm-repaired"
    assert "task 'draft' depends on unknown task 'reserch'" in result.notes[0]
    repair = model.requests[1].messages
    assert [m.role for m in repair] == ["user", "assistant", "user"]
    assert repair[1].text == TYPO
    assert "depends on unknown task 'reserch'" in repair[2].text
    assert len(result.calls) == 2


async def test_invalid_twice_falls_back_offline() -> None:
    cyclic = plan_json({"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]})
    model = ScriptedModel(TYPO, cyclic)
    result = await plan_with_llm(EXAMPLE, model, model_id=MODEL)
    assert result.source == "offline-fallback"
    assert result.plan == plan_offline(EXAMPLE)
    assert "attempt 1" in result.notes[0] and "reserch" in result.notes[0]
    assert "attempt 2" in result.notes[1] and "cycle: a → b → a" in result.notes[1]
    assert result.notes[-1] == "fell back to the offline planner"


async def test_garbage_reply_is_repaired() -> None:
    model = ScriptedModel("Sure! Here is your plan: step 1, research...", f"```json\n{GOOD}\n```")
    result = await plan_with_llm("write about tides", model, model_id=MODEL)
    assert result.source == "llm-repaired"
    assert "reply is not JSON" in result.notes[0]


async def test_schema_violations_are_sent_back() -> None:
    bad_kind = plan_json({"id": "a", "kind": "dance"})
    model = ScriptedModel(bad_kind, json.dumps([1, 2]))
    result = await plan_with_llm("write about tides", model, model_id=MODEL)
    assert result.source == "offline-fallback"
    assert "task 'a' kind: Input should be" in model.requests[1].messages[2].text
    assert "must be a JSON object" in result.notes[1]


async def test_failed_call_falls_back_with_the_reason() -> None:
    model = ScriptedModel(RateLimited("slow down", provider="openai", status_code=429))
    result = await plan_with_llm(EXAMPLE, model, model_id=MODEL)
    assert result.source == "offline-fallback" and result.calls == []
    assert "RateLimited" in result.notes[0]


def test_plan_from_reply_accepts_a_fenced_plan() -> None:
    plan = plan_from_reply("d", f"```\n{GOOD}\n```")
    assert isinstance(plan, Plan) and plan.ids == ["research", "draft"]


@pytest.mark.parametrize("model_id", [
    "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "google:gemini-2.0-flash"])
async def test_through_the_sandbox_on_every_wire_protocol(model_id: str) -> None:
    """The plan schema is accepted by each adapter and sandbox protocol; the sandbox's schema
    instances (random ids, unknown dependencies) are never a valid plan, so it falls back."""
    async with Gateway(force_sandbox=True) as gateway:
        result = await plan_with_llm(EXAMPLE, gateway.complete, model_id=model_id)
    assert result.source == "offline-fallback"
    assert [(c.model, c.mode) for c in result.calls] == [(model_id, "sandbox")] * 2
    assert all(json.loads(c.text)["tasks"] for c in result.calls)  # structured JSON came back
    assert result.notes[0].startswith(f"plan from {model_id} (attempt 1) is invalid: task '")
    assert result.plan == plan_offline(EXAMPLE)
