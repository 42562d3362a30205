"""The plan: tasks with dependencies, validated as an acyclic graph and split into waves.

A ``Plan`` is what the planner produces and the executor runs. Validation errors are
``PlanError``\\ s with a one-line message naming the offending tasks::

    task 'draft' depends on unknown task 'reserch'
    cycle: a → b → c → a (→ reads "depends on")

Waves are the dependency levels: wave 0 holds the tasks without dependencies, and a task's
wave is one more than the highest wave among its dependencies. Plans are read from JSON or
YAML files with ``load_plan_file``; the shipped templates live in ``data/plans/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import jsonschema
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.catalog import DATA_DIR, Capability, Catalog, Tier
from core.errors import PlanError, TemplateError, UnknownModel
from core.prompts import get_template
from core.types import TOOL_NAME_PATTERN

TaskKind = Literal[
    "research", "analysis", "writing", "code", "review", "classification", "summarization",
    "translation", "extraction", "compare", "refine", "moa", "vote",
]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)
PATTERN_KINDS: frozenset[str] = frozenset({"compare", "refine", "moa", "vote"})
PLANS_DIR = DATA_DIR / "plans"
TASK_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
DEFAULT_MAX_OUTPUT_TOKENS = 800
MAX_OUTPUT_TOKENS_LIMIT = 32_000
UPSTREAM_MARKER = "(the results of the earlier steps, given below)"
_HAND_ONLY_FIELDS = ("model", "template", "vars",  # set in plan files, never asked of an LLM
                     "tools", "tool_choice", "schema_")


class Task(BaseModel):
    """One step of a plan.

    ``id`` is a short slug (lowercase letters, digits, ``-`` and ``_``). ``complexity``,
    ``tier`` and ``model`` are routing hints, from loosest to tightest; ``model`` must be a
    catalog id. ``template`` names a prompt-library template rendered with ``vars``.
    ``tools`` names tools its model may call (``all``: every one) in the tool loop, whose first
    turn follows ``tool_choice``. ``schema`` (a JSON schema) asks for structured output:
    routed to ``json_schema`` models, validated, an invalid answer repaired once.
    """

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    id: str = Field(pattern=TASK_ID_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    kind: TaskKind
    prompt: str = ""
    depends_on: list[str] = Field(default_factory=list)
    complexity: int | None = Field(default=None, ge=1, le=5)
    tier: Tier | None = None
    model: str | None = None
    capabilities: list[Capability] = Field(default_factory=list)
    max_output_tokens: int = Field(
        default=DEFAULT_MAX_OUTPUT_TOKENS, ge=1, le=MAX_OUTPUT_TOKENS_LIMIT
    )
    template: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    tools: list[Annotated[str, Field(pattern=TOOL_NAME_PATTERN)]] = Field(default_factory=list)
    tool_choice: str = "auto"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """``schema:`` asks for structured output: it must be a valid JSON schema."""
        if value is not None:
            try:
                jsonschema.validators.validator_for(value).check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"schema is not a valid JSON schema: {exc.message}") from exc
        return value

    @field_validator("capabilities")
    @classmethod
    def _dedupe_capabilities(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check_tool_choice(self) -> "Task":
        if self.tool_choice not in ("auto", "required", *self.tools):
            raise PlanError(f"task '{self.id}' has tool_choice '{self.tool_choice}'; use auto, "
                            "required or one of its tools")
        return self

    @model_validator(mode="after")
    def _check_prompt_and_model(self) -> "Task":
        if self.template:
            self._render_template()
        elif self.vars:
            raise PlanError(f"task '{self.id}' has vars but no template")
        if not self.prompt.strip():
            raise PlanError(f"task '{self.id}' needs a prompt or a template")
        return self

    def _render_template(self) -> None:
        """Fill ``prompt`` from the template (idempotent, so dumped plans load again).

        When the template's ``input`` variable is not given and the task has dependencies, it
        points at their results, which the executor appends below the prompt.
        """
        values = dict(self.vars)
        try:
            template = get_template(str(self.template))
            if template.input and template.input not in values and self.depends_on:
                values[template.input] = UPSTREAM_MARKER
            rendered = template.render(values)
        except TemplateError as exc:
            raise PlanError(f"task '{self.id}': {exc}") from exc
        if template.system:
            rendered = f"{template.system}\n\n{rendered}"
        if self.prompt and self.prompt != rendered:
            raise PlanError(f"task '{self.id}' has both a prompt and a template; give one")
        self.prompt = rendered
        if self.tier is None and self.model is None:
            self.tier = template.tier


class Plan(BaseModel):
    """A demand and the tasks that answer it: unique ids, known dependencies, no cycle."""

    model_config = ConfigDict(extra="forbid")

    demand: str = Field(min_length=1)
    tasks: list[Task] = Field(min_length=1)
    _index: tuple[object, dict[str, Task]] = PrivateAttr(default=(None, {}))

    @model_validator(mode="after")
    def _check_graph(self) -> "Plan":
        problems = _structural_problems(self.tasks)
        if problems:
            raise PlanError("; ".join(problems))
        cycle = _find_cycle({t.id: t.depends_on for t in self.tasks})
        if cycle:
            raise PlanError(f"cycle: {' → '.join(cycle)} (→ reads \"depends on\")")
        return self

    def check_models(self, catalog: Catalog) -> None:
        """Raise ``UnknownModel`` (naming the task) for a pinned model ``catalog`` lacks."""
        for task in self.tasks:
            if task.model is not None:
                try:
                    catalog.model(task.model)
                except UnknownModel as exc:
                    raise UnknownModel(f"task '{task.id}': {exc}") from exc

    def task(self, task_id: str) -> Task:
        """The task with this id, or ``PlanError`` listing the known ids."""
        indexed, by_id = self._index
        if indexed is not self.tasks:  # built on first use, again if the list is replaced
            by_id = {t.id: t for t in self.tasks}
            self._index = (self.tasks, by_id)
        try:
            return by_id[task_id]
        except KeyError:
            raise PlanError(
                f"no task '{task_id}' in the plan; tasks are: {', '.join(self.ids)}") from None

    @property
    def ids(self) -> list[str]:
        """Task ids in plan order."""
        return [t.id for t in self.tasks]

    def wave_numbers(self) -> dict[str, int]:
        """Each task's wave: 0 without dependencies, else 1 + the highest wave of its deps."""
        waves: dict[str, int] = {}
        for task_id in self.topological_order():
            deps = self.task(task_id).depends_on
            waves[task_id] = 1 + max((waves[d] for d in deps), default=-1)
        return waves

    def waves(self) -> list[list[str]]:
        """Task ids grouped by wave, each wave in plan order."""
        numbers = self.wave_numbers()
        grouped: list[list[str]] = [[] for _ in range(max(numbers.values()) + 1)]
        for task_id in self.ids:
            grouped[numbers[task_id]].append(task_id)
        return grouped

    def wave_of(self, task_id: str) -> int:
        """The wave of one task."""
        self.task(task_id)
        return self.wave_numbers()[task_id]

    def topological_order(self) -> list[str]:
        """Every task id after all of its dependencies; ties keep plan order (deterministic)."""
        remaining = {t.id: set(t.depends_on) for t in self.tasks}
        order: list[str] = []
        while remaining:
            ready = [i for i in self.ids if i in remaining and not remaining[i] - set(order)]
            order.extend(ready)
            for task_id in ready:
                del remaining[task_id]
        return order

    def dependents(self, task_id: str) -> list[str]:
        """Ids of the tasks that depend directly on ``task_id``."""
        return [t.id for t in self.tasks if task_id in t.depends_on]

    def critical_path(self) -> list[str]:
        """The longest dependency chain (by task count), from a wave-0 task to its end."""
        best: dict[str, list[str]] = {}
        for task_id in self.topological_order():
            deps = self.task(task_id).depends_on
            longest = max((best[d] for d in deps), key=len, default=[])
            best[task_id] = [*longest, task_id]
        return max(best.values(), key=len)

    def planner_view(self) -> dict[str, Any]:
        """The plan as ``plan_json_schema()`` describes it (hand-only fields left out)."""
        exclude = {"tasks": {"__all__": set(_HAND_ONLY_FIELDS)}}
        return self.model_dump(mode="json", exclude=exclude)


