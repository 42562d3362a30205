"""Browser-test support: the dashboard served on a free loopback port, and Debian's chromium.

``DashboardServer`` starts ``streamlit run app.py`` with its own temporary ledger and policy
(a copy of the shipped file named by ``ORCHESTRA_POLICY``, or with ``layered_policy`` the
shipped file itself with a temporary local override, as ``make run`` uses it), extra environment
such as injected faults, and without any provider key (so every call goes to the sandbox), and waits (bounded)
for ``/_stcore/health``. ``launch_chromium`` starts the system chromium through the
``playwright`` package; there is never a browser download. When chromium is missing the caller
fails with the apt-get command to fix it. The ``browser`` and ``page`` fixtures (a pytest plugin,
see conftest) give every browser test module the same chromium set-up and one wait policy.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from core.catalog import default_catalog

if TYPE_CHECKING:  # Playwright loads only when a browser test asks for a browser
    from playwright.sync_api import BrowserContext, Page

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "screenshots"  # git-ignored
WAIT_MS = 60_000  # the one wait policy: every Playwright action and ``expect`` (see conftest)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = (
    "Debian's chromium is not installed at /usr/bin/chromium; the browser tests need it: "
    "run `apt-get install chromium` (or `make browser`)"
)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]
HEALTH_TIMEOUT_S = 60.0


def chromium_path() -> str | None:
    """The chromium executable, or None when it is not installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _provider_variables() -> set[str]:
    """Every provider key and base-URL variable: the served dashboard must stay in sandbox."""
    names = set()
    for provider in default_catalog().providers.values():
        names.update(v for v in (provider.key_env, provider.base_url_env) if v)
    return names


class DashboardServer:
    """``streamlit run app.py`` on 127.0.0.1 with a private ledger and policy file."""

    def __init__(self, workdir: Path, latency_scale: float = 0.2, *,
                 layered_policy: bool = False, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "streamlit.log"
        self.db_path = workdir / "ledger.duckdb"
        self.local_policy = workdir / "policy.local.toml"
        self.env = self._environment(workdir, latency_scale, layered_policy)
        self.env.update(extra_env or {})
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self, workdir: Path, latency_scale: float,
                     layered_policy: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _provider_variables()
               and not k.startswith("ORCHESTRA_")}
        env.update({
            "ORCHESTRA_DB": str(self.db_path),
            "ORCHESTRA_POLICY_LOCAL": str(self.local_policy),
            "ORCHESTRA_SANDBOX_LATENCY_SCALE": str(latency_scale),
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        })
        if not layered_policy:
            policy = workdir / "policy.toml"
            shutil.copy(ROOT / "data" / "policy.toml", policy)
            env["ORCHESTRA_POLICY"] = str(policy)
        return env

    def start(self) -> "DashboardServer":
        """Start the server and wait until it reports healthy (bounded)."""
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.address", "127.0.0.1", "--server.port", str(self.port),
                   "--server.fileWatcherType", "none"]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                             stderr=subprocess.STDOUT)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"streamlit not healthy after {HEALTH_TIMEOUT_S:g}s:\n{self.log()}")

    def log(self) -> str:
        """The server's output so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the server this object started."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None


def launch_chromium(playwright: Any, profile_dir: Path, executable: str,
                    viewport: tuple[int, int] = (1400, 2400)) -> Any:
    """Debian's chromium, headless, with a throwaway profile and no background networking.

    Playwright refuses ``--user-data-dir`` in ``args``; the profile directory goes through
    ``launch_persistent_context`` instead, which returns a browser context.
    """
    width, height = viewport
    return playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height},
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's chromium with a fresh profile (one per browser test module), under one wait
    policy: every Playwright action and ``expect`` wait up to ``WAIT_MS``."""
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    if executable is None:
        pytest.fail(CHROMIUM_MISSING)
    SHOTS.mkdir(exist_ok=True)
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("profile"), executable)
        context.set_default_timeout(WAIT_MS)
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A fresh tab (its own Streamlit session), 1400 px wide and tall enough that Streamlit's
    inner scroll area fits a whole-page screenshot."""
    tab = browser.new_page()
    yield tab
    tab.close()
