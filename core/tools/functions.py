"""Python functions as tools: type hints and docstring become the schema, through pydantic.

``function_tool(fn)`` builds a pydantic model of ``fn``'s parameters (``extra="forbid"``); its
JSON schema is what the model sees, and it validates every call's arguments. The docstring's
first paragraph is the description; an ``Args:`` section (``name: what it is``) describes each
parameter. Sync functions run in a worker thread, so a slow one never blocks the event loop.
``module_tools(path)`` does this for every public function defined in a user's module.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_json

from core.errors import ConfigError
from core.tools.base import Tool
from core.tools.errors import ToolArgumentsInvalid
from core.types import TOOL_NAME_PATTERN, ToolSpec

_ARG_LINE = re.compile(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")
_ARG_HEADERS = ("Args:", "Arguments:", "Parameters:")


def function_tool(fn: Callable[..., Any], source: str = "builtin", name: str | None = None,
                  *, in_thread: bool = True) -> Tool:
    """A ``Tool`` that validates the model's arguments against ``fn``'s signature and calls it.

    A sync ``fn`` runs in a worker thread unless ``in_thread`` is False (for quick functions
    that never block, where the thread hop would cost more than the call)."""
    tool_name = name or fn.__name__
    if not re.match(TOOL_NAME_PATTERN, tool_name):
        raise ConfigError(f"function '{tool_name}' cannot be a tool name (letters, digits, _ "
                          "and - only, at most 64); rename it")
    summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    arguments = _arguments_model(fn, tool_name, arg_docs)
    schema = arguments.model_json_schema()
    schema.pop("title", None)
    spec = ToolSpec(name=tool_name, description=summary, parameters=schema)
    is_async = inspect.iscoroutinefunction(fn)

    async def run(raw: dict[str, Any]) -> str:
        try:
            validated = arguments.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(arguments)"
            raise ToolArgumentsInvalid(
                f"{tool_name}: argument {where}: {first['msg']}; send arguments that fit the "
                "tool's schema") from exc
        kwargs = {key: getattr(validated, key) for key in type(validated).model_fields}
        if is_async:
            result = await fn(**kwargs)
        else:
            result = await asyncio.to_thread(fn, **kwargs) if in_thread else fn(**kwargs)
        return result if isinstance(result, str) else to_json(result).decode()

    return Tool(spec=spec, run=run, source=source)


def _arguments_model(fn: Callable[..., Any], name: str,
                     arg_docs: dict[str, str]) -> type[BaseModel]:
    """A pydantic model with one field per parameter of ``fn``."""
    try:
        hints = get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise ConfigError(f"tool '{name}': its type hints cannot be resolved ({exc}); "
                          "import the types it names") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"tool '{name}' takes *args/**kwargs; give it named parameters")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any),
                              Field(default, description=arg_docs.get(param.name)))
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and the ``name: description`` entries of an ``Args:`` section
    (continuation lines, indented deeper, are joined)."""
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    args: dict[str, str] = {}
    stripped = [line.strip() for line in doc.splitlines()]
    headers = [i for i, text in enumerate(stripped) if text in _ARG_HEADERS]
    if not headers:
        return summary, args
    body = doc.splitlines()[headers[0] + 1:]
    indent, current = None, ""
    for line in body:
        if not line.strip() or (indent is not None and len(line) - len(line.lstrip()) < indent):
            break
        depth = len(line) - len(line.lstrip())
        match = _ARG_LINE.match(line.strip())
        if match and (indent is None or depth == indent):
            indent, current = depth, match.group(1)
            args[current] = match.group(2).strip()
        elif current:
            args[current] += " " + line.strip()
    return summary, args


def load_module(path: str) -> ModuleType:
    """Import a module by dotted name, or from a ``.py`` file (relative to the working
    directory)."""
    try:
        if path.endswith(".py") or "/" in path:
            file = Path(path).expanduser().resolve()
            spec = importlib.util.spec_from_file_location(f"orchestra_tools_{file.stem}", file)
            if spec is None or spec.loader is None or not file.is_file():
                raise ConfigError(f"tools module file {file} not found; fix [tools] modules "
                                  "in the policy")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(path)
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(f"tools module '{path}' cannot be imported ({exc}); fix [tools] "
                          "modules in the policy or install what it needs") from exc
    except Exception as exc:  # the user's module raised while it was imported
        raise ConfigError(f"tools module '{path}' failed while importing: "
                          f"{type(exc).__name__}: {exc}; fix the module") from exc


def module_tools(path: str) -> list[Tool]:
    """A tool for every public function defined in the module (not those it imports)."""
    module = load_module(path)
    functions = [fn for fn_name, fn in inspect.getmembers(module, inspect.isfunction)
                 if not fn_name.startswith("_") and fn.__module__ == module.__name__]
    if not functions:
        raise ConfigError(f"tools module '{path}' defines no public function; add one or "
                          "remove it from [tools] modules")
    return [function_tool(fn, source=f"module:{path}") for fn in functions]