def _structural_problems(tasks: list[Task]) -> list[str]:
    """Duplicate ids, self-dependencies and unknown dependencies, one phrase each."""
    problems: list[str] = []
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            problems.append(f"duplicate task id '{task.id}'")
        seen.add(task.id)
    for task in tasks:
        for dep in task.depends_on:
            if dep == task.id:
                problems.append(f"task '{task.id}' depends on itself")
            elif dep not in seen:
                problems.append(f"task '{task.id}' depends on unknown task '{dep}'")
    return problems


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a closed path (first id repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the DFS stack, "done" after
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for dep in graph[node]:
            if state.get(dep) == "open":
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def plan_json_schema() -> dict[str, Any]:
    """The JSON schema of a plan for structured LLM output.

    Strict-mode compatible: no ``$ref``, ``additionalProperties: false`` everywhere and every
    property required (optional hints are nullable). Hand-only fields (``model``,
    ``template``, ``vars``) are left out: routing picks models, not the planner.
    """
    task = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id", "title", "kind", "prompt", "depends_on", "complexity", "tier",
            "capabilities", "max_output_tokens",
        ],
        "properties": {
            "id": {"type": "string", "pattern": TASK_ID_PATTERN,
                   "description": "short slug, e.g. research-1, draft"},
            "title": {"type": "string", "description": "a few words for the UI"},
            "kind": {"type": "string", "enum": list(TASK_KINDS)},
            "prompt": {"type": "string", "description": "the full instruction for the model"},
            "depends_on": {"type": "array", "items": {"type": "string"},
                           "description": "ids of tasks whose output this task needs"},
            "complexity": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "tier": {"type": ["string", "null"], "enum": [*get_args(Tier), None]},
            "capabilities": {"type": "array",
                             "items": {"type": "string", "enum": list(get_args(Capability))}},
            "max_output_tokens": {"type": ["integer", "null"], "minimum": 1,
                                  "maximum": MAX_OUTPUT_TOKENS_LIMIT},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["demand", "tasks"],
        "properties": {
            "demand": {"type": "string"},
            "tasks": {"type": "array", "items": task, "minItems": 1},
        },
    }


