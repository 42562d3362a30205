"""The dashboard in a real browser: Debian's chromium driven by Playwright against
``streamlit run app.py`` on loopback, every provider in sandbox, a temporary ledger.

A run is started, reloaded mid-run and seen to finish; a past run opens from the Runs list; a
run under injected faults shows its failed attempts counted and marked; a per-run budget saved
on Models & budgets becomes the Run page's default without touching ``data/policy.toml``; a tiny
budget says why tasks did not run; saving ratings twice keeps one per answer. Screenshots of
every page at 1400 px go to ``screenshots/`` (git-ignored).

One wait policy: ``expect`` and every Playwright action wait up to ``WAIT_MS`` (Playwright's
``expect`` keeps its own 5 s unless told). No test depends on another: each gets a fresh tab,
and whatever it needs (a past run, a faulty server, a server with its own policy) comes from a
fixture.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from browser_support import ROOT, SHOTS, WAIT_MS, DashboardServer
from core.execution.runs import RunSession
from core.ledger import Ledger
from core.planning.planner import plan_offline
from ui.live import LiveRun

RUN_WAIT_MS = 120_000
DEMAND = "Compare PostgreSQL, DuckDB and SQLite for analytics and write a short report"
SHIPPED_POLICY = ROOT / "data" / "policy.toml"


def serve(tmp_path_factory: pytest.TempPathFactory, name: str, **options: object
          ) -> DashboardServer:
    """A dashboard on a free loopback port with its own ledger (see ``DashboardServer``)."""
    return DashboardServer(tmp_path_factory.mktemp(name), **options).start()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """The dashboard as `make run` serves it (shipped policy plus a temporary local override),
    sandbox latency at 1.0 so a run lasts long enough to be reloaded."""
    dashboard = serve(tmp_path_factory, "dashboard", latency_scale=1.0, layered_policy=True)
    yield dashboard
    dashboard.stop()


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    """A dashboard whose sandbox fails 40% of the calls (seeded)."""
    dashboard = serve(tmp_path_factory, "faulty", latency_scale=0.0, extra_env={
        "ORCHESTRA_SANDBOX_FAILURE_RATE": "0.4", "ORCHESTRA_SANDBOX_SEED": "11"})
    yield dashboard
    dashboard.stop()


@pytest.fixture(scope="module")
def past_run(server: DashboardServer) -> str:
    """A finished sandbox run in the server's ledger (run in this process on its own thread, as
    the dashboard runs one, without latency)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ORCHESTRA_SANDBOX_LATENCY_SCALE", "0")
        live = LiveRun.start(RunSession(plan_offline("Write a short note on DuckDB's storage "
                                                     "format"), db_path=server.db_path))
        assert live.wait(RUN_WAIT_MS / 1000) and live.summary is not None
    assert live.summary.status == "done", live.error
    return live.run_id


def open_page(page: Page, server: DashboardServer, path: str, title: str) -> None:
    """Go to one dashboard page and wait for its title."""
    page.goto(f"{server.url}/{path}")
    expect(page.get_by_role("heading", name=title).first).to_be_visible()


def shoot(page: Page, name: str) -> None:
    """A whole-page screenshot once every element has drawn: the viewport grows to the height
    of Streamlit's inner scroll area (a full-page screenshot would not see inside it)."""
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0)
    page.wait_for_timeout(800)  # plotly's last layout pass
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 900), 9000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 2400})


def idle(page: Page) -> None:
    """Wait until the app has finished its current rerun (Streamlit's running indicator)."""
    page.wait_for_timeout(200)
    expect(page.get_by_test_id("stStatusWidget").get_by_text("Running")).to_have_count(0)


def metric(page: Page, label: str) -> Locator:
    """The value of the metric with this label."""
    box = page.locator("[data-testid='stMetric']").filter(
        has=page.get_by_text(label, exact=True))
    return box.locator("[data-testid='stMetricValue']")


