"""Planners: demand → ``Plan``.

``plan_with_llm`` asks a model for a plan with JSON-schema output, sends the validation errors
back once if the plan is invalid, and falls back to ``plan_offline`` if it is still invalid (or
the call fails). ``plan_offline`` is deterministic and needs no model: it recognises single-step
demands (translate, summarise...), enumerated items ("compare A, B and C", "the three cheapest
X", bulleted lists) and otherwise builds a research → analysis → draft → review → edit plan.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.catalog import Catalog
from core.errors import OrchestraError, PlanError, UnknownModel
from core.planning.plan import TASK_KINDS, Plan, Task, parse_plan, plan_json_schema
from core.types import ChatRequest, ChatResult, Complete, Message

PlanSource = Literal["llm", "llm-repaired", "offline-fallback", "offline", "file"]


class PlanResult(BaseModel):
    """A plan, where it came from, why (``notes``) and the planner calls it cost (``calls``)."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan
    source: PlanSource
    notes: list[str] = Field(default_factory=list)
    calls: list[ChatResult] = Field(default_factory=list)


# ── LLM planner ──────────────────────────────────────────────────────────────────────────────

PLANNER_SYSTEM = f"""You are the planner of Orchestra, which runs the steps of a demand on many \
LLMs, in parallel waves. Break the user's demand into 1 to 8 tasks; reply with the JSON plan only.
- id: a short lowercase slug (research-1, compare, draft). depends_on: ids of the tasks whose \
output this task needs. No cycles. Tasks without dependencies run in parallel, so split \
independent research (one task per option, source or item) into separate tasks.
- prompt: a complete instruction; the outputs of the tasks it depends on are appended to it.
- kind: one of {", ".join(TASK_KINDS)}.
- complexity: 1 (trivial) to 5 (hard reasoning); it picks the model tier, so use the lowest \
that will do: research 2, analysis 3-4, drafting 3, review 4, final edit 2. tier: null.
- capabilities: empty unless required: live_search for current web information, json_schema \
for strict JSON output, reasoning for hard maths or logic.
- max_output_tokens: the expected answer length (300 to 2000), or null.
A single-step demand (translate, summarise, classify) needs one task; a multi-part demand ends \
with a review and a final edit."""


async def plan_with_llm(demand: str, complete: Complete, *, model_id: str,
                        catalog: Catalog | None = None) -> PlanResult:
    """Plan ``demand`` with the model ``model_id``, repairing once, else falling back offline.
    A plan that pins a model ``catalog`` lacks is repaired like any invalid plan."""
    messages = [Message(role="user", content=f"Demand:\n{demand}")]
    calls: list[ChatResult] = []
    notes: list[str] = []
    for attempt in (1, 2):
        request = ChatRequest(
            model=model_id, messages=messages, system=PLANNER_SYSTEM, max_tokens=4000,
            json_schema=plan_json_schema(), schema_name="plan",
        )
        try:
            result = await complete(request)
        except OrchestraError as exc:
            notes.append(f"planner call to {model_id} failed ({type(exc).__name__}): {exc}")
            break
        calls.append(result)
        try:
            plan = plan_from_reply(demand, result.text, catalog)
        except (PlanError, UnknownModel) as exc:
            notes.append(f"plan from {model_id} (attempt {attempt}) is invalid: {exc}")
            messages = [
                *messages,
                Message(role="assistant", content=result.text or "(empty reply)"),
                Message(role="user", content=_repair_request(exc)),
            ]
            continue
        return PlanResult(plan=plan, source="llm" if attempt == 1 else "llm-repaired",
                          notes=notes, calls=calls)
    notes.append("fell back to the offline planner")
    return PlanResult(plan=plan_offline(demand), source="offline-fallback", notes=notes,
                      calls=calls)


def _repair_request(error: Exception) -> str:
    return (
        f"That plan is invalid: {error}\nReturn the corrected plan as JSON matching the schema, "
        "and nothing else."
    )