def describe_validation_error(exc: ValidationError, raw: Any = None, limit: int = 5) -> str:
    """A one-line summary of a pydantic error; task positions are named by id when known."""
    parts = []
    for error in exc.errors()[:limit]:
        parts.append(f"{_where(error['loc'], raw)}: {error['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _where(loc: tuple[Any, ...], raw: Any) -> str:
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        label = f"tasks[{loc[1]}]"
        try:
            label = f"task '{raw['tasks'][loc[1]]['id']}'"
        except (KeyError, IndexError, TypeError):
            pass
        rest = ".".join(str(p) for p in loc[2:])
        return f"{label} {rest}".strip()
    return ".".join(str(p) for p in loc) or "plan"


def parse_plan(raw: Any, catalog: Catalog | None = None) -> Plan:
    """Validate a decoded plan (and its pinned models against ``catalog``, when given); every
    failure is a one-line ``PlanError`` or ``UnknownModel``."""
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise PlanError(f"a plan must be a mapping with 'demand' and 'tasks', not {kind}")
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        raise PlanError(describe_validation_error(exc, raw)) from exc
    if catalog is not None:
        plan.check_models(catalog)
    return plan


def load_plan_file(path: Path | str, catalog: Catalog | None = None) -> Plan:
    """Read a plan from a ``.json``, ``.yaml`` or ``.yml`` file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"plan file {path}: cannot read it ({exc.strerror})") from exc
    raw = _decode(path, text)
    try:
        return parse_plan(raw, catalog)
    except (PlanError, UnknownModel) as exc:
        raise type(exc)(f"plan file {path.name}: {exc}") from exc


def _decode(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(
                f"plan file {path.name}: not valid JSON: {exc.msg} (line {exc.lineno}, "
                f"column {exc.colno})"
            ) from exc
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or "cannot parse"
            raise PlanError(f"plan file {path.name}: not valid YAML: {problem}{where}") from exc
    raise PlanError(f"plan file {path.name}: unsupported extension; use .json, .yaml or .yml")


def list_plan_templates(directory: Path | str | None = None) -> dict[str, Path]:
    """The plan templates shipped in ``data/plans/`` (name → path), sorted by name."""
    directory = Path(directory) if directory else PLANS_DIR
    files = [*directory.glob("*.yaml"), *directory.glob("*.yml"), *directory.glob("*.json")]
    return {p.stem: p for p in sorted(files)}


def load_plan_template(name: str, directory: Path | str | None = None) -> Plan:
    """One shipped plan template by name; the error lists the known names."""
    templates = list_plan_templates(directory)
    if name not in templates:
        raise PlanError(f"unknown plan template '{name}'; known: {', '.join(templates) or 'none'}")
    return load_plan_file(templates[name])
