"""Dashboard benchmark: the History page's time to draw at 100,000 attempts, its queries over
1,000,000 attempts, and how often a live run's (and a comparison's) progress reaches a page that
polls it.

Goals: History drawn within 1.5 s at 100,000 attempts (the whole page script, queries and
figures, through Streamlit's AppTest; and in chromium, from navigation until every chart has
drawn); each History-page query < 300 ms (median, end to end through the same core function the
page calls, so each timing includes opening and closing the ledger file); a live run visible to
the page at >= 2 updates per second.

Run: ``.venv/bin/python bench/dashboard_bench.py [--rows 1000000] [--draw-rows 100000]
[--scale 0.2] [--skip-live]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # ledger_bench's generator

from ledger_bench import machine, median_ms  # noqa: E402

from core import ledger as queries  # noqa: E402
from core.catalog import default_catalog  # noqa: E402
from ui.figures import baseline_price, run_choices, spend_today_by_provider  # noqa: E402
from core.ledger import HistoryFilter, Ledger  # noqa: E402
from core.policy import Policy  # noqa: E402
from core.settings import Settings  # noqa: E402

DRAW_GOAL_S = 1.5
PAGE_POLL_S = 0.4  # the Run page's fragment interval (app_pages/run.py POLL_S)
ROOT = Path(__file__).resolve().parent.parent
FINE_POLL_S = 0.05
DEMAND = "Compare PostgreSQL, DuckDB and SQLite for analytics and write a short report"


_FILL = """
INSERT INTO attempts BY NAME
SELECT 'gen-' || i AS attempt_id, 'run-' || (i % ?) AS run_id, 't' || (i % 7) AS task_id,
       '' AS comparison_id, (i % 5)::INTEGER AS wave, 1 + (i % 3)::INTEGER AS attempt_no,
       p AS provider, p || ':model-' || (i % 3) AS model,
       ['economy', 'balanced', 'premium'][1 + (i % 3)] AS tier, 'sandbox' AS mode,
       CASE WHEN i % 9 = 0 THEN 'error' ELSE 'ok' END AS status,
       CASE WHEN i % 9 = 0 THEN ['RateLimited', 'ServerError', 'Overloaded'][1 + (i % 27) // 9]
            ELSE '' END AS error_class,
       '' AS error_message, 200 AS http_status, 200 + (i % 800) AS input_tokens,
       50 + (i % 400) AS output_tokens, (i % 100)::BIGINT AS cached_input_tokens,
       0::BIGINT AS reasoning_tokens, ((i % 1000) / 1e6)::DECIMAL(18, 8) AS cost_usd,
       100.0 + (i % 5000) AS latency_ms, 50.0 + (i % 900) AS ttft_ms, '' AS fallback_from,
       '' AS reason, ts AS started_at, ts + INTERVAL 1 SECOND AS ended_at, ts::DATE AS day
FROM (SELECT i, ? [1 + (i % len(?))] AS p,
             TIMESTAMP '2025-01-01' + (i * 157) * INTERVAL 1 SECOND AS ts
      FROM range(?) r(i))
"""
_RUNS = """INSERT INTO runs BY NAME
SELECT run_id, 'bench demand ' || run_id AS demand, min(started_at) AS created_at,
       'done' AS status, 'sandbox' AS mode, max(ended_at) AS finished_at
FROM attempts GROUP BY run_id"""
PROVIDERS = ["anthropic", "openai", "google", "perplexity", "groq", "xai", "deepseek"]


def generate(ledger: Ledger, rows: int, runs: int = 10_000) -> float:
    """Fill the ledger with ``rows`` synthetic attempts (a failure in nine, three error
    classes, seven providers, ~6 months) and their runs, DuckDB-side; return seconds taken.
    Columns added by later migrations keep their defaults (``INSERT ... BY NAME``)."""
    began = time.perf_counter()

    def work(con):  # type: ignore[no-untyped-def]
        con.execute(_FILL, [max(min(runs, rows // 10), 1), PROVIDERS, PROVIDERS, rows])
        con.execute(_RUNS)

    ledger.transact(work)
    return time.perf_counter() - began


def history_queries(flt: HistoryFilter) -> dict[str, Callable[[], object]]:
    """The calls the History page makes for one filter (plus the Models page's burn query)."""
    _, price = baseline_price(default_catalog(), Policy())
    return {
        "headline (with baseline)": lambda: queries.headline(flt, baseline=price),
        "spend_by_provider_day": lambda: queries.spend_by_provider_day(flt),
        "provider_share": lambda: queries.provider_share(flt),
        "latency_by_model": lambda: queries.latency_by_model(flt),
        "tokens_over_time": lambda: queries.tokens_over_time(flt),
        "cost_per_run (30)": lambda: queries.cost_per_run(flt, limit=30),
        "attempts_page (page 1)": lambda: queries.attempts_page(flt, limit=50),
        "attempts_page (page 200)": lambda: queries.attempts_page(flt, limit=50, offset=9_950),
        "run filter choices (100 runs)": lambda: run_choices(Ledger(), 100),
        "today's spend per provider (Models page)": lambda: spend_today_by_provider(Ledger()),
    }


def history_bench(rows: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median ms of every History-page query, unfiltered and with a month + 2 providers."""
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        os.environ["ORCHESTRA_DB"] = str(path)
        seconds = generate(Ledger(path), rows)
        print(f"generated {rows:,} attempts in {seconds:.1f} s")
        month = HistoryFilter(since="2025-03-01", until="2025-03-31",
                              providers=["openai", "groq"])
        return {label: {name: median_ms(call, repeats) for name, call in
                        history_queries(flt).items()}
                for label, flt in (("all", HistoryFilter()), ("1 month, 2 providers", month))}


def draw_bench(rows: int, repeats: int, browser: bool = True) -> dict[str, float]:
    """The History page drawn over ``rows`` attempts: the whole page script through AppTest
    (first draw after opening the app, then reruns), and chromium's time from navigation until
    every chart has drawn."""
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory(prefix="dashboard-draw-") as tmp:
        path = Path(tmp) / "draw.duckdb"
        os.environ["ORCHESTRA_DB"] = str(path)
        generate(Ledger(path), rows)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        began = time.perf_counter()
        at.switch_page("app_pages/history.py").run()
        first = time.perf_counter() - began
        assert not at.exception, at.exception
        charts = len(at.get("plotly_chart"))
        reruns = []
        for _ in range(repeats):
            began = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - began)
        drawn = browser_draw(Path(tmp)) if browser else {}
    return {"attempts": rows, "charts": charts, "script, first draw s": first,
            "script, rerun median s": statistics.median(reruns), **drawn}


def browser_draw(workdir: Path) -> dict[str, float]:
    """Seconds from navigating to History until its charts have drawn, in headless chromium
    against a served dashboard on the same ledger (first visit, then a second one)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_support import DashboardServer, chromium_path, launch_chromium
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        return {}
    (workdir / "served").mkdir()
    server = DashboardServer(workdir / "served", latency_scale=0.0)
    server.env["ORCHESTRA_DB"] = os.environ["ORCHESTRA_DB"]
    server.start()
    timings = []
    try:
        with sync_playwright() as playwright:
            context = launch_chromium(playwright, workdir / "profile", executable)
            page = context.new_page()
            page.goto(server.url)  # the app's first page, so imports are not counted
            page.get_by_role("heading", name="Run").first.wait_for(timeout=120_000)
            for _ in range(3):
                began = time.perf_counter()
                page.goto(f"{server.url}/history")
                page.locator(".js-plotly-plot .main-svg").nth(6).wait_for(timeout=120_000)
                page.locator("[data-testid='stSkeleton']").first.wait_for(state="detached",
                                                                       timeout=120_000)
                timings.append(time.perf_counter() - began)
            context.close()
    finally:
        server.stop()
    return {"chromium, first visit s": timings[0],
            "chromium, later visits median s": statistics.median(timings[1:])}


def poll(source: Callable[[], int], done: Callable[[], bool], interval: float) -> list[int]:
    """Sample ``source()`` (a growing count) every ``interval`` s until ``done()``."""
    samples = [source()]
    while not done():
        time.sleep(interval)
        samples.append(source())
    samples.append(source())
    return samples


def update_rate(samples: list[int], interval: float) -> tuple[float, float]:
    """(updates/s: polls that saw something new, items/s) over the sampled span."""
    span = max((len(samples) - 1) * interval, interval)
    changed = sum(1 for a, b in zip(samples, samples[1:]) if b > a)
    return changed / span, (samples[-1] - samples[0]) / span


def run_bench(budget: Decimal) -> dict[str, float]:
    """A sandbox run polled as the Run page's fragment does it, plus one polled every 50 ms."""
    from ui.jobs import start_run
    from core.planning.planner import plan_offline
    from ui.views import board_from_events

    with tempfile.TemporaryDirectory(prefix="dashboard-run-") as tmp:
        os.environ["ORCHESTRA_DB"] = str(Path(tmp) / "run.duckdb")
        plan = plan_offline(DEMAND)
        page = start_run(plan, budget, Settings.from_environ(os.environ))
        seen_at: dict[int, float] = {}
        while not page.done:
            time.sleep(PAGE_POLL_S)
            now = time.time()
            for index, _ in enumerate(page.events()):
                seen_at.setdefault(index, now)
        delays = [seen_at.get(i, time.time()) - e.ts for i, e in enumerate(page.events())]
        fine = start_run(plan, budget, Settings.from_environ(os.environ))
        fine_samples = poll(lambda: len(fine.events()), lambda: fine.done, FINE_POLL_S)
        events = fine.events()
        fold_ms = median_ms(lambda: board_from_events(plan, events), 20)
    bursts, events_per_s = update_rate(fine_samples, FINE_POLL_S)
    return {"tasks": len(plan.tasks), "events": len(events), "events/s": events_per_s,
            "event bursts/s (50 ms poll)": bursts,
            "event → page delay p50 s": statistics.median(delays),
            "event → page delay max s": max(delays), "board fold ms": fold_ms,
            "makespan s": fine.summary.makespan_s if fine.summary else float("nan")}


def page_refresh_bench(budget: Decimal) -> dict[str, float]:
    """The Run page re-rendered (whole script, through AppTest) while a run goes on: how long
    one refresh takes, hence how many refreshes per second the page can show."""
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory(prefix="dashboard-page-") as tmp:
        os.environ["ORCHESTRA_DB"] = str(Path(tmp) / "page.duckdb")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        at.text_area[0].set_value(DEMAND)
        next(b for b in at.button if b.label == "Plan it").click().run()
        next(b for b in at.button if b.label.startswith("Start run")).click().run()
        from ui.components import live_runs
        live = live_runs().get(at.query_params["run"])
        refresh_ms = []
        while not live.done:
            began = time.perf_counter()
            at.run()
            refresh_ms.append((time.perf_counter() - began) * 1000)
        return {"refreshes measured": len(refresh_ms),
                "refresh p50 ms": statistics.median(refresh_ms),
                "refresh max ms": max(refresh_ms),
                "page refreshes/s (fragment every 0.4 s)": 1 / max(PAGE_POLL_S, statistics.median(
                    refresh_ms) / 1000)}


def compare_bench() -> dict[str, float]:
    """A 3-model comparison's streamed text as a 50 ms poller sees it."""
    from ui.jobs import CompareJob, default_compare_models

    with tempfile.TemporaryDirectory(prefix="dashboard-compare-") as tmp:
        os.environ["ORCHESTRA_DB"] = str(Path(tmp) / "compare.duckdb")
        job = CompareJob.start("Explain DuckDB in two sentences.",
                               default_compare_models(default_catalog()),
                               settings=Settings.from_environ(os.environ))
        samples = poll(lambda: job.deltas, lambda: job.done, FINE_POLL_S)
    updates, deltas = update_rate(samples, FINE_POLL_S)
    return {"deltas": samples[-1], "deltas/s": deltas, "updates/s (50 ms poll)": updates}


def main() -> None:
    """Run every part and print a markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--scale", type=float, default=0.2,
                        help="ORCHESTRA_SANDBOX_LATENCY_SCALE for the live parts")
    parser.add_argument("--draw-rows", type=int, default=100_000)
    parser.add_argument("--skip-live", action="store_true", help="History parts only")
    parser.add_argument("--no-browser", action="store_true", help="no chromium timing")
    args = parser.parse_args()
    os.environ["ORCHESTRA_SANDBOX_LATENCY_SCALE"] = str(args.scale)
    print(f"machine: {machine()}\n")
    print(f"History drawn at {args.draw_rows:,} attempts (goal < {DRAW_GOAL_S} s):")
    for name, value in draw_bench(args.draw_rows, args.repeats, not args.no_browser).items():
        print(f"  {name}: {value:.2f}")
    timings = history_bench(args.rows, args.repeats)
    print(f"| History query over {args.rows:,} attempts | all, median ms | "
          "1 month + 2 providers, median ms |\n|---|---:|---:|")
    for name in timings["all"]:
        print(f"| {name} | {timings['all'][name]:.0f} | "
              f"{timings['1 month, 2 providers'][name]:.0f} |")
    print(f"| **whole page (sum)** | {sum(timings['all'].values()):.0f} | "
          f"{sum(timings['1 month, 2 providers'].values()):.0f} |")
    if args.skip_live:
        return
    print(f"\nlive run (sandbox latency scale {args.scale}):")
    for name, value in run_bench(Decimal("5")).items():
        print(f"  {name}: {value:.2f}")
    print("\nRun page refreshes during a live run (AppTest, whole script):")
    for name, value in page_refresh_bench(Decimal("5")).items():
        print(f"  {name}: {value:.2f}")
    print(f"\ncompare, 3 models (sandbox latency scale {args.scale}):")
    for name, value in compare_bench().items():
        print(f"  {name}: {value:.2f}")


if __name__ == "__main__":
    main()
