"""Where a model call is made from, copied into its attempt records, events and spans."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.types import CallPurpose


@dataclass(frozen=True, slots=True)
class CallContext:
    """Where a call runs: its run, task and wave (empty outside a run), the comparison it
    belongs to (patterns), what it was made for, and the pattern step's name."""

    run_id: str = ""
    task_id: str = ""
    wave: int = 0
    comparison_id: str = ""
    purpose: CallPurpose = "task"
    label: str = ""  # a step's name inside a pattern ("moa: layer 1"), stored as the reason

    def but(self, **changes: object) -> "CallContext":
        """A copy with some fields changed (e.g. ``ctx.but(purpose="judge")``)."""
        return replace(self, **changes)  # type: ignore[arg-type]
