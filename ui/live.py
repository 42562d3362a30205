"""A run in the background, for the dashboard.

A Streamlit rerun stops the page script, so a run cannot live inside it. ``LiveRun`` runs the
plan in a thread with its own event loop and collects the events; the page polls ``events()``
and stays interactive, and ``cancel()`` stops the run from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from core.execution.events import RunEvent
from core.execution.runs import RunSession
from core.execution.summary import RunSummary


class LiveRun:
    """One run on a background thread. Create with ``LiveRun.start(...)``."""

    def __init__(self, session: RunSession) -> None:
        self.session = session
        self.run_id = session.run_id
        self.plan = session.plan
        self.summary: RunSummary | None = None
        self.error: str | None = None
        self._events: list[RunEvent] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name=f"run-{self.run_id}", daemon=True)
        session.on_event(self._collect)

    @classmethod
    def start(cls, session: RunSession) -> "LiveRun":
        """Start ``session`` on a new background thread and return its handle."""
        live = cls(session)
        live._thread.start()
        return live

    def _collect(self, event: RunEvent) -> None:
        with self._lock:
            self._events.append(event)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.summary = loop.run_until_complete(self.session.run())
        except Exception as exc:  # noqa: BLE001 - reported to the page, which shows it
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            loop.close()

    def events(self, since: int = 0) -> list[RunEvent]:
        """Events from index ``since`` on (a copy; safe from any thread)."""
        with self._lock:
            return list(self._events[since:])

    def cancel(self) -> None:
        """Ask the run to stop: no new calls; running ones are interrupted and recorded."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.session.cancel)

    @property
    def done(self) -> bool:
        """True once the run has finished (done, failed or cancelled)."""
        return not self._thread.is_alive() and self._thread.ident is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; True if it did within ``timeout``."""
        self._thread.join(timeout)
        return self.done


class LiveRuns:
    """The runs started by this dashboard process, by run id, so that any session (a reload,
    another tab) can reattach to a run that is still going."""

    def __init__(self) -> None:
        self._runs: dict[str, LiveRun] = {}
        self._lock = threading.Lock()

    def add(self, live: LiveRun) -> LiveRun:
        """Remember ``live`` under its run id; returns it."""
        with self._lock:
            self._runs[live.run_id] = live
        return live

    def get(self, run_id: str) -> LiveRun | None:
        """The run with this id if this process started it, else None."""
        with self._lock:
            return self._runs.get(run_id)