def plan_from_reply(demand: str, text: str, catalog: Catalog | None = None) -> Plan:
    """Parse a model's reply into a plan for ``demand``; one-line ``PlanError`` if it can't."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PlanError(f"reply is not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise PlanError(f"reply must be a JSON object with 'tasks', not {type(raw).__name__}")
    tasks = raw.get("tasks")
    if isinstance(tasks, list):  # null means "use the default" in the strict schema
        raw["tasks"] = [_drop_nulls(t) for t in tasks]
    raw["demand"] = demand
    return parse_plan(raw, catalog)


def _drop_nulls(item: Any) -> Any:
    return {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item


# ── Offline planner ──────────────────────────────────────────────────────────────────────────

_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, **{str(n): n for n in range(2, 11)}}
_SINGLE_STEP = {  # leading verb → (kind, complexity)
    "translate": ("translation", 2), "summarise": ("summarization", 2),
    "summarize": ("summarization", 2), "classify": ("classification", 1),
    "categorise": ("classification", 1), "categorize": ("classification", 1),
    "extract": ("extraction", 2), "explain": ("writing", 2), "rewrite": ("writing", 2),
    "proofread": ("writing", 1), "shorten": ("writing", 1), "paraphrase": ("writing", 1),
}
_DELIVER_VERBS = ("write|draft|produce|prepare|create|give|make|recommend|present|deliver|"
                  "build|implement|outline|suggest")
_ACTION_VERBS = f"{_DELIVER_VERBS}|compare|rank|analy[sz]e|evaluate|assess|review|" + "|".join(
    _SINGLE_STEP)
_CLAUSE_BREAK = re.compile(
    rf"\s*(?:[;!?]\s*|\.(?:\s+|$)|,?\s+(?:and\s+)?then\s+|,\s*(?:and\s+)?(?=(?:{_ACTION_VERBS})\b)"
    rf"|\s+and\s+(?=(?:{_ACTION_VERBS})\b))",
    re.IGNORECASE,
)
_LIST_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+?)\s*$", re.MULTILINE)
_COUNT = re.compile(
    r"\b(?:(?:find|research|identify|pick|choose|list|recommend|suggest|shortlist|select|"
    r"compare|evaluate)\s+(?:the\s+)?|the\s+)(?:top\s+)?"
    rf"({'|'.join(_NUMBERS)})\s+([^,;:.]+?)(?=\s*(?:[,;:.]|\s(?:and|then)\s|$))",
    re.IGNORECASE,
)
_FOCUS = re.compile(r"\s+(?:for|in terms of|on|regarding|with respect to)\s+(.+)$", re.IGNORECASE)
_LIVE = re.compile(r"\b(latest|current(ly)?|today|this (week|month|year)|prices?|pricing|news|"
                   r"recent(ly)?|up-to-date|202[5-9])\b", re.IGNORECASE)
_CODE = re.compile(r"\b(code|function|script|class|implement|program|sql query|endpoint|"
                   r"unit tests?|refactor|bug|debug)\b", re.IGNORECASE)


def plan_offline(demand: str) -> Plan:
    """A sensible plan for ``demand`` without any model; the same demand gives the same plan."""
    demand = demand.strip()
    if not demand:
        raise PlanError("the demand is empty; say what you want done")
    head = demand.partition(":")[0] if ":" in demand[:200] else demand  # the rest is the payload
    clauses = _clauses(head)
    steps = [_single_step(c) for c in clauses]
    if len(clauses) <= 2 and all(steps):
        return _single_step_plan(demand, clauses, steps)
    flat = _clauses(" ".join(demand.split()))
    deliverable = _deliverable(flat)
    items, focus = _list_items(demand), ""
    if not items:
        items, focus = _named_items(flat)
    count = None if items else _count(demand)
    is_question = len(flat) == 1 and len(demand.split()) <= 15 and not deliverable
    if not items and not count and is_question:
        answer = _task("answer", "Answer", "analysis", 2, demand, [], demand)
        return Plan(demand=demand, tasks=[answer])
    if not items and not count and _CODE.search(deliverable or demand):
        return _code_plan(demand, deliverable)
    is_code = bool(_CODE.search(deliverable))
    research = _research_tasks(demand, items, focus, count)
    return _report_plan(demand, research, deliverable, options=bool(items or count),
                        is_code=is_code)


def _clauses(text: str) -> list[str]:
    return [c.strip(" ,") for c in _CLAUSE_BREAK.split(text) if c and c.strip(" ,")]


def _verb(clause: str) -> str:
    words = re.sub(r"^(please|now|also)\s+", "", clause.strip(), flags=re.IGNORECASE).split()
    return words[0].lower() if words else ""


def _title(clause: str) -> str:
    return (clause[:1].upper() + clause[1:])[:80]


def _single_step(clause: str) -> tuple[str, int] | None:
    return _SINGLE_STEP.get(_verb(clause))


def _single_step_plan(demand: str, clauses: list[str], steps: list[Any]) -> Plan:
    """One task (or two chained) for demands like "translate …" or "summarise … and translate"."""
    kind, complexity = steps[0]
    first = _task("step-1" if len(steps) > 1 else kind, _title(clauses[0]), kind,
                  complexity, demand, [], demand)
    tasks = [first]
    if len(steps) == 2:
        kind, complexity = steps[1]
        prompt = (f"{_title(clauses[1])}. The text to work on is the previous step's output, "
                  "given below. Reply with the result only.")
        tasks.append(_task("step-2", _title(clauses[1]), kind, complexity, prompt,
                           [first.id], demand))
    return Plan(demand=demand, tasks=tasks)


def _deliverable(clauses: list[str]) -> str:
    for clause in clauses:
        delivers = re.match(rf"(?:please\s+)?(?:{_DELIVER_VERBS})\b", clause, re.IGNORECASE)
        if delivers and len(clause.split()) > 2:  # "write a memo", not "recommend it"
            return clause
    return ""


def _list_items(demand: str) -> list[str]:
    items = _LIST_LINE.findall(demand)
    return items if len(items) >= 2 else []


def _split_items(body: str, allow_plain_and: bool) -> list[str]:
    if not allow_plain_and and "," not in body:
        return []
    parts = re.split(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|vs\.?|versus)\s+", body)
    items = [p.strip() for p in parts if p.strip()]
    if len(items) < 2 or any(len(i.split()) > 8 for i in items):
        return []
    return items


def _named_items(clauses: list[str]) -> tuple[list[str], str]:
    """Items named in a ``compare …`` or ``research A, B, C`` clause, and the comparison focus."""
    for clause in clauses:
        match = re.match(r"(?:please\s+)?(compare|research|investigate|evaluate|assess)\s+"
                         r"(?:between\s+)?(.+)$", clause, re.IGNORECASE)
        if not match:
            continue
        body, focus = match.group(2), ""
        if focus_match := _FOCUS.search(body):
            body, focus = body[: focus_match.start()], focus_match.group(1)
        items = _split_items(body, allow_plain_and=match.group(1).lower() == "compare")
        if items:
            return items, focus
    return [], ""


def _count(demand: str) -> tuple[int, str] | None:
    match = _COUNT.search(" ".join(demand.split()))
    if not match:
        return None
    return _NUMBERS[match.group(1).lower()], " ".join(match.group(2).split()[:10])


def _research_tasks(demand: str, items: list[str], focus: str, count: tuple[int, str] | None
                    ) -> list[Task]:
    live = ["live_search"] if _LIVE.search(demand) else []
    facts = ("Give the facts that matter for the demand (figures with units, sources and the "
             "date of the information), then caveats. Under 300 words.")
    if count:
        n, what = count
        return [_task(f"research-{k}", f"Research candidate {k} of {n}", "research", 2,
                      f"Identify candidate #{k} of {n} for \"{what}\": the option that ranks "
                      f"#{k} by the demand's criterion (other steps cover the other ranks). "
                      f"Name it first. {facts}", [], demand, live, 600)
                for k in range(1, n + 1)]
    if items:
        about = f" with a focus on {focus}" if focus else ""
        return [_task(f"research-{k}", f"Research: {item[:60]}", "research", 2,
                      f"Research {item}{about}. {facts}", [], demand, live, 600)
                for k, item in enumerate(items, 1)]
    return [
        _task("research-1", "Research: background and key facts", "research", 2,
              f"Research the background and key facts needed to answer the demand. {facts}",
              [], demand, live, 600),
        _task("research-2", "Research: options, risks and counterpoints", "research", 2,
              "Research the main options, risks and counterarguments relevant to the demand. "
              + facts, [], demand, live, 600),
    ]


def _report_plan(demand: str, research: list[Task], deliverable: str, *, options: bool,
                 is_code: bool) -> Plan:
    """Research (given) → analysis → draft → review → final edit; ``options`` → a comparison."""
    ids = [t.id for t in research]
    what = deliverable or "write a concise report that answers the demand"
    if options:
        analysis = _task(
            "compare", "Compare and rank the options", "analysis", 4 if len(ids) >= 3 else 3,
            "Compare the researched options given below side by side against the demand's "
            "criteria: a table first, then a ranking with reasons; flag gaps and conflicting "
            "figures.", ids, demand, max_tokens=1000)
    else:
        analysis = _task(
            "analysis", "Analyse the findings", "analysis", 3,
            "Analyse the research given below: the key points, the trade-offs and an outline of "
            "the answer; flag gaps and conflicting figures.", ids, demand, max_tokens=1000)
    draft = _task("draft", f"Draft: {what[:70]}", "code" if is_code else "writing", 3,
                  f"Using the analysis below, {what}.", [analysis.id], demand, max_tokens=1500)
    review = _task("review", "Review the draft", "review", 4,
                   "Review the draft below critically against the demand and the analysis: "
                   "factual consistency, missing points, clarity and length. List concrete "
                   "fixes, most important first.", [draft.id, analysis.id], demand)
    final = _task("final", "Final edit", "code" if is_code else "writing", 2,
                  "Apply the review's fixes to the draft below and return only the final "
                  f"version (the task: {what}).", [draft.id, review.id], demand, max_tokens=1500)
    return Plan(demand=demand, tasks=[*research, analysis, draft, review, final])


def _code_plan(demand: str, deliverable: str) -> Plan:
    what = deliverable or demand
    spec = _task("spec", "Specify the behaviour", "analysis", 3,
                 "Write a short specification for the code: inputs, outputs, edge cases and "
                 "the test cases that would prove it works.", [], demand)
    implement = _task("implement", "Implement", "code", 4,
                      f"Implement this ({what}) following the specification below. Reply with "
                      "the code only.", [spec.id], demand, max_tokens=2000)
    tests = _task("tests", "Write tests", "code", 3,
                  "Write unit tests for the code below, covering the specification's test cases.",
                  [implement.id, spec.id], demand, max_tokens=1500)
    review = _task("review", "Review the code", "review", 4,
                   "Review the code and tests below: bugs, missed edge cases, readability. List "
                   "concrete fixes, most important first.", [implement.id, tests.id], demand)
    final = _task("final", "Revise the code", "code", 3,
                  "Apply the review's fixes and return the final code and tests.",
                  [implement.id, tests.id, review.id], demand, max_tokens=2500)
    return Plan(demand=demand, tasks=[spec, implement, tests, review, final])


def _task(task_id: str, title: str, kind: str, complexity: int, step: str, deps: list[str],
          demand: str, capabilities: list[str] | None = None, max_tokens: int = 800) -> Task:
    prompt = step if step == demand else f"Overall demand: {demand}\n\nYour step: {step}"
    return Task(id=task_id, title=title, kind=kind, prompt=prompt, depends_on=deps,
                complexity=complexity, capabilities=capabilities or [],
                max_output_tokens=max_tokens)