def plan_and_start(page: Page, budget: str | None = None) -> None:
    """Type the demand (and a budget), press 'Plan it', then 'Start run'."""
    page.get_by_label("Demand").fill(DEMAND)
    page.get_by_label("Demand").press("Control+Enter")
    if budget is not None:
        page.get_by_label("Budget (USD)", exact=True).fill(budget)
        page.get_by_label("Budget (USD)", exact=True).press("Enter")
    page.get_by_role("button", name="Plan it").click()
    expect(page.get_by_text("7 tasks in 5 waves")).to_be_visible()
    page.get_by_role("button", name=re.compile("Start run")).click()
    page.wait_for_url(re.compile(r"[?&]run=\w+"))


def test_a_run_reloaded_mid_run_is_still_running_then_finishes(page: Page,
                                                               server: DashboardServer) -> None:
    open_page(page, server, "", "Run")
    expect(page.get_by_text("Sandbox mode for every provider")).to_be_visible()
    plan_and_start(page)
    expect(page.get_by_text("Wave 1", exact=True)).to_be_visible()
    run_id = re.search(r"run=(\w+)", page.url).group(1)  # type: ignore[union-attr]
    page.reload()
    expect(page.get_by_text(re.compile(rf"Run {run_id} — running"))).to_be_visible()
    shoot(page, "run-live")
    expect(page.get_by_text("Deliverable — done")).to_be_visible(timeout=RUN_WAIT_MS)
    assert run_id in page.url
    expect(metric(page, "Tasks done")).to_have_text("7/7")
    expect(page.get_by_role("button", name="Download deliverable")).to_be_visible()
    expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible()
    shoot(page, "run-finished")


def test_a_past_run_opens_from_the_runs_list(page: Page, server: DashboardServer,
                                             past_run: str) -> None:
    open_page(page, server, "runs", "Runs")
    link = page.get_by_role("link", name=re.compile(past_run[:8]))
    expect(link).to_be_visible()
    shoot(page, "runs")
    link.click()
    expect(page.get_by_text("Deliverable — done")).to_be_visible()
    assert f"run={past_run}" in page.url
    final = next(t for t in Ledger(server.db_path).get_tasks(past_run) if t.task_id == "final")
    assert final.output
    first_line = final.output.strip().splitlines()[0].lstrip("# ").strip()[:40]
    expect(page.get_by_text(first_line).first).to_be_visible()
    expect(metric(page, "Failed attempts")).to_have_text("0")


def test_injected_faults_are_counted_and_marked(page: Page, faulty_server: DashboardServer
                                                ) -> None:
    open_page(page, faulty_server, "", "Run")
    plan_and_start(page)
    expect(page.get_by_text(re.compile(r"Deliverable — "))).to_be_visible(timeout=RUN_WAIT_MS)
    run_id = re.search(r"run=(\w+)", page.url).group(1)  # type: ignore[union-attr]
    failed = sum(a.status == "error" for a in Ledger(faulty_server.db_path).get_attempts(run_id))
    assert failed > 0, "40% injected faults should fail some attempts"
    expect(metric(page, "Failed attempts")).to_have_text(str(failed))
    expect(metric(page, "Retries")).to_be_visible()
    expect(metric(page, "Fallbacks")).to_be_visible()
    marks = page.locator("[data-testid='stPlotlyChart'] text", has_text="✗")
    expect(marks).to_have_count(failed)  # waits: plotly may still be drawing the chart
    shoot(page, "run-faults")


