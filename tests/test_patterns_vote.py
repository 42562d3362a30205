"""Vote: normalisation, counting, ties and failures, with scripted OpenAI-format answers."""

from __future__ import annotations

import json

import httpx
import pytest

from core.errors import AllModelsFailed, ConfigError
from core.calls.gateway import Gateway
from core.patterns import vote
from core.patterns.vote import Ballot, count_votes, normalise
from fixtures.stacks import stack_of

GPT, LLAMA, DEEPSEEK, GROK = ("openai:gpt-4o-mini", "groq:llama-3.3-70b-versatile",
                              "deepseek:deepseek-chat", "xai:grok-4-fast")


@pytest.mark.parametrize(("raw", "counted"), [
    ("Paris.", "paris"),
    ("  PARIS ", "paris"),
    ('"Paris"!', "paris"),
    ("New   York", "new york"),
    ("1,000", "1000"),
    ("1000.0", "1000"),
    ("3.50", "3.5"),
    ("-2.", "-2"),
    ("42", "42"),
    ("e.g.", "e.g"),
])
def test_normalise(raw: str, counted: str) -> None:
    assert normalise(raw) == counted


def ballots(*answers: str) -> list[Ballot]:
    return [Ballot(model=f"m{i}", attempt_id=f"a{i}", answer=a, normalised=normalise(a))
            for i, a in enumerate(answers)]


def test_counting_outcomes() -> None:
    majority = count_votes(ballots("Paris", "paris.", "Lyon"))
    assert (majority["outcome"], majority["winner"]) == ("majority", "paris")
    assert majority["agreement"] == pytest.approx(2 / 3)
    assert majority["dissent"] == {"m2": "Lyon"}
    assert count_votes(ballots("4", "4.0", "4"))["outcome"] == "unanimous"
    plurality = count_votes(ballots("a", "a", "b", "c", "d"))
    assert (plurality["outcome"], plurality["winner"]) == ("plurality", "a")
    tie = count_votes(ballots("yes", "no", "No", "YES"))
    assert (tie["outcome"], tie["winner"], tie["tied"]) == ("tie", None, ["no", "yes"])
    assert tie["agreement"] == 0.5 and tie["dissent"] == {}


def scripted(answers: dict[str, str | int]) -> tuple[Gateway, list[dict]]:
    """OpenAI-compatible providers answering ``{"answer": ...}`` by model name (an int is an
    error status)."""
    seen: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        reply = next(v for k, v in answers.items() if k.endswith(":" + body["model"]))
        if isinstance(reply, int):
            return httpx.Response(reply, json={"error": {"message": "down", "type": "x"}})
        return httpx.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": json.dumps({"answer": reply})}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
        })

    keys = {"openai": "k", "groq": "k", "deepseek": "k", "xai": "k"}
    return Gateway(transport=httpx.MockTransport(handle), keys=keys), seen


async def test_majority_with_agreement_and_dissent() -> None:
    gateway, seen = scripted({GPT: "Paris.", LLAMA: " paris", DEEPSEEK: "Lyon"})
    result = await vote(stack_of(gateway), "Capital of France?", [GPT, LLAMA, DEEPSEEK])
    assert (result.outcome, result.winner) == ("majority", "paris")
    assert result.tally == {"paris": 2, "lyon": 1} and result.dissent == {DEEPSEEK: "Lyon"}
    assert result.failed == [] and result.total_cost_usd > 0
    schema = seen[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["answer"] and "enum" not in schema["properties"]["answer"]


async def test_a_tie_has_no_winner_and_names_the_tied_answers() -> None:
    gateway, _ = scripted({GPT: "1,000", LLAMA: "1000.0", DEEPSEEK: "999", GROK: "999."})
    result = await vote(stack_of(gateway), "How many?", [GPT, LLAMA, DEEPSEEK, GROK])
    assert result.outcome == "tie" and result.winner is None
    assert result.tied == ["1000", "999"] and result.agreement == 0.5


async def test_failed_models_are_listed_and_not_counted() -> None:
    gateway, _ = scripted({GPT: "yes", LLAMA: 401, DEEPSEEK: "yes"})
    result = await vote(stack_of(gateway), "Is water wet?", [GPT, LLAMA, DEEPSEEK], choices=["yes", "no"])
    assert result.failed == [LLAMA] and result.outcome == "unanimous"
    failed = next(b for b in result.ballots if b.model == LLAMA)
    assert failed.error_class == "AuthFailed" and failed.answer == ""


async def test_an_answer_outside_the_choices_is_malformed_and_fails_that_model() -> None:
    gateway, seen = scripted({GPT: "yes", LLAMA: "maybe", DEEPSEEK: "no"})
    result = await vote(stack_of(gateway), "Is water wet?", [GPT, LLAMA, DEEPSEEK], choices=["yes", "no"])
    assert result.failed == [LLAMA] and result.outcome == "tie"
    bad = next(b for b in result.ballots if b.model == LLAMA)
    assert bad.error_class == "StructuredOutputError"
    llama_requests = [b for b in seen if b["model"] == "llama-3.3-70b-versatile"]
    assert len(llama_requests) == 2  # retried once
    enum = llama_requests[0]["response_format"]["json_schema"]["schema"]["properties"]
    assert enum["answer"]["enum"] == ["yes", "no"]


async def test_choices_on_the_sandbox_always_pick_a_choice() -> None:
    result = await vote(stack_of(Gateway()), "Pick a colour", [GPT, "anthropic:claude-haiku-4-5",
                                                     "google:gemini-2.0-flash"],
                        choices=["red", "green", "blue"])
    assert {b.normalised for b in result.ballots} <= {"red", "green", "blue"}
    assert sum(result.tally.values()) == 3


async def test_every_model_failing_is_an_error() -> None:
    gateway, _ = scripted({GPT: 401, LLAMA: 401})
    with pytest.raises(AllModelsFailed, match="vote: every model failed"):
        await vote(stack_of(gateway), "Q?", [GPT, LLAMA])


async def test_a_vote_needs_two_models_and_two_choices() -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        await vote(stack_of(Gateway()), "Q?", [GPT, GPT])
    with pytest.raises(ConfigError, match="two choices"):
        await vote(stack_of(Gateway()), "Q?", [GPT, LLAMA], choices=["only"])
