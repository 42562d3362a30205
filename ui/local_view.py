"""The Models page's local-model panel: the llama.cpp server's state, model and measured speed,
start and stop buttons, the toggle that gives sandbox demos the local model's text (a choice of
this dashboard process) and the local-only preset (saved in the local policy file).

``local_view`` decides what to show (no streamlit); ``render_local_panel`` draws it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.errors import ConfigError
from core.ledger import Ledger
from core.local import server
from core.local.probe import Speed, measured_speed
from core.local.registry import PROVIDER
from core.local.sandbox_text import banner
from core.local.state import ServerRecord
from core.policy import save_policy
from core.settings import Settings
from ui.components import dashboard_choices
from ui.figures import edited_policy

INSTALL_HINT = ("Local models are off: run `make local` once (it builds llama.cpp from source, "
                "a few minutes; `make test` does it too), then start the server here or with "
                "`orchestra local up`.")


@dataclass(frozen=True, slots=True)
class LocalView:
    """What the panel shows."""

    installed: bool
    record: ServerRecord | None
    stale_pid: int | None
    speed: Speed | None
    sandbox_text: bool
    local_only: bool

    @property
    def model_id(self) -> str:
        """The catalog id of the served model ('' when stopped)."""
        return f"{PROVIDER}:{self.record.model_id}" if self.record else ""


def local_view(settings: Settings, ledger: Ledger | None = None) -> LocalView:
    """The server's state (a stale record is cleared), its model, its measured speed, and
    whether sandbox text and local-only mode are on in ``settings``."""
    found = server.status()
    record = found.record
    ledger = ledger or settings.ledger()
    speed = measured_speed(ledger, f"{PROVIDER}:{record.model_id}") if record else None
    return LocalView(installed=importlib.util.find_spec("llama_cpp") is not None,
                     record=record, speed=speed,
                     stale_pid=found.stale_cleared.pid if found.stale_cleared else None,
                     sandbox_text=settings.sandbox.text == "local",
                     local_only=settings.local_only)


def set_sandbox_text(on: bool) -> None:
    """Turn real sandbox text on or off for this dashboard process: every page's settings, and
    the jobs started with them, have it from the next page run."""
    dashboard_choices().sandbox_text = on


def set_local_only(settings: Settings, on: bool) -> None:
    """Save the local-only preset (``[routing] local_only``) to the local policy file."""
    save_policy(edited_policy(settings.policy, {"routing": {"local_only": on}}))


def render_local_panel(settings: Settings) -> None:
    """Draw the panel (the Models page calls this with its settings)."""
    st.subheader("Local model (llama.cpp, offline)")
    view = local_view(settings)
    if not view.installed:
        st.info(INSTALL_HINT, icon="💻")
        return
    if view.stale_pid is not None:
        st.caption(f"Cleared a stale server record (pid {view.stale_pid} had gone).")
    if view.record is None:
        st.write("Stopped. Starting it registers the `local` provider: economy tier, $0.")
        if st.button("Start the local server", type="primary"):
            _act(server.up)
    else:
        _running(view)
    _local_only_toggle(settings, view)


def _local_only_toggle(settings: Settings, view: LocalView) -> None:
    """The local-only preset: on only while a local model runs; off at any time."""
    on = st.toggle("Local only: every call (plan, waves, patterns) to local models",
                   value=view.local_only, disabled=view.record is None and not view.local_only,
                   help="Saved as `[routing] local_only` in the local policy file; "
                        "`--local-only` does the same for one command.")
    if on != view.local_only:
        _act(lambda: set_local_only(settings, on))
    if view.local_only and view.record is None:
        st.warning("Local-only mode is on but no local model runs: runs, Compare and Evals "
                   "will stop with an error until you start the server or turn this off.")


def _running(view: LocalView) -> None:
    record = view.record
    assert record is not None
    cols = st.columns(4)
    cols[0].metric("Model", view.model_id)
    cols[1].metric("Context", f"{record.context_window:,} tokens")
    cols[2].metric("Decode speed", f"{view.speed.decode_tokens_per_s:.0f} tok/s"
                   if view.speed else "not measured")
    cols[3].metric("Time to first token", f"{view.speed.ttft_ms:.0f} ms"
                   if view.speed else "not measured")
    st.caption(f"Running at {record.base_url} (pid {record.pid}). Speeds are medians of the "
               f"last {view.speed.samples if view.speed else 0} streamed calls in the ledger.")
    on = st.toggle("Real text in sandbox demos (from this model)", value=view.sandbox_text)
    if on != view.sandbox_text:
        set_sandbox_text(on)
        st.rerun()
    text_banner = banner(record) if on else None
    if text_banner:
        st.info(text_banner, icon="📝")
    if st.button("Stop the local server"):
        _act(server.down)


def _act(action: Callable[[], object]) -> None:
    with st.spinner("Working…"):
        try:
            action()
        except ConfigError as exc:
            st.error(str(exc))
            return
    st.rerun()
