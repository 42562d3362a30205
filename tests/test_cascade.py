"""Cascades: the agreement check, costs counted in full, frontier chosen on train only."""

from __future__ import annotations

import numpy as np
import pytest

from core.routing.cascade import evaluate_cascades, normalise_answer
from core.routing.learned import OutcomeTable
from core.routing.routerbench import read_routerbench
from tests.routerbench_tables import write_table


def test_answers_are_normalised_before_they_are_compared():
    assert normalise_answer("['B\\n']") == normalise_answer(" b. ") == "b"
    assert normalise_answer(None) == normalise_answer(float("nan")) == ""
    assert normalise_answer("Paris\nbecause …") == "paris"


def test_a_cascade_pays_both_cheap_calls_and_escalates_on_disagreement():
    responses = np.array([["A", "A", "A"], ["A", "B", "C"]], dtype=object)
    scores = np.array([[1, 1, 1], [0, 1, 1]], dtype=float)
    costs = np.array([[1, 2, 10], [1, 2, 10]], dtype=float)
    table = OutcomeTable(["p1", "p2"], ["c1", "c2", "big"], scores, costs, responses)
    points = {(q.cascade.answer, q.cascade.check, q.cascade.escalate): q
              for q in evaluate_cascades(table, table)}
    chosen = points[("c1", "c2", "big")]
    assert chosen.accuracy == 1.0
    assert chosen.cost_usd == pytest.approx(1 + 2 + 1 + 2 + 10)
    assert chosen.escalated == 0.5


def test_no_answers_no_cascade(tmp_path):
    bare = read_routerbench(write_table(tmp_path / "t.csv", rows=30, seed=1,
                                        with_responses=False))
    assert bare.responses is None
    assert evaluate_cascades(bare, bare) == []


def test_train_frontier_cascades_scored_on_test(tmp_path):
    train = read_routerbench(write_table(tmp_path / "train.csv", rows=200, seed=1))
    test = read_routerbench(write_table(tmp_path / "test.csv", rows=100, seed=2))
    points = evaluate_cascades(train, test)
    assert points, "answers are there, so cascades are"
    big = float(test.costs[:, test.models.index("big")].sum())
    best = max(points, key=lambda q: q.accuracy)
    assert best.cascade.escalate == "big"
    assert best.accuracy >= 0.8 and best.cost_usd < big
    assert points == evaluate_cascades(train, test), "deterministic"
