"""The Plan model: validation messages, waves, JSON schema, plan files and shipped templates."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from core.catalog import default_catalog, load_catalog
from core.errors import PlanError, UnknownModel
from core.planning.plan import parse_plan
from core.planning.plan import (
    UPSTREAM_MARKER,
    Plan,
    Task,
    list_plan_templates,
    load_plan_file,
    load_plan_template,
    plan_json_schema,
)


def make_plan(edges: dict[str, list[str]], **extra: object) -> Plan:
    """A plan whose tasks are ``edges`` keys, each depending on its listed ids."""
    tasks = [{"id": i, "title": i, "kind": "research", "prompt": f"do {i}", "depends_on": deps}
             for i, deps in edges.items()]
    return Plan.model_validate({"demand": "test", "tasks": tasks, **extra})


# ── validation ──────────────────────────────────────────────────────────────────────────────

def test_duplicate_ids_are_named() -> None:
    with pytest.raises(PlanError, match=r"^duplicate task id 'a'$"):
        Plan.model_validate({"demand": "d", "tasks": [
            {"id": "a", "title": "A", "kind": "research", "prompt": "x"},
            {"id": "a", "title": "A again", "kind": "writing", "prompt": "y"},
        ]})


def test_unknown_dependency_names_both_tasks() -> None:
    with pytest.raises(PlanError) as err:
        make_plan({"research": [], "draft": ["reserch"]})
    assert str(err.value) == "task 'draft' depends on unknown task 'reserch'"


def test_self_dependency() -> None:
    with pytest.raises(PlanError, match=r"^task 'a' depends on itself$"):
        make_plan({"a": ["a"]})


def test_cycle_is_shown_as_a_closed_path() -> None:
    with pytest.raises(PlanError) as err:
        make_plan({"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    message = str(err.value)
    assert message.startswith("cycle: a → b → c → a")
    assert "\n" not in message


def test_several_problems_reported_on_one_line() -> None:
    with pytest.raises(PlanError) as err:
        make_plan({"a": ["x"], "b": ["b"]})
    assert str(err.value) == "task 'a' depends on unknown task 'x'; task 'b' depends on itself"


def test_unknown_model_names_the_task_against_the_catalog_given() -> None:
    raw = {"demand": "d", "tasks": [
        {"id": "a", "title": "A", "kind": "code", "prompt": "x", "model": "openai:gpt-9"}]}
    with pytest.raises(UnknownModel, match=r"task 'a': unknown model 'openai:gpt-9'"):
        parse_plan(raw, default_catalog())
    other = load_catalog()
    other.models["openai:gpt-9"] = other.models["openai:gpt-4o"].model_copy(
        update={"id": "openai:gpt-9", "name": "gpt-9"})
    assert parse_plan(raw, other).tasks[0].model == "openai:gpt-9"  # that catalog's models


def test_known_model_tier_and_capabilities_accepted() -> None:
    plan = Plan.model_validate({"demand": "d", "tasks": [
        {"id": "a", "title": "A", "kind": "vote", "prompt": "x", "model": "openai:gpt-4o-mini",
         "tier": "economy", "capabilities": ["json_schema"], "complexity": 5}]})
    assert plan.tasks[0].max_output_tokens == 800


def test_repeated_capabilities_are_kept_once() -> None:
    task = Task(id="a", title="A", kind="research", prompt="x",
                capabilities=["stream", "tools", "stream"])
    assert task.capabilities == ["stream", "tools"]


@pytest.mark.parametrize("field, value", [
    ("kind", "dance"), ("complexity", 6), ("tier", "luxury"), ("capabilities", ["telepathy"]),
    ("max_output_tokens", 40_000), ("id", "Bad Id!"), ("colour", "red"),
])
def test_field_validation(field: str, value: object) -> None:
    task = {"id": "a", "title": "A", "kind": "research", "prompt": "x", field: value}
    with pytest.raises(Exception) as err:
        Plan.model_validate({"demand": "d", "tasks": [task]})
    assert field in str(err.value)


def test_task_needs_a_prompt_or_a_template() -> None:
    with pytest.raises(PlanError, match="task 'a' needs a prompt or a template"):
        Plan.model_validate({"demand": "d", "tasks": [{"id": "a", "title": "A",
                                                        "kind": "writing"}]})


# ── waves and ordering ──────────────────────────────────────────────────────────────────────

def test_waves_of_a_diamond() -> None:
    plan = make_plan({"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]})
    assert plan.waves() == [["top"], ["left", "right"], ["bottom"]]
    assert plan.wave_of("bottom") == 2
    assert plan.dependents("top") == ["left", "right"]


def test_waves_of_a_chain_listed_backwards() -> None:
    plan = make_plan({"d": ["c"], "c": ["b"], "b": ["a"], "a": []})
    assert plan.waves() == [["a"], ["b"], ["c"], ["d"]]
    assert plan.topological_order() == ["a", "b", "c", "d"]
    assert plan.critical_path() == ["a", "b", "c", "d"]


def test_waves_of_a_wide_dag_use_the_longest_dependency() -> None:
    edges = {f"r{i}": [] for i in range(6)} | {"mid": ["r0"], "join": ["mid", "r5"]}
    plan = make_plan(edges)
    assert plan.waves() == [[f"r{i}" for i in range(6)], ["mid"], ["join"]]
    assert plan.wave_of("join") == 2
    assert plan.critical_path() == ["r0", "mid", "join"]


def test_unknown_task_lookup_lists_ids() -> None:
    with pytest.raises(PlanError, match="no task 'z' in the plan; tasks are: a, b"):
        make_plan({"a": [], "b": []}).wave_of("z")


# ── JSON schema ─────────────────────────────────────────────────────────────────────────────

def _assert_strict(node: object) -> None:
    """No $ref anywhere; every object closed and with every property required."""
    if isinstance(node, dict):
        assert "$ref" not in node and "$defs" not in node
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert sorted(node["required"]) == sorted(node["properties"])
        for value in node.values():
            _assert_strict(value)
    elif isinstance(node, list):
        for value in node:
            _assert_strict(value)


def test_plan_schema_is_strict_compatible_and_accepts_a_valid_plan() -> None:
    schema = plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    _assert_strict(schema)
    plan = make_plan({"a": [], "b": ["a"]})
    jsonschema.validate(plan.planner_view(), schema)
    assert Plan.model_validate(plan.planner_view()) == plan


def test_plan_schema_rejects_extra_fields_and_bad_kinds() -> None:
    view = make_plan({"a": []}).planner_view()
    view["tasks"][0]["kind"] = "dance"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(view, plan_json_schema())
    view["tasks"][0] |= {"kind": "research", "colour": "red"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(view, plan_json_schema())


# ── plan files ──────────────────────────────────────────────────────────────────────────────

def test_load_json_and_yaml_files(tmp_path) -> None:
    plan = make_plan({"a": [], "b": ["a"]})
    (tmp_path / "p.json").write_text(plan.model_dump_json())
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(plan.model_dump(mode="json")))
    assert load_plan_file(tmp_path / "p.json") == plan
    assert load_plan_file(tmp_path / "p.yaml") == plan


@pytest.mark.parametrize("name, text, expected", [
    ("bad.json", '{"demand": "d", "tasks": [', r"^plan file bad\.json: not valid JSON: .*line 1"),
    ("bad.yaml", "demand: d\ntasks: [\n  - id: a\n", r"^plan file bad\.yaml: not valid YAML: .*line"),
    ("list.yaml", "- a\n- b\n", r"^plan file list\.yaml: a plan must be a mapping"),
    ("kind.yaml", "demand: d\ntasks:\n  - {id: a, title: A, kind: dance, prompt: x}\n",
     r"^plan file kind\.yaml: task 'a' kind: Input should be"),
    ("cycle.json", json.dumps({"demand": "d", "tasks": [
        {"id": "a", "title": "A", "kind": "research", "prompt": "x", "depends_on": ["b"]},
        {"id": "b", "title": "B", "kind": "research", "prompt": "y", "depends_on": ["a"]}]}),
     r"^plan file cycle\.json: cycle: a → b → a"),
    ("plan.txt", "demand: d", r"unsupported extension"),
])
def test_broken_plan_files_give_one_line_errors(tmp_path, name, text, expected) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(PlanError, match=expected) as err:
        load_plan_file(tmp_path / name)
    assert "\n" not in str(err.value)


def test_missing_plan_file(tmp_path) -> None:
    with pytest.raises(PlanError, match="cannot read it"):
        load_plan_file(tmp_path / "nope.yaml")


def test_shipped_templates_are_valid_multi_wave_plans() -> None:
    templates = list_plan_templates()
    assert {"vendor_comparison", "research_report", "code_review",
            "translate_and_summarise"} <= set(templates)
    for name in templates:
        plan = load_plan_template(name)
        assert len(plan.waves()) >= 3, name
        assert len(plan.waves()[0]) >= 2, f"{name} has no parallel first wave"


def test_unknown_plan_template_lists_names() -> None:
    with pytest.raises(PlanError, match="unknown plan template 'nope'; known: .*vendor_comparison"):
        load_plan_template("nope")


# ── template-backed tasks ───────────────────────────────────────────────────────────────────

def test_template_task_renders_its_prompt_and_round_trips() -> None:
    plan = Plan.model_validate({"demand": "d", "tasks": [
        {"id": "t", "title": "T", "kind": "translation", "template": "translate",
         "vars": {"language": "French", "text": "hello"}}]})
    task = plan.tasks[0]
    assert "into French" in task.prompt and "hello" in task.prompt
    assert task.tier == "economy"  # the template's preferred tier
    assert Plan.model_validate(plan.model_dump()) == plan


def test_template_input_points_at_dependencies() -> None:
    plan = load_plan_template("translate_and_summarise")
    assert UPSTREAM_MARKER in plan.task("summary-fr").prompt


def test_template_task_errors_name_the_task() -> None:
    with pytest.raises(PlanError, match=r"task 't': template 'translate' needs variable 'language'"):
        Plan.model_validate({"demand": "d", "tasks": [
            {"id": "t", "title": "T", "kind": "translation", "template": "translate",
             "vars": {"text": "hi"}}]})
    with pytest.raises(PlanError, match=r"task 't': unknown prompt template 'nope'"):
        Plan.model_validate({"demand": "d", "tasks": [
            {"id": "t", "title": "T", "kind": "writing", "template": "nope"}]})
    with pytest.raises(PlanError, match=r"task 't' has both a prompt and a template"):
        Plan.model_validate({"demand": "d", "tasks": [
            {"id": "t", "title": "T", "kind": "writing", "prompt": "x",
             "template": "explain_like_five", "vars": {"topic": "tides"}}]})
