"""The Leaderboard page through Streamlit's AppTest, over a temporary ledger."""

from __future__ import annotations

import test_evals_pages
from core.ledger import Ledger
from core.ledger.outcomes import record_outcomes
from test_evals_pages import _page
from test_leaderboard import FLASH, MINI, _attempt, _outcome

ledger_path = test_evals_pages.ledger_path  # the same fixture: a private ledger file


def test_leaderboard_page_lists_models_and_draws_the_frontier(ledger_path):
    ledger = Ledger(ledger_path)
    a, b = _attempt(MINI, cost="0.001"), _attempt(FLASH, cost="0.002")
    ledger.record_attempts([a, b])
    record_outcomes(ledger, [_outcome(MINI, 0.9, "eval", a), _outcome(FLASH, 0.4, "eval", b)])
    at = _page("leaderboard")
    table = at.dataframe[0].value
    assert MINI in set(table["model"]) and "openai:o3" in set(table["model"])
    frontier = table.set_index("model")["pareto"]
    assert bool(frontier[MINI]) and not bool(frontier[FLASH])
    assert at.get("plotly_chart")
    at.multiselect[0].set_value(["premium"]).run()
    table = at.dataframe[0].value
    assert set(table["tier"]) == {"premium"}
    assert any("No model has both" in i.value for i in at.info)  # no premium model measured
