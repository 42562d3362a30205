"""Offline evaluation: the curve maths, the table reader's errors, and a router that must learn
who is good at what on a table whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from core.routing.evaluation import (
    Point,
    aiq,
    best_single,
    cheapest_reaching,
    cross_validate,
    evaluate,
    hull,
    oracle,
    points_of,
    realized,
    singles,
    target_points_of,
)
from core.routing.learned import OutcomeTable, choose
from core.routing.routerbench import prompt_text, read_routerbench
from tests.routerbench_tables import write_table


def p(cost: float, accuracy: float) -> Point:
    return Point(accuracy=accuracy, cost_usd=cost)


def test_hull_is_upper_convex_and_non_decreasing():
    points = [p(1, 0.5), p(2, 0.55), p(3, 0.8), p(4, 0.7), p(5, 0.9), p(2.5, 0.4)]
    assert [(q.cost_usd, q.accuracy) for q in hull(points)] == [(1, 0.5), (3, 0.8), (5, 0.9)]


def test_aiq_is_the_mean_accuracy_over_the_range():
    line = [p(0, 0.0), p(10, 1.0)]
    assert aiq(line, 0, 10) == pytest.approx(0.5, abs=1e-6)
    assert aiq(line, 0, 20) == pytest.approx(0.75, abs=1e-6), "flat after the last point"
    assert aiq([p(5, 1.0)], 0, 10) == pytest.approx(0.5, abs=1e-3), "nothing below the first"
    assert aiq([p(0, 0.2), p(1, 0.6), p(10, 0.6)], 0, 10) == pytest.approx(0.58, abs=1e-3)


def test_singles_oracle_and_missing_scores():
    table = OutcomeTable(["a", "b", "c", "d"], ["cheap", "dear"],
                         np.array([[1, 1], [0, 1], [0, 0], [np.nan, 1]], dtype=float),
                         np.array([[1, 10]] * 4, dtype=float))
    by_name = {s.model: s for s in singles(table)}
    assert (by_name["cheap"].accuracy, by_name["cheap"].cost_usd) == (0.25, 4.0)
    assert (by_name["dear"].accuracy, by_name["dear"].cost_usd) == (0.75, 40.0)
    assert best_single(singles(table)).model == "dear"
    best = oracle(table)
    assert (best.accuracy, best.cost_usd) == (0.75, 1 + 10 + 1 + 10)
    assert cheapest_reaching([p(3, 0.7), p(2, 0.8), p(1, 0.5)], 0.75) == 2
    assert cheapest_reaching([p(1, 0.5)], 0.75) is None


def test_prompt_text_reads_list_literals():
    assert prompt_text("['first', 'second']") == "first\n\nsecond"
    assert prompt_text("[not a list") == "[not a list"
    assert prompt_text(None) == ""


@pytest.mark.parametrize("content, fragment", [
    ("prompt,a,b\nx,1,0\n", "no model columns"),
    ("text,a,a|total_cost\nx,1,0.1\n", "no 'prompt' column"),
    ("prompt,a,a|total_cost,b,b|total_cost\nx,2,0.1,1,0.1\n", "outside [0, 1]"),
    ("prompt,a,a|total_cost,b,b|total_cost\nx,1,cheap,1,0.1\n", "not a number"),
    ("prompt,a,a|total_cost,b,b|total_cost\nx,1,-1,1,0.1\n", "negative"),
])
def test_bad_tables_get_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_routerbench(path)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_routerbench(tmp_path / "absent.csv")


def test_too_small_a_train_table_is_refused(tmp_path):
    table = read_routerbench(write_table(tmp_path / "t.csv", rows=10, seed=1))
    with pytest.raises(ConfigError, match="at least 20"):
        cross_validate(table)


def test_router_learns_who_is_good_at_what(tmp_path):
    train = read_routerbench(write_table(tmp_path / "train.csv", rows=240, seed=1))
    test = read_routerbench(write_table(tmp_path / "test.csv", rows=120, seed=2))
    result = evaluate(train, test)
    assert result.best_single.model == "big"
    assert result.router_aiq > result.zero_router_aiq + 0.05
    assert result.cost_to_match_best_single_usd is not None
    assert result.cost_to_match_best_single_usd < 0.75 * result.best_single.cost_usd
    knobs = [pt.knob for pt in result.points]
    assert knobs[0] == 0.0 and knobs[-1] == 1.0
    cheapest = min(s.cost_usd for s in result.singles)
    assert result.points[0].cost_usd == pytest.approx(cheapest, rel=0.05), "knob 0: cheapest"
    assert result.chosen.features and result.cv[0] == result.chosen
    assert result.train_data_hash == train.data_hash()
    targets = [pt.knob for pt in result.target_points]
    assert targets[0] == 0.0 and targets[-1] == 1.0
    assert {pt.mode for pt in result.points} == {"weight"}
    assert {pt.mode for pt in result.target_points} == {"target"}
    swept = result.points + result.target_points
    assert {(pt.cost_usd, pt.accuracy) for pt in result.router_hull} <= {
        (pt.cost_usd, pt.accuracy) for pt in swept}, "the hull is made of the router's points"


@pytest.mark.parametrize("seed", range(6))
def test_swept_points_are_the_choices_of_each_knob(seed):
    rng = np.random.default_rng(seed)
    rows, models = int(rng.integers(1, 40)), int(rng.integers(2, 6))
    quality = np.round(rng.random((rows, models)), 1 + seed % 2)  # ties, too
    cost = rng.random((rows, models)) * (1e-4 if seed % 2 else 1.0)
    cost[rng.random((rows, models)) < 0.15] = np.nan  # an unpriced candidate on some prompts
    scores = rng.random((rows, models))
    scores[rng.random((rows, models)) < 0.1] = np.nan
    table = OutcomeTable([str(i) for i in range(rows)], [str(j) for j in range(models)], scores,
                         np.nan_to_num(cost, nan=1.0))
    knobs = (0.0, 0.2, 0.5, 0.9, 1.0)
    for point, knob in zip(points_of(quality, cost, table, knobs), knobs, strict=True):
        expected = realized(table, choose(quality, cost, weight=knob))
        assert (point.accuracy, point.cost_usd) == pytest.approx(expected)
        assert point.knob == knob and point.mode == "weight"
    for point, target in zip(target_points_of(quality, cost, table, knobs), knobs, strict=True):
        expected = realized(table, choose(quality, cost, target=target))
        assert (point.accuracy, point.cost_usd) == pytest.approx(expected)
        assert point.knob == target and point.mode == "target"


def test_the_test_table_never_changes_a_choice(tmp_path):
    train = read_routerbench(write_table(tmp_path / "train.csv", rows=120, seed=3))
    first = evaluate(train, read_routerbench(write_table(tmp_path / "a.csv", rows=60, seed=4)))
    other = evaluate(train, read_routerbench(write_table(tmp_path / "b.csv", rows=60, seed=5)))
    assert first.chosen == other.chosen and first.cv == other.cv
    assert first.train_data_hash == other.train_data_hash
