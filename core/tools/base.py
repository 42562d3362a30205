"""A tool: its ``ToolSpec`` (what the model sees) and the async callable that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.types import ToolSpec

ToolFn = Callable[[dict[str, Any]], Awaitable[str]]
"""Runs one call: the model's arguments in, the result as text out; raises on failure."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A callable tool. ``source`` says where it comes from: ``builtin``, ``module:NAME`` or
    ``mcp:SERVER``."""

    spec: ToolSpec
    run: ToolFn
    source: str

    @property
    def name(self) -> str:
        """The name models call it by."""
        return self.spec.name
