"""The sandbox plays along with function calling: it decides when a simulated model calls a tool.

When a request offers tools and the last user message plainly asks for what one of them does,
the answer is a tool call whose arguments validate against that tool's schema:

- arithmetic (``What is 1234 * 5678?``) calls a calculator-like tool (its name or description
  says calc/math/arithmetic/evaluate, or it has an ``expression``-like string argument) with the
  expression as written (``×``/``÷``/``^`` spelled ``*``/``/``/``**``);
- a time question (``what time is it in Tokyo?``) calls a clock-like tool (time/clock/date in
  its name or description), with a time-zone argument from an ``Area/City`` name in the prompt,
  or ``UTC``.

Several asks in one prompt give parallel calls. ``tool_choice`` ``none`` never calls;
``required`` or a tool's name calls (that tool, with schema-generated arguments) even when no
intent matched. A turn that carries tool results is answered in text from those results, so a
loop always ends. Everything is a pure function of the request and the seed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from core.sandbox.schema import schema_instance, validation_errors

_NUMBER = r"\(?\s*-?\d+(?:\.\d+)?\s*\)?"
_ARITHMETIC = re.compile(rf"{_NUMBER}(?:\s*(?:\*\*|[-+*/%^×÷])\s*{_NUMBER})+")
_TIME_ASK = re.compile(
    r"\b(what time|current time|time is it|time now|the time in|today's date|what day is it)\b",
    re.IGNORECASE,
)
_ZONE = re.compile(r"\b[A-Z][a-z]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?\b")
_CALC_WORDS = re.compile(r"calc|math|arith|evaluat|expression", re.IGNORECASE)
_CLOCK_WORDS = re.compile(r"clock|time|date", re.IGNORECASE)
_EXPRESSION_NAMES = ("expression", "expr", "formula", "equation", "input", "query")
_ZONE_NAMES = ("timezone", "time_zone", "tz", "zone")


@dataclass(frozen=True)
class OfferedTool:
    """A tool a request offers: its name, description and JSON schema of arguments."""

    name: str
    description: str = ""
    schema: Any = None

    def properties(self) -> dict[str, Any]:
        """The schema's top-level properties (empty when it has none)."""
        props = self.schema.get("properties") if isinstance(self.schema, dict) else None
        return props if isinstance(props, dict) else {}


@dataclass(frozen=True)
class ToolOutcome:
    """A tool result sent back to the model: which tool, its text, and whether it failed."""

    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the simulated model makes."""

    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        """The arguments as compact JSON text."""
        return json.dumps(self.arguments, separators=(",", ":"))


def plan_calls(
    tools: tuple[OfferedTool, ...],
    choice: str,
    prompt: str,
    seed: int,
    id_prefix: str,
    *,
    fallback: bool = True,
) -> tuple[PlannedCall, ...]:
    """The tool calls a request's last user message asks for (see the module docstring).

    With ``fallback=False`` a forcing choice calls nothing unless an ask matched.
    """
    if not tools or choice == "none":
        return ()
    allowed = tuple(t for t in tools if t.name == choice) or tools
    wanted: list[tuple[OfferedTool, dict[str, Any]]] = []
    calculator = _best(allowed, _CALC_WORDS, _EXPRESSION_NAMES)
    if calculator is not None:
        for match in _ARITHMETIC.finditer(prompt):
            wanted.append((calculator, {_argument(calculator, _EXPRESSION_NAMES): _spell(match)}))
    clock = _best(allowed, _CLOCK_WORDS, _ZONE_NAMES)
    if clock is not None and _TIME_ASK.search(prompt):
        zone = _ZONE.search(prompt)
        wanted.append((clock, {_argument(clock, _ZONE_NAMES): zone.group(0) if zone else "UTC"}))
    if not wanted and choice != "auto" and fallback:
        wanted.append((allowed[0], {}))
    return tuple(
        PlannedCall(id=f"{id_prefix}{index}", name=tool.name,
                    arguments=_valid_arguments(tool, hints, seed, prompt))
        for index, (tool, hints) in enumerate(wanted)
    )


def answer_from_results(results: tuple[ToolOutcome, ...]) -> str:
    """The follow-up answer: what the tools returned, said plainly."""
    lines = []
    for result in results:
        if result.is_error:
            lines.append(f"The {result.name} tool failed ({result.content}), so I cannot "
                         "answer that part.")
        else:
            lines.append(f"The {result.name} tool returned: {result.content}")
    answers = [r.content for r in results if not r.is_error]
    if len(answers) == 1:
        lines.append(f"So the answer is {answers[0]}.")
    return " ".join(lines)


def _best(
    tools: tuple[OfferedTool, ...], words: re.Pattern[str], arg_names: tuple[str, ...]
) -> OfferedTool | None:
    """The tool whose name, description or argument names best fit a kind of ask."""
    scored = []
    for position, tool in enumerate(tools):
        score = 2 * bool(words.search(f"{tool.name} {tool.description}"))
        score += any(name in tool.properties() for name in arg_names)
        if score:
            scored.append((-score, position, tool))
    return min(scored)[2] if scored else None


def _argument(tool: OfferedTool, names: tuple[str, ...]) -> str:
    """The argument that carries the ask: a well-named one, else the first string one."""
    props = tool.properties()
    for name in names:
        if name in props:
            return name
    required = tool.schema.get("required") if isinstance(tool.schema, dict) else None
    strings = [n for n, p in props.items() if isinstance(p, dict) and p.get("type") == "string"]
    for name in [*(required or []), *strings]:
        if name in strings:
            return str(name)
    return names[0]


def _spell(match: re.Match[str]) -> str:
    """An arithmetic expression in the spelling calculators read."""
    text = match.group(0).strip()
    return text.replace("×", "*").replace("÷", "/").replace("^", "**")


def _valid_arguments(
    tool: OfferedTool, hints: dict[str, Any], seed: int, prompt: str
) -> dict[str, Any]:
    """Schema-generated arguments with the ask's values laid over them, kept only if valid."""
    schema = tool.schema if isinstance(tool.schema, dict) else {"type": "object"}
    base = schema_instance(schema, seed, tool.name, prompt)
    base = base if isinstance(base, dict) else {}
    merged = {**base, **{k: v for k, v in hints.items() if k in tool.properties()}}
    if not tool.properties() and hints:
        merged = {**base, **hints} if schema.get("additionalProperties") is not False else base
    return merged if not validation_errors(merged, schema) else base
