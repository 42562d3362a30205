"""Scoring a task's complexity 1–5, the input of the complexity → tier mapping.

The heuristic reads the task kind, the prompt length, instruction words ("analyse", "prove",
"design" push up; "classify", "translate", "extract" pull down), the number of dependencies and
the capabilities required, and explains its score. ``classify_with_llm`` asks an economy model
instead, with a JSON schema, and falls back to the heuristic on any failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from core.errors import OrchestraError
from core.types import ChatRequest, ChatResult

MIN_SCORE, MAX_SCORE = 1, 5
DEFAULT_KIND_SCORE = 2

KIND_SCORES: dict[str, int] = {
    "classify": 1, "extract": 1, "translate": 1, "summarise": 1, "summarize": 1, "format": 1,
    "chat": 2, "write": 2, "draft": 2, "search": 2, "research": 3, "code": 3, "review": 3,
    "analysis": 3, "analyse": 3, "analyze": 3, "plan": 3, "compare": 3, "reason": 4,
    "design": 4, "architecture": 4, "prove": 5, "proof": 5,
}

_UP_WORDS = re.compile(
    r"\b(analy[sz]\w*|prove|proof|architect\w*|design\w*|trade-?offs?|reason\w*|"
    r"evaluat\w*|critique|optimi[sz]\w*|derive|strateg\w*)\b",
    re.IGNORECASE,
)
_DOWN_WORDS = re.compile(
    r"\b(classif\w*|translat\w*|summari[sz]\w*|extract\w*|list|reformat\w*|spell-?check)\b",
    re.IGNORECASE,
)
LONG_PROMPT_CHARS = 2_000
VERY_LONG_PROMPT_CHARS = 12_000
MANY_DEPENDENCIES = 3
HEAVY_CAPABILITIES = frozenset({"reasoning"})

SCORE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": MIN_SCORE, "maximum": MAX_SCORE},
        "reason": {"type": "string"},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}

CompleteFn = Callable[[ChatRequest], Awaitable[ChatResult]]


@dataclass(frozen=True, slots=True)
class ComplexityScore:
    """A score 1–5 with the reasons behind it."""

    score: int
    reason: str
    source: Literal["heuristic", "llm", "given"] = "heuristic"


def classify(
    text: str,
    kind: str = "",
    dependencies: int = 0,
    capabilities: Iterable[str] = (),
) -> ComplexityScore:
    """Score a task 1–5 by heuristic and explain each factor that moved the score."""
    base = KIND_SCORES.get(kind.lower(), DEFAULT_KIND_SCORE) if kind else DEFAULT_KIND_SCORE
    score = base
    notes = [f"kind {kind} → {base}" if kind else f"base {base}"]

    up = {m.lower() for m in _UP_WORDS.findall(text)}
    down = {m.lower() for m in _DOWN_WORDS.findall(text)}
    if up:
        bump = min(len(up), 2)
        score += bump
        notes.append(f"+{bump} for {', '.join(sorted(up)[:3])}")
    if down and not up:
        score -= 1
        notes.append(f"-1 for {', '.join(sorted(down)[:3])}")

    length = len(text)
    if length >= VERY_LONG_PROMPT_CHARS:
        score += 2
        notes.append(f"+2 for a {length:,}-character prompt")
    elif length >= LONG_PROMPT_CHARS:
        score += 1
        notes.append(f"+1 for a {length:,}-character prompt")

    if dependencies >= MANY_DEPENDENCIES:
        score += 1
        notes.append(f"+1 for {dependencies} dependencies")
    heavy = HEAVY_CAPABILITIES.intersection(capabilities)
    if heavy:
        score += 1
        notes.append(f"+1 for {', '.join(sorted(heavy))}")

    final = max(MIN_SCORE, min(MAX_SCORE, score))
    return ComplexityScore(final, f"complexity {final}: " + "; ".join(notes))


async def classify_with_llm(
    text: str,
    complete: CompleteFn,
    model: str,
    *,
    kind: str = "",
    dependencies: int = 0,
    capabilities: Iterable[str] = (),
) -> ComplexityScore:
    """Ask ``model`` (an economy model) for a score; any failure falls back to the heuristic."""
    capabilities = tuple(capabilities)
    request = ChatRequest.of(
        model,
        _llm_prompt(text, kind, dependencies, capabilities),
        max_tokens=200,
        temperature=0.0,
        json_schema=SCORE_SCHEMA,
        schema_name="complexity",
    )
    try:
        result = await complete(request)
        parsed = json.loads(result.text)
        score = parsed["score"]
        reason = str(parsed["reason"]).strip()
        if not isinstance(score, int) or not MIN_SCORE <= score <= MAX_SCORE:
            raise ValueError(f"score {score!r} is not an integer 1–5")
    except (OrchestraError, ValueError, KeyError, TypeError) as exc:
        fallback = classify(text, kind, dependencies, capabilities)
        why = type(exc).__name__
        return ComplexityScore(fallback.score, f"{fallback.reason} (LLM scoring failed: {why})")
    return ComplexityScore(score, f"complexity {score} by {model}: {reason}", source="llm")


def _llm_prompt(text: str, kind: str, dependencies: int, capabilities: tuple[str, ...]) -> str:
    return (
        "Rate how hard this task is for a language model, from 1 (trivial: classify, extract, "
        "translate) to 5 (hardest: proofs, system architecture, subtle trade-offs). Answer with "
        "JSON {\"score\": int, \"reason\": one short sentence}.\n"
        f"Kind: {kind or 'unspecified'}; dependencies: {dependencies}; "
        f"needs: {', '.join(capabilities) or 'nothing special'}.\n"
        f"Task:\n{text[:4000]}"
    )
