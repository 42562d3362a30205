"""Small Streamlit pieces every page uses: the dashboard's settings, the sandbox banner, empty
states, task cards.

``dashboard_settings`` is the dashboard's entry point in the sense of ``core.settings``: it
reads the environment and ``.streamlit/secrets.toml`` once per page run into a ``Settings``
that pages and background jobs pass down. Secrets never go into ``os.environ``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import streamlit as st

from core.catalog import default_catalog
from core.calls.gateway import Gateway
from core.calls.resilience import BreakerBoard
from core.settings import Settings
from ui.live import LiveRuns
from ui.views import HEADLINE_CHARS, TaskCard, sandbox_banner

RUN_PARAM = "run"  # the query parameter that names the run a Run page shows (?run=ID)
# Metric values wrap instead of being cut off with "…", at a size that fits four to a row.
PAGE_CSS = """<style>
[data-testid="stMetricValue"] { font-size: 1.55rem; }
[data-testid="stMetricValue"] > div { white-space: normal; overflow: visible;
  text-overflow: clip; overflow-wrap: anywhere; }
[data-testid="stMetricLabel"] > div { white-space: normal; }
</style>"""
STATUS_ICONS = {
    "queued": "⏳", "running": "🔄", "retrying": "🔁", "done": "✅", "failed": "❌",
    "skipped": "⏭️", "cancelled": "⛔",
}


@dataclass
class DashboardChoices:
    """What a person chose for this dashboard process, over its environment (not saved)."""

    sandbox_text: bool | None = None  # sandbox answers' text from the local model; None = env


@st.cache_resource
def dashboard_choices() -> DashboardChoices:
    """The dashboard process's choices: every page and job sees the same ones."""
    return DashboardChoices()


def secret_values(names: Iterable[str]) -> dict[str, str]:
    """The entries of ``.streamlit/secrets.toml`` among ``names`` (top-level entries named like
    the environment variables, e.g. ``ANTHROPIC_API_KEY = "..."``) that hold a value."""
    try:
        secrets = {name: st.secrets[name] for name in st.secrets}
    except FileNotFoundError:  # no secrets file: the environment alone decides
        return {}
    return {name: value for name in names
            if isinstance(value := secrets.get(name), str) and value.strip()}


def dashboard_settings() -> Settings:
    """This page run's settings: the environment, with the secrets file filling any provider
    key or base URL the environment leaves unset (the environment wins), and the process's
    choices (real sandbox text) applied."""
    catalog = default_catalog()
    names = {v for p in catalog.providers.values() for v in (p.key_env, p.base_url_env) if v}
    environ = {**secret_values(names), **{k: v for k, v in os.environ.items() if v.strip()}}
    settings = Settings.from_environ(environ)
    text = dashboard_choices().sandbox_text
    if text is None:
        return settings
    return settings.with_sandbox(text="local" if text else "generated")


@st.cache_resource
def shared_breakers() -> BreakerBoard:
    """The dashboard process's circuit breakers: every run started here feeds them, and the
    Models & budgets page shows their state."""
    return BreakerBoard(dashboard_settings().policy.breaker)


@st.cache_resource
def live_runs() -> LiveRuns:
    """The runs this dashboard process started: a reload or another tab reattaches to them."""
    return LiveRuns()


def page_header(title: str, caption: str = "") -> tuple[Settings, Gateway]:
    """The page title, its caption and the sandbox (and local-only) banners; returns the page
    run's settings and a gateway over them for every provider's mode (pages never call a
    provider themselves: jobs do, with the settings)."""
    settings = dashboard_settings()
    gateway = settings.gateway(local_only=False)
    st.markdown(PAGE_CSS, unsafe_allow_html=True)
    st.title(title)
    if caption:
        st.caption(caption)
    banner = sandbox_banner(gateway.modes(), settings.catalog)
    if banner:
        st.warning(banner, icon="🧪")
    if settings.local_only:
        st.info("Local-only mode is on (`[routing] local_only` in the policy): every call goes "
                "to a running local model. Turn it off on Models & budgets.", icon="💻")
    return settings, gateway


def empty_state(message: str) -> None:
    """What a page shows when there is nothing to show yet."""
    st.info(message, icon="🫙")


def metrics_grid(figures: list[tuple[str, str]], per_row: int = 4) -> None:
    """(label, value) figures as metrics, ``per_row`` to a row so values are not cut off."""
    for start in range(0, len(figures), per_row):
        row = figures[start:start + per_row]
        for column, (label, value) in zip(st.columns(per_row), row, strict=False):
            column.metric(label, value)


def task_card(card: TaskCard, now: float | None = None) -> None:
    """One task as a bordered card: icon, title, status line, the latest note and every
    earlier one behind an expander."""
    now = time.time() if now is None else now
    with st.container(border=True):
        st.markdown(f"{STATUS_ICONS.get(card.status, '•')} **{card.title}**  \n`{card.task_id}`")
        st.caption(card.headline(now))
        if len(card.reason) > HEADLINE_CHARS:
            with st.expander("Why, in full"):
                st.caption(card.reason)
        if not card.notes:
            return
        st.caption(f"↪ {card.notes[-1]}")
        if len(card.notes) > 1:
            with st.expander(f"{len(card.notes) - 1} earlier note(s)"):
                for note in card.notes[:-1]:
                    st.caption(f"↪ {note}")
