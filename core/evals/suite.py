"""Eval suites: a prompt (or prompt-library template), test cases and their assertions, in YAML.

A suite file::

    name: extraction                      # also the ``dataset`` of its outcomes
    kind: extract                         # the task kind its outcomes count for (default: name)
    description: Pull invoice fields out of short texts
    prompt: "Extract vendor and total from: {text}"    # or  template: extract_json
    system: You extract data.             # optional (a template brings its own)
    schema: {type: object, ...}           # optional: ask for structured output natively
    max_tokens: 300                       # optional (default: the template's, else 512)
    judge: anthropic:claude-sonnet-4-5    # optional: the model grading llm-rubric assertions
    assert:                               # optional: assertions every case makes
      - {type: is-json}
    cases:
      - id: acme                          # optional (default: case-1, case-2, ...)
        vars: {text: "ACME Corp billed us 120 EUR"}
        assert:
          - {type: python, value: "json['total'] == 120"}

A case may carry its own ``prompt`` instead of the suite's. Every placeholder must be filled
by the case's ``vars``; a problem is a ``ConfigError`` naming the file, the case and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.catalog import Catalog
from core.errors import ConfigError, TemplateError
from core.evals.assertions import Assertion, LlmRubric
from core.prompts import PromptTemplate, Variable, get_template, placeholders
from core.types import ChatRequest, Message, TextPart

DEFAULT_MAX_TOKENS = 512


class Case(BaseModel):
    """One test case: its variables, an optional own prompt, and its assertions."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = ""
    vars: dict[str, str] = Field(default_factory=dict)
    prompt: str | None = None
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")


class Suite(BaseModel):
    """A validated eval suite (see the module docstring for the file format)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    kind: str = ""
    description: str = ""
    prompt: str | None = None
    template: str | None = None
    system: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    judge: str | None = None
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "Suite":
        if self.prompt is not None and self.template is not None:
            raise ValueError("give either prompt or template, not both")
        seen: set[str] = set()
        for number, case in enumerate(self.cases, start=1):
            case.id = case.id or f"case-{number}"
            if case.id in seen:
                raise ValueError(f"two cases are named '{case.id}'; give each its own id")
            seen.add(case.id)
            if case.prompt is None and self.prompt is None and self.template is None:
                raise ValueError(f"case '{case.id}' has no prompt: give the suite a prompt or "
                                 "template, or the case a prompt")
        self.kind = self.kind or self.name
        return self

    def checks_for(self, case: Case) -> list[Assertion]:
        """The suite-wide assertions followed by the case's own."""
        return [*self.assertions, *case.assertions]

    @property
    def needs_judge(self) -> bool:
        """True when some assertion is an ``llm-rubric``."""
        return any(isinstance(a, LlmRubric) for c in self.cases for a in self.checks_for(c))

    def request(self, case: Case, model: str, *, native_schema: bool = True) -> ChatRequest:
        """The chat request of ``case`` for ``model`` (a ``ConfigError`` names a missing var).

        With a suite ``schema``, structured output is asked for natively; for a model without
        the ``json_schema`` capability (``native_schema=False``) the system prompt asks instead.
        """
        template = self._template(case)
        try:
            text = template.render(case.vars)
        except TemplateError as exc:
            raise ConfigError(f"suite '{self.name}', case '{case.id}': {exc}") from exc
        max_tokens = self.max_tokens or (template.max_output_tokens if self.template
                                         else DEFAULT_MAX_TOKENS)
        system = self.system or template.system
        if self.schema_ is not None and not native_schema:
            note = "Reply with JSON only, matching this JSON schema: " + json.dumps(self.schema_)
            system = f"{system}\n\n{note}" if system else note
        message = Message(role="user", parts=[TextPart(text=text)])
        return ChatRequest(model=model, messages=[message],
                           system=system, max_tokens=max_tokens,
                           json_schema=self.schema_ if native_schema else None,
                           schema_name=_schema_name(self.name))

    def _template(self, case: Case) -> PromptTemplate:
        text = case.prompt if case.prompt is not None else self.prompt
        if text is None:
            assert self.template is not None  # the validator guarantees one of the three
            return get_template(self.template)
        try:
            names = placeholders(text)
            return PromptTemplate(name=f"{self.name}/{case.id}", description=self.description
                                  or self.name, template=text,
                                  variables={n: Variable() for n in sorted(names)})
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"suite '{self.name}', case '{case.id}': prompt: {exc}") from exc

    def check_against(self, catalog: Catalog) -> None:
        """Check that every case renders and the judge (if any) is a catalog model."""
        if self.judge:
            catalog.model(self.judge)
        for case in self.cases:
            self.request(case, "")


def _schema_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)
    return cleaned[:64] or "result"


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    return f"{where}: {error['msg']}" if where else error["msg"]


def load_suite(path: Path | str, catalog: Catalog | None = None) -> Suite:
    """Read and validate a suite file; every problem is one ``ConfigError`` naming the file."""
    target = Path(path)
    try:
        raw = yaml.safe_load(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"eval suite {target} not found; see data/evals/ for examples") \
            from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"eval suite {target} is not valid YAML ({_yaml_where(exc)})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"eval suite {target} must be a mapping with name and cases")
    raw.setdefault("name", target.stem)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"eval suite {target}: {_first_problem(exc)}") from exc
    try:
        if catalog is not None:
            suite.check_against(catalog)
        else:
            for case in suite.cases:
                suite.request(case, "")
    except (ConfigError, TemplateError) as exc:
        raise ConfigError(f"eval suite {target}: {exc}") from exc
    return suite


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
