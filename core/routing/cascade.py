"""Cascades: answer with a cheap model, check the answer, escalate when the check fails.

The check here is agreement: a second, cheap model answers the same prompt, and when the two
normalised answers differ the prompt goes to a stronger model. Its cost is always counted (both
cheap calls are paid; the strong one only on escalation). ``evaluate_cascades`` picks, on the
train table alone, the cascades (answer, check, escalate) that lie on the cost–quality frontier,
and reports those same cascades' points on the test table: the second curve of ``router eval``.
Tables without answer texts (no ``<model>|model_response``) have nothing to check; then there
is no cascade curve.
"""

from __future__ import annotations

import ast
import itertools
import re

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from core.routing.learned import OutcomeTable

_EDGES = re.compile(r"^[\s\"'`.,:;!()\[\]]+|[\s\"'`.,:;!()\[\]]+$")


class Cascade(BaseModel):
    """Answer with ``answer``; when ``check`` answers differently, use ``escalate``."""

    answer: str
    check: str
    escalate: str


class CascadePoint(BaseModel):
    """A cascade's accuracy and total cost (both cheap calls, escalations included) on a table,
    and the share of prompts it escalated."""

    cascade: Cascade
    accuracy: float
    cost_usd: float
    escalated: float


def normalise_answer(raw: object) -> str:
    """An answer as compared by the check: list literals joined, first line, trimmed of
    quotes, brackets and punctuation at the edges, case-folded (empty for no answer)."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return ""
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parts = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parts = None
        if isinstance(parts, list):
            text = " ".join(str(p) for p in parts)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return _EDGES.sub("", first).casefold()


def _answers(table: OutcomeTable) -> NDArray[np.object_] | None:
    if table.responses is None:
        return None
    answers: NDArray[np.object_] = np.vectorize(normalise_answer, otypes=[object])(
        table.responses)
    return answers


def _score(table: OutcomeTable, answers: NDArray[np.object_],
           triple: tuple[int, int, int]) -> tuple[float, float, float]:
    """(accuracy, total cost, escalated share) of one cascade on the table."""
    first, check, strong = triple
    agree = (answers[:, first] == answers[:, check]) & (answers[:, first] != "")
    scores = np.nan_to_num(np.where(agree, table.scores[:, first], table.scores[:, strong]),
                           nan=0.0)
    cost = table.costs[:, first] + table.costs[:, check] + np.where(
        agree, 0.0, table.costs[:, strong])
    return float(scores.mean()), float(cost.sum()), float(1.0 - agree.mean())


def _frontier(points: list[tuple[tuple[int, int, int], float, float]]) -> list[tuple[int, int, int]]:
    """The triples whose (cost, accuracy) nothing cheaper beats, cheapest first."""
    chosen, best = [], -1.0
    for triple, accuracy, cost in sorted(points, key=lambda p: (p[2], -p[1])):
        if accuracy > best:
            chosen.append(triple)
            best = accuracy
    return chosen


def evaluate_cascades(train: OutcomeTable, test: OutcomeTable) -> list[CascadePoint]:
    """The train-frontier cascades, scored on ``test`` (empty when either lacks answers).

    The two tables must name the same models (``test`` is re-ordered to ``train``'s).
    """
    train_answers, test_answers = _answers(train), _answers(test)
    if train_answers is None or test_answers is None:
        return []
    index = {m: j for j, m in enumerate(test.models)}
    shared = [j for j, m in enumerate(train.models) if m in index]
    triples = [t for t in itertools.permutations(shared, 3)
               if train.costs[:, t[0]].sum() <= train.costs[:, t[2]].sum()]
    on_train = [(t, *_score(train, train_answers, t)[:2]) for t in triples]
    result = []
    for triple in _frontier(on_train):
        mapped = tuple(index[train.models[j]] for j in triple)
        accuracy, cost, escalated = _score(test, test_answers, mapped)  # type: ignore[arg-type]
        names = [train.models[j] for j in triple]
        result.append(CascadePoint(
            cascade=Cascade(answer=names[0], check=names[1], escalate=names[2]),
            accuracy=accuracy, cost_usd=cost, escalated=escalated))
    return result
