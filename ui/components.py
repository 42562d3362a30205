"""Small Streamlit pieces every page uses: the sandbox banner, empty states, task cards."""

from __future__ import annotations

import os
import time

import streamlit as st

from core.catalog import Catalog, default_catalog
from core.calls.gateway import Gateway
from core.policy import load_policy
from core.calls.resilience import BreakerBoard
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


def apply_secrets(catalog: Catalog) -> list[str]:
    """Provider keys and base URLs from ``.streamlit/secrets.toml`` (top-level entries named
    like the environment variables, e.g. ``ANTHROPIC_API_KEY = "..."``) for any not already set
    in the environment, which wins. Returns the names applied (never the values)."""
    try:
        secrets = {name: st.secrets[name] for name in st.secrets}
    except FileNotFoundError:  # no secrets file: the environment alone decides
        return []
    names = {v for p in catalog.providers.values() for v in (p.key_env, p.base_url_env) if v}
    applied = []
    for name in sorted(names & secrets.keys()):
        if not os.environ.get(name) and isinstance(secrets[name], str) and secrets[name]:
            os.environ[name] = secrets[name]
            applied.append(name)
    return applied


@st.cache_resource
def shared_breakers() -> BreakerBoard:
    """The dashboard process's circuit breakers: every run started here feeds them, and the
    Models & budgets page shows their state."""
    return BreakerBoard(load_policy().breaker)


@st.cache_resource
def live_runs() -> LiveRuns:
    """The runs this dashboard process started: a reload or another tab reattaches to them."""
    return LiveRuns()


def page_header(title: str, caption: str = "") -> tuple[Catalog, Gateway]:
    """The page title, its caption and the sandbox banner; returns the catalog and a gateway
    (for modes only: pages never call a provider themselves)."""
    catalog = default_catalog()
    gateway = Gateway(catalog)
    st.markdown(PAGE_CSS, unsafe_allow_html=True)
    st.title(title)
    if caption:
        st.caption(caption)
    banner = sandbox_banner(gateway.modes(), catalog)
    if banner:
        st.warning(banner, icon="🧪")
    return catalog, gateway


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