def test_a_saved_per_run_budget_is_the_run_pages_default(
        browser: BrowserContext, tmp_path_factory: pytest.TempPathFactory) -> None:
    shipped = SHIPPED_POLICY.read_bytes()
    clean_before = subprocess.run(["git", "diff", "--quiet", "--", str(SHIPPED_POLICY)],
                                  cwd=ROOT).returncode == 0
    dashboard = serve(tmp_path_factory, "budget", latency_scale=0.0, layered_policy=True)
    page = browser.new_page()
    try:
        open_page(page, dashboard, "models", "Models & budgets")
        page.get_by_label("Per run", exact=True).fill("0.2500")
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_text("Policy saved")).to_be_visible()
        shoot(page, "models")
        open_page(page, dashboard, "", "Run")
        expect(page.get_by_label("Budget (USD)", exact=True)).to_have_value("0.2500")
    finally:
        page.close()
        dashboard.stop()
    assert "per_run_usd = 0.25" in dashboard.local_policy.read_text()
    assert SHIPPED_POLICY.read_bytes() == shipped
    if clean_before:  # others' uncommitted edits aside, git sees no change
        assert subprocess.run(["git", "diff", "--quiet", "--", str(SHIPPED_POLICY)],
                              cwd=ROOT).returncode == 0


def test_a_tiny_budget_shows_why_tasks_did_not_run(page: Page, server: DashboardServer) -> None:
    open_page(page, server, "", "Run")
    plan_and_start(page, budget="0.0001")
    reason = page.get_by_text(re.compile(r"tasks did not finish"))
    expect(reason).to_be_visible(timeout=RUN_WAIT_MS)
    expect(page.get_by_text(re.compile(r"budget", re.IGNORECASE)).first).to_be_visible()
    shoot(page, "run-tiny-budget")


def test_saving_ratings_twice_keeps_one_rating_per_answer(page: Page,
                                                          server: DashboardServer) -> None:
    open_page(page, server, "compare", "Compare")
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("Explain DuckDB in two sentences.")
    prompt.press("Control+Enter")
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator("[data-testid='stCaptionContainer']", has_text="TTFT")).to_have_count(3)
    caption = page.locator("[data-testid='stCaptionContainer']", has_text="comparison ")
    comparison_id = re.search(r"comparison (\w+)", caption.inner_text()).group(1)  # type: ignore[union-attr]
    first = page.locator("[data-testid='stRadio']", has_text="Your rating of").first
    first.get_by_text("4★", exact=True).click()
    save = page.get_by_role("button", name="Save ratings")
    save.click()
    expect(page.get_by_text(re.compile("Saved your ratings of 3 answer"))).to_be_visible()
    first.get_by_text("5★", exact=True).click()
    idle(page)
    save.click()
    idle(page)
    # The first save's message is still on screen: wait (bounded) for the second write itself.
    deadline = time.monotonic() + WAIT_MS / 1000
    ratings = Ledger(server.db_path).get_ratings(comparison_id=comparison_id)
    while 5 not in {r.rating for r in ratings} and time.monotonic() < deadline:
        time.sleep(0.25)
        ratings = Ledger(server.db_path).get_ratings(comparison_id=comparison_id)
    assert len(ratings) == 3 and len({r.attempt_id for r in ratings}) == 3
    assert sorted(r.rating or 0 for r in ratings) == [0, 0, 5]
    shoot(page, "compare")


def test_history_shows_spend_failures_and_both_downloads(page: Page, server: DashboardServer,
                                                         past_run: str) -> None:
    open_page(page, server, "history", "History")
    expect(metric(page, "Spend")).to_be_visible()
    expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible()
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 5
    expect(page.get_by_text("Failures", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    expect(page.get_by_role("button", name="Download Parquet")).to_be_visible()
    shoot(page, "history")


def test_models_page_shows_catalog_keys_breakers_and_policy(page: Page,
                                                            server: DashboardServer) -> None:
    open_page(page, server, "models", "Models & budgets")
    expect(page.get_by_text("Budgets: today's burn")).to_be_visible()
    expect(page.get_by_text("Circuit breakers")).to_be_visible()
    expect(page.get_by_role("button", name="Save policy")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Edits are saved to .*policy\.local\.toml"))).to_be_visible()
    shoot(page, "models-page")

