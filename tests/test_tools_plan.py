"""Plan tasks' ``tools:`` and ``tool_choice``: validated, and kept out of the planner's view."""

from __future__ import annotations

import pytest

from core.errors import PlanError
from core.planning.plan import Plan, Task, load_plan_file


def test_task_tool_settings_are_checked() -> None:
    with pytest.raises(PlanError, match="tool_choice 'clock'; use auto, required or one of"):
        Task(id="a", title="t", kind="analysis", prompt="p", tools=["calculator"],
             tool_choice="clock")
    with pytest.raises(ValueError, match="should match pattern"):
        Task(id="a", title="t", kind="analysis", prompt="p", tools=["not a name"])
    assert "tools" not in Plan(demand="d", tasks=[
        Task(id="a", title="t", kind="analysis", prompt="p", tools=["clock"])
    ]).planner_view()["tasks"][0]


def test_plan_files_carry_tools(tmp_path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("demand: sums\ntasks:\n  - id: sum\n    title: Multiply\n"
                    "    kind: analysis\n    prompt: What is 1234 * 5678?\n"
                    "    tools: [calculator, word_count]\n    tool_choice: required\n")
    [task] = load_plan_file(path).tasks
    assert task.tools == ["calculator", "word_count"] and task.tool_choice == "required"
    assert Task(id="b", title="t", kind="analysis", prompt="p").tools == []
