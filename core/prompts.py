"""The prompt library: named, versioned templates kept as TOML files in ``data/prompts/``.

A template file ``<name>.toml`` holds::

    version = "1.0"
    description = "Summarise a text for a given audience"
    template = "Summarise this for {audience} in {length}:\\n\\n{text}"
    system = "You are a precise editor."        # optional
    tier = "economy"                             # optional preferred tier (or model = "p:m")
    input = "text"                               # the variable a chain fills with the last output
    chain = ["translate"]                        # optional templates run after this one
    max_output_tokens = 600                      # optional

    [variables]
    text = { description = "the text to summarise" }
    audience = { description = "who reads it", default = "a busy professional" }

Placeholders are ``str.format`` style: ``{name}``; write ``{{`` and ``}}`` for literal braces.
Every placeholder must be declared under ``[variables]`` and every declared variable used.
``render`` refuses unknown variables and names the missing ones; ``run_chain`` runs templates
one after the other, each step's output filling the next template's ``input`` variable.
"""

from __future__ import annotations

import string
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.catalog import DATA_DIR, Catalog, Tier
from core.errors import TemplateError, UnknownModel
from core.types import ChatRequest, ChatResult, Complete, Message

PROMPTS_DIR = DATA_DIR / "prompts"


class Variable(BaseModel):
    """One template variable: what it means and, optionally, its default value."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    default: str | None = None


class PromptTemplate(BaseModel):
    """One named, versioned prompt template (see the module docstring for the file format)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "1"
    description: str
    template: str = Field(min_length=1)
    system: str | None = None
    variables: dict[str, Variable] = Field(default_factory=dict)
    tier: Tier | None = None
    model: str | None = None
    input: str | None = None
    chain: list[str] = Field(default_factory=list)
    max_output_tokens: int = Field(default=800, ge=1, le=32_000)

    @model_validator(mode="after")
    def _check_variables(self) -> "PromptTemplate":
        used = placeholders(self.template)
        if undeclared := sorted(used - set(self.variables)):
            names = ", ".join(undeclared)
            raise ValueError(f"placeholders not declared under [variables]: {names}")
        if unused := sorted(set(self.variables) - used):
            raise ValueError(f"variables never used in the template: {', '.join(unused)}")
        if self.input is not None and self.input not in self.variables:
            raise ValueError(f"input '{self.input}' is not one of the variables")
        return self

    @property
    def required(self) -> list[str]:
        """Variables without a default, in declaration order."""
        return [name for name, var in self.variables.items() if var.default is None]

    def render(self, values: dict[str, Any]) -> str:
        """The prompt text; ``TemplateError`` for a missing or unknown variable."""
        if unknown := [k for k in values if k not in self.variables]:
            known = ", ".join(self.variables) or "none"
            raise TemplateError(
                f"template '{self.name}' has no variable '{unknown[0]}'; its variables are: {known}"
            )
        filled = {k: v.default for k, v in self.variables.items() if v.default is not None}
        filled.update({k: str(v) for k, v in values.items()})
        for name in self.variables:
            if name not in filled:
                raise TemplateError(
                    f"template '{self.name}' needs variable '{name}' (pass --var {name}=...)"
                )
        return self.template.format(**filled)

    def request(self, values: dict[str, Any], model_id: str) -> ChatRequest:
        """A chat request for ``model_id`` with this template's system prompt and output limit."""
        return ChatRequest(
            model=model_id,
            messages=[Message(role="user", content=self.render(values))],
            system=self.system,
            max_tokens=self.max_output_tokens,
        )


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a template; positional or dotted fields are refused."""
    names: set[str] = set()
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"template text is malformed ({exc}); write {{{{ and }}}} for braces") \
            from exc
    for field in fields:
        if not field.isidentifier():
            raise ValueError(f"placeholder '{{{field}}}' must be a plain name like {{text}}")
        names.add(field)
    return names


def load_template_file(path: Path) -> PromptTemplate:
    """One template file; any problem is a ``TemplateError`` naming the file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"prompt file {path.name}: cannot read it ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"prompt file {path.name}: not valid TOML: {exc}") from exc
    name = raw.setdefault("name", path.stem)
    if name != path.stem:
        raise TemplateError(f"prompt file {path.name}: name '{name}' must match the file name")
    try:
        return PromptTemplate.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise TemplateError(
            f"prompt file {path.name}: {where + ': ' if where else ''}{message}"
        ) from exc


