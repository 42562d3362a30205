"""The complexity classifier: heuristic factors, bounds, and the LLM mode's fallback."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.routing.complexity import SCORE_SCHEMA, classify, classify_with_llm
from core.errors import RateLimited
from core.types import ChatRequest, ChatResult


def test_simple_extraction_is_economy_grade():
    score = classify("Extract the dates from this email.", kind="extract")
    assert score.score == 1
    assert "kind extract" in score.reason


def test_design_words_push_up_and_are_named():
    score = classify("Design the architecture and analyse the trade-offs of sharding.")
    assert score.score == 4
    assert "architecture" in score.reason and "+2" in score.reason


def test_down_words_pull_down():
    plain = classify("Write a note to the team about Friday.")
    listed = classify("List the people in this note and translate it.")
    assert listed.score == plain.score - 1
    assert "-1 for list, translate" in listed.reason


def test_long_prompts_dependencies_and_reasoning_add_up():
    score = classify("x " * 1500, kind="chat", dependencies=3, capabilities=["reasoning"])
    assert score.score == 5
    for part in ("3,000-character prompt", "3 dependencies", "reasoning"):
        assert part in score.reason


def test_known_kinds_set_the_base():
    assert classify("do it", kind="prove").score == 5
    assert classify("do it", kind="code").score == 3
    assert classify("do it", kind="unheard-of").score == 2


@given(st.text(max_size=3000), st.sampled_from(["", "chat", "prove", "classify"]),
       st.integers(0, 20), st.lists(st.sampled_from(["reasoning", "tools", "json_schema"])))
def test_score_is_always_between_one_and_five(text, kind, deps, caps):
    assert 1 <= classify(text, kind, deps, caps).score <= 5


def _result(text: str) -> ChatResult:
    return ChatResult(model="groq:llama-3.3-70b-versatile", provider="groq", mode="sandbox",
                      text=text)


async def test_llm_mode_uses_the_models_json_answer():
    seen: list[ChatRequest] = []

    async def complete(request: ChatRequest) -> ChatResult:
        seen.append(request)
        return _result(json.dumps({"score": 4, "reason": "needs a careful proof"}))

    score = await classify_with_llm("Prove it.", complete, "groq:llama-3.3-70b-versatile")
    assert (score.score, score.source) == (4, "llm")
    assert "careful proof" in score.reason
    assert seen[0].json_schema == SCORE_SCHEMA
    assert seen[0].model == "groq:llama-3.3-70b-versatile"


@pytest.mark.parametrize("answer", ["not json", '{"score": 9, "reason": "x"}', '{"reason": "x"}',
                                    '{"score": "high", "reason": "x"}'])
async def test_llm_mode_falls_back_on_bad_answers(answer):
    async def complete(request: ChatRequest) -> ChatResult:
        return _result(answer)

    score = await classify_with_llm("Extract the names.", complete, "openai:gpt-4o-mini",
                                    kind="extract")
    assert score.source == "heuristic"
    assert score.score == classify("Extract the names.", "extract").score
    assert "LLM scoring failed" in score.reason


async def test_llm_mode_falls_back_on_provider_errors():
    async def complete(request: ChatRequest) -> ChatResult:
        raise RateLimited("slow down", status_code=429)

    score = await classify_with_llm("Summarise this.", complete, "openai:gpt-4o-mini")
    assert score.source == "heuristic"
    assert "RateLimited" in score.reason
