"""The dashboard in a real browser: Debian's chromium driven by Playwright against
``streamlit run app.py`` on loopback, every provider in sandbox, a temporary ledger.

A sandbox run is submitted on the Run page and watched wave by wave to its summary and
timeline; a comparison of three models shows three answers; History and Models & budgets
render the result. Screenshots of each page go to ``screenshots/`` (git-ignored). Every wait
is bounded. Without chromium these tests fail and say how to install it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from browser_support import (
    CHROMIUM_MISSING, ROOT, DashboardServer, chromium_path, launch_chromium,
)

SHOTS = ROOT / "screenshots"
WAIT_MS = 30_000
RUN_DEADLINE_S = 90.0
DEMAND = "Compare PostgreSQL, DuckDB and SQLite for analytics and write a short report"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """The dashboard on a free loopback port (sandbox latency at 0.2 so waves are visible)."""
    dashboard = DashboardServer(tmp_path_factory.mktemp("dashboard"), latency_scale=0.2).start()
    yield dashboard
    dashboard.stop()


@pytest.fixture(scope="module")
def page(server: DashboardServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One chromium tab, tall enough that Streamlit's inner scroll area fits a screenshot."""
    executable = chromium_path()
    if executable is None:
        pytest.fail(CHROMIUM_MISSING)
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("profile"), executable)
        context.set_default_timeout(WAIT_MS)
        tab = context.new_page()
        # The root URL first, as `make run` opens it.
        open_page(tab, server, "", "Run")
        yield tab
        context.close()


def open_page(page: Page, server: DashboardServer, path: str, title: str) -> None:
    """Go to one dashboard page and wait for its title."""
    page.goto(f"{server.url}/{path}")
    expect(page.get_by_role("heading", name=title).first).to_be_visible()


def done_cards(page: Page) -> int:
    """How many task cards currently say 'done on'."""
    return page.locator("[data-testid='stCaptionContainer']", has_text="done on").count()


def test_a_sandbox_run_goes_wave_by_wave_to_its_summary(page: Page,
                                                         server: DashboardServer) -> None:
    open_page(page, server, "", "Run")
    expect(page.get_by_text("Sandbox mode for every provider")).to_be_visible()
    page.get_by_label("Demand").fill(DEMAND)
    page.get_by_role("button", name="Plan it").click()
    expect(page.get_by_text("Plan preview")).to_be_visible()
    expect(page.get_by_text("7 tasks in 5 waves")).to_be_visible()
    page.get_by_role("button", name=re.compile("Start run")).click()
    expect(page.get_by_text("Wave 1", exact=True)).to_be_visible()
    seen: list[int] = []
    deadline = time.monotonic() + RUN_DEADLINE_S
    summary = page.get_by_text(re.compile(r"Summary — "))
    while time.monotonic() < deadline and not summary.is_visible():
        seen.append(done_cards(page))
        if len(seen) == 3:
            page.screenshot(path=str(SHOTS / "run-live.png"))
        time.sleep(0.3)
    expect(summary).to_be_visible(timeout=1)
    progress = sorted(set(n for n in seen if 0 < n < 7))
    assert len(progress) >= 2, f"expected to watch waves finish one after another, saw {seen}"
    expect(page.get_by_text("Summary — done")).to_be_visible()
    assert done_cards(page) == 7
    expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible()
    expect(page.get_by_text("Makespan")).to_be_visible()
    expect(page.get_by_role("button", name="Download Markdown")).to_be_visible()
    page.screenshot(path=str(SHOTS / "run-summary.png"))


def test_a_comparison_of_three_models_shows_three_answers(page: Page,
                                                          server: DashboardServer) -> None:
    open_page(page, server, "compare", "Compare")
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("Explain DuckDB in two sentences.")
    prompt.press("Control+Enter")
    page.get_by_role("button", name="Compare", exact=True).click()
    stats = page.locator("[data-testid='stCaptionContainer']", has_text="TTFT")
    expect(stats).to_have_count(3)
    expect(page.get_by_text("Rate the answers")).to_be_visible()
    page.screenshot(path=str(SHOTS / "compare.png"))


def test_history_shows_the_run_and_the_comparison(page: Page, server: DashboardServer) -> None:
    open_page(page, server, "history", "History")
    expect(page.get_by_text("Spend", exact=True)).to_be_visible()
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(5)
    expect(page.get_by_role("button", name=re.compile("Download CSV"))).to_be_visible()
    page.wait_for_timeout(1500)  # let plotly finish drawing before the screenshot
    page.screenshot(path=str(SHOTS / "history.png"))


def test_models_page_shows_catalog_budgets_and_policy(page: Page, server: DashboardServer) -> None:
    open_page(page, server, "models", "Models & budgets")
    expect(page.get_by_text("Budgets: today's burn")).to_be_visible()
    expect(page.get_by_role("button", name="Save policy")).to_be_visible()
    page.screenshot(path=str(SHOTS / "models.png"))