def load_library(directory: Path | str | None = None,
                 catalog: Catalog | None = None) -> dict[str, PromptTemplate]:
    """Every template in ``directory`` (default ``data/prompts/``) by name; chains checked, and
    pinned models against ``catalog`` when given."""
    directory = Path(directory) if directory else PROMPTS_DIR
    library = {t.name: t for t in map(load_template_file, sorted(directory.glob("*.toml")))}
    for template in library.values():
        if catalog is not None and template.model is not None:
            try:
                catalog.model(template.model)
            except UnknownModel as exc:
                raise TemplateError(f"prompt file {template.name}.toml: {exc}") from exc
        for step in template.chain:
            if step not in library:
                raise TemplateError(
                    f"prompt file {template.name}.toml: chain names unknown template '{step}'"
                )
    for name in library:
        expand_chain([name], library)  # refuses chain cycles at load time
    return library


@lru_cache(maxsize=1)
def _shipped_library() -> dict[str, PromptTemplate]:
    return load_library()


def default_library() -> dict[str, PromptTemplate]:
    """The shipped library (``data/prompts/``), read once; a fresh dict on each call."""
    return dict(_shipped_library())


def get_template(name: str, library: dict[str, PromptTemplate] | None = None) -> PromptTemplate:
    """The template called ``name`` (default: the shipped library); the error lists known names."""
    library = default_library() if library is None else library
    try:
        return library[name]
    except KeyError:
        known = ", ".join(sorted(library)) or "none"
        raise TemplateError(f"unknown prompt template '{name}'; known: {known}") from None


def render(name: str, values: dict[str, Any],
           library: dict[str, PromptTemplate] | None = None) -> str:
    """Render the template ``name`` with ``values``."""
    return get_template(name, library).render(values)


def expand_chain(names: list[str], library: dict[str, PromptTemplate]) -> list[str]:
    """Template names in run order: each followed by the templates its ``chain`` declares."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise TemplateError(f"prompt chain loops: {' → '.join([*path, name])}")
        order.append(get_template(name, library).name)
        for step in library[name].chain:
            visit(step, (*path, name))

    for name in names:
        visit(name, ())
    return order


class ChainStep(BaseModel):
    """One step of a chain run: the template, the prompt sent and the model's result."""

    model_config = ConfigDict(extra="forbid")

    template: str
    prompt: str
    result: ChatResult


class ChainResult(BaseModel):
    """Every step of a chain run; ``output`` is the last step's text."""

    model_config = ConfigDict(extra="forbid")

    steps: list[ChainStep]

    @property
    def output(self) -> str:
        """The text of the last step."""
        return self.steps[-1].result.text


async def run_chain(names: list[str], values: dict[str, Any], complete: Complete, *, model_id: str,
                    library: dict[str, PromptTemplate] | None = None) -> ChainResult:
    """Run templates in order; each step's output fills the next template's ``input`` variable.

    ``values`` are shared: each step takes the ones it declares. ``complete`` is an async
    callable ``ChatRequest -> ChatResult`` (the gateway's ``complete``, or a resilient one).
    """
    library = default_library() if library is None else library
    order = expand_chain(list(names), library)
    if not order:
        raise TemplateError("a chain needs at least one template name")
    templates = [library[n] for n in order]
    declared = {v for t in templates for v in t.variables}
    if unknown := sorted(set(values) - declared):
        raise TemplateError(f"no template in the chain {' → '.join(order)} has a variable "
                            f"'{unknown[0]}'")
    steps: list[ChainStep] = []
    for index, template in enumerate(templates):
        step_values = {k: v for k, v in values.items() if k in template.variables}
        if index:
            if template.input is None:
                raise TemplateError(f"template '{template.name}' cannot take the previous "
                                    "step's output: declare input = \"<variable>\" in its file")
            step_values[template.input] = steps[-1].result.text
        request = template.request(step_values, model_id)
        result = await complete(request)
        steps.append(ChainStep(template=template.name, prompt=request.messages[0].text,
                               result=result))
    return ChainResult(steps=steps)
