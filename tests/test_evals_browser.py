"""The Evals and Leaderboard pages in a real browser: Debian's chromium driven by Playwright
against ``streamlit run app.py`` on loopback, every provider in sandbox, a temporary ledger.

An eval suite is run from the Evals page and its matrix appears; the Leaderboard lists every
catalog model and draws the cost-against-quality scatter once an eval has measured some.
Screenshots go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from browser_support import ROOT, SHOTS, DashboardServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """A dashboard whose ledger already holds one eval of three sandbox models."""
    dashboard = DashboardServer(tmp_path_factory.mktemp("evals"), latency_scale=0.0)
    done = subprocess.run(  # its own process: Playwright's sync API holds this thread's loop
        [sys.executable, "-m", "core", "eval", "data/evals/extraction.yaml", "--json", "--db",
         str(dashboard.db_path), "--models",
         "openai:gpt-4o-mini,anthropic:claude-haiku-4-5,google:gemini-2.0-flash"],
        cwd=ROOT, env=dashboard.env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    dashboard.start()
    yield dashboard
    dashboard.stop()


def test_leaderboard_page_lists_every_model_and_draws_the_frontier(page: Page,
                                                                    server: DashboardServer):
    page.goto(f"{server.url}/leaderboard")
    expect(page.get_by_role("heading", name="Leaderboard").first).to_be_visible()
    expect(page.get_by_text("Cost against quality")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    grid = page.locator("[data-testid='stDataFrame']").first
    expect(grid).to_be_visible()
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / "leaderboard.png"))
    for model in ("openai:o3", "deepseek:deepseek-reasoner", "ollama:llama3.2"):
        expect(grid.get_by_text(model, exact=True)).to_be_attached()  # every model has a row


def test_evals_page_runs_a_suite_and_shows_its_matrix(page: Page, server: DashboardServer):
    page.goto(f"{server.url}/evals")
    expect(page.get_by_role("heading", name="Evals").first).to_be_visible()
    page.get_by_role("button", name="Run the suite").click()
    expect(page.get_by_text("Pass/fail matrix")).to_be_visible()
    expect(page.get_by_text(" passed · total $")).to_be_visible()
    expect(page.get_by_text("Per model")).to_be_visible()
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / "evals.png"))
