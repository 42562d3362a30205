"""Crash and resume: ``kill -9`` a run at many points, resume it, and check nothing is paid twice.

The sandbox is served on loopback inside the test, behind a wrapper that logs every request:
which task it was for (each task's prompt carries a ``[Tnn]`` marker), its status, and in
which phase (first run, or the n-th resume) sent it. The run itself is the real CLI,
``orchestra run --plan …``, in a child process that believes it talks to live providers (a
dummy key and a base URL per provider). The test kills it with SIGKILL right after the sandbox
has sent a chosen number of answers (plus a seeded delay of 0 to 0.1 s), waits for the sandbox
to finish what the dead process had asked, then runs ``orchestra resume RUN_ID``, again and
again, until the run is done. The 21 kill points over three seeds run in processes forked from
a server that imported the CLI once (``_forked_cli``: the same ``main(argv)`` that
``python -m core`` runs); one more test does the same with ``python -m core`` itself.

What must hold, for every seed and every kill point:
- a task whose successful attempt reached the ledger before the kill is never called again;
- the final run is complete: every task done, every task row holding its output;
- the spend the run reports equals the spend its ledger holds, within one answer in flight
  per kill; and the answers the provider sent that the ledger never saw (lost in flight) are
  few: at most the run's concurrency per kill.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from core.catalog import default_catalog
from core.cli import COMMAND_MODULES
from core.ledger import Ledger
from core.policy import load_policy
from core.sandbox.app import build_app
from core.sandbox.config import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
TASKS = 32
SEEDS = (11, 23, 37)
KILLS_PER_SEED = 7  # 21 kill points in all
KILL_DELAYS_S = (0.0, 0.0, 0.02, 0.05, 0.1)  # after the chosen answer, before SIGKILL
LATENCY_SCALE = 0.25  # the sandbox's tier latencies, scaled: a run takes a second or two
PROCESS_TIMEOUT_S = 60
MARKER = re.compile(r"\[T(\d\d)\]")


# ── the served sandbox, with a request log and a trigger ─────────────────────────────────
@dataclass
class Answer:
    phase: int
    task: str | None
    status: int


@dataclass
class RequestLog:
    """Every answer the sandbox sent, by phase, and the kill armed for the current phase."""

    phase: int = 0
    answers: list[Answer] = field(default_factory=list)
    kill_after: int | None = None  # kill when this phase has sent this many answers
    kill_delay_s: float = 0.0
    target: "Child | None" = None
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self) -> int:
        """A request arrives: the phase it belongs to (the phase of the process that sent it)."""
        with self.lock:
            self.in_flight += 1
            return self.phase

    def end(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until the sandbox has finished every request (a killed client's included)."""
        time.sleep(0.1)  # let the server read what the killed process had already sent
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.in_flight, "the sandbox still serves a request of a killed process"

    def next_phase(self, kill_after: int | None, delay_s: float) -> None:
        """A new phase begins (its process is about to start), with its kill point."""
        with self.lock:
            self.phase += 1
            self.target, self.kill_after, self.kill_delay_s = None, kill_after, delay_s

    def answered(self, phase: int, task: str | None, status: int) -> None:
        with self.lock:
            self.answers.append(Answer(phase, task, status))
            sent = sum(1 for a in self.answers if a.phase == self.phase and a.status == 200)
            fire = (phase == self.phase and self.kill_after is not None
                    and sent >= self.kill_after)
            if fire:
                self.kill_after = None
        if fire:
            threading.Timer(self.kill_delay_s, self._kill).start()

    def _kill(self) -> None:
        with self.lock:
            if self.target is not None and self.target.alive():
                os.kill(self.target.pid, signal.SIGKILL)

    def tasks_called(self, phase: int) -> set[str]:
        with self.lock:
            return {f"t{a.task}" for a in self.answers if a.phase == phase and a.task}

    def ok_answers(self) -> int:
        with self.lock:
            return sum(1 for a in self.answers if a.status == 200 and a.task)


class Logged:
    """ASGI wrapper: notes each generation request's task marker and final status."""

    def __init__(self, app: Any, log: RequestLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            return await self.app(scope, receive, send)
        seen: dict[str, Any] = {"body": b"", "status": 0, "phase": self.log.begin()}

        async def receive_noting() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                seen["body"] += message.get("body", b"")
            return message

        async def send_noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                found = MARKER.search(seen["body"].decode("utf-8", "replace"))
                self.log.answered(seen["phase"], found.group(1) if found else None,
                                  seen["status"])

        try:
            await self.app(scope, receive_noting, send_noting)
        finally:
            self.log.end()


@dataclass
class Served:
    url: str
    log: RequestLog
    seed: int


def _serve(seed: int) -> Iterator[Served]:
    log = RequestLog()
    config = SandboxConfig(seed=seed, latency_scale=LATENCY_SCALE)
    app = Logged(build_app(default_catalog(), config), log)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    try:
        yield Served(url, log, seed)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    yield from _serve(request.param)


# ── the run under test ───────────────────────────────────────────────────────────────────
def write_plan(path: Path, tasks: int = TASKS, max_output_tokens: int = 120) -> Path:
    """A plan of independent single-call tasks, each prompt marked with its task number."""
    plan = {"demand": "crash test: many small independent tasks", "tasks": [
        {"id": f"t{i:02d}", "title": f"Task {i:02d}", "kind": "writing", "complexity": 1 + i % 3,
         "max_output_tokens": max_output_tokens,
         "prompt": f"[T{i:02d}] Write two sentences about the number {i}."}
        for i in range(tasks)]}
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def provider_env(url: str, db: Path) -> dict[str, str]:
    """The environment of a CLI process whose every remote provider is the served sandbox."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ORCHESTRA_") and not k.endswith(("_API_KEY", "_BASE_URL"))}
    for name, provider in default_catalog().providers.items():
        if provider.local or not provider.key_env:
            env.pop(provider.base_url_env, None)
            continue
        env[provider.key_env] = f"test-key-{name}"
        suffix = "/v1" if provider.protocol == "openai_chat" else ""
        env[provider.base_url_env] = url + suffix
    env["ORCHESTRA_DB"] = str(db)
    return env


class Child:
    """One CLI process: ``pid``, and ``finish()`` → (exit code, stdout, stderr)."""

    def __init__(self, argv: list[str], env: dict[str, str], folder: Path, forked: bool) -> None:
        self._out, self._err = folder / f"out-{time.monotonic_ns()}", folder / "err"
        if forked:  # forked from a server that has imported the CLI once (see _forked_cli)
            self._process: Any = FORKS.Process(target=_forked_cli,
                                               args=(argv, env, str(self._out), str(self._err)))
            self._process.start()
        else:
            with self._out.open("wb") as out, self._err.open("wb") as err:
                self._process = subprocess.Popen([sys.executable, "-m", "core", *argv],
                                                 cwd=ROOT, env=env, stdout=out, stderr=err)
        self.pid: int = self._process.pid

    def alive(self) -> bool:
        return (self._process.exitcode if hasattr(self._process, "exitcode")
                else self._process.poll()) is None

    def finish(self) -> tuple[int, str, str]:
        if hasattr(self._process, "exitcode"):
            self._process.join(PROCESS_TIMEOUT_S)
            code = self._process.exitcode
        else:
            code = self._process.wait(PROCESS_TIMEOUT_S)
        assert code is not None, "the CLI process did not finish in time"
        return code, _text(self._out), _text(self._err)


def _text(path: Path) -> str:
    """A child's captured output ("" when it was killed before it wrote any)."""
    return path.read_text() if path.exists() else ""


def _forked_cli(argv: list[str], env: dict[str, str], out: str, err: str) -> None:
    """What ``python -m core ARGV`` does, in a process forked from a warm server."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    with open(out, "w") as stdout, open(err, "w") as stderr:
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
        from core.cli import main

        code = main(argv)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


# Each `python -m core` costs seconds of CPU just importing (pandas, duckdb, sklearn...); a fork
# server that has imported the CLI once makes each crash/resume phase cost a fork instead.
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(["core.cli", *COMMAND_MODULES, "core.providers", "httpcore",
                              "genai_prices.data", __name__])


def ledger_state(db: Path, run_id: str) -> tuple[set[str], Decimal, int]:
    """Tasks with a successful attempt in the ledger, the run's spend, its ok attempts."""
    ok = [a for a in Ledger(str(db)).get_attempts(run_id=run_id) if a.status == "ok"]
    spend = sum((a.cost_usd for a in ok if a.cost_usd is not None), Decimal(0))
    return {a.task_id for a in ok if a.task_id}, spend, len(ok)


def only_run_id(db: Path) -> str:
    runs = Ledger(str(db)).recent_runs(5)
    assert len(runs) == 1, f"expected the one run in the ledger, found {len(runs)}"
    return runs[0].run_id


@dataclass
class Kill:
    phase: int
    had_answers: set[str]  # tasks with a successful attempt in the ledger after the kill


def run_with_kills(served: Served, plan: Path, folder: Path, rng: random.Random, kills: int,
                   forked: bool) -> tuple[dict[str, Any], list[Kill], str]:
    """Run the plan, kill it ``kills`` times at seeded points, resume until it finishes."""
    db = folder / "crash.duckdb"
    env = provider_env(served.url, db)
    done: list[Kill] = []
    argv = ["run", "--plan", str(plan), "--json"]
    run_id = ""
    while True:
        armed = len(done) < kills
        served.log.next_phase(rng.randint(1, 2) if armed else None, rng.choice(KILL_DELAYS_S))
        child = Child(argv, env, folder, forked)
        served.log.target = child
        code, out, err = child.finish()
        killed = code == -signal.SIGKILL
        assert killed or code == 0, f"phase {served.log.phase} exited {code}: {err[-2000:]}"
        run_id = run_id or only_run_id(db)
        if not killed:
            assert not armed, "the run finished before every kill point was reached"
            return json.loads(out), done, run_id
        served.log.drain()
        done.append(Kill(served.log.phase, ledger_state(db, run_id)[0]))
        argv = ["resume", run_id, "--json"]


def check_crash_and_resume(served: Served, tmp_path: Path, kills: int, forked: bool) -> None:
    """Kill a run ``kills`` times, resume it to the end, and check what issue 10 promises."""
    plan = write_plan(tmp_path / "plan.yaml")
    summary, killed, run_id = run_with_kills(served, plan, tmp_path, random.Random(served.seed),
                                             kills, forked)
    db = tmp_path / "crash.duckdb"
    for kill in killed:  # a task whose answer the ledger held is never called again
        later = set().union(*(served.log.tasks_called(p)
                              for p in range(kill.phase + 1, served.log.phase + 1)))
        assert not later & kill.had_answers, (
            f"after the kill in phase {kill.phase}, tasks whose answer the ledger held were "
            f"called again: {sorted(later & kill.had_answers)}")

    # the final result is complete
    assert summary["status"] == "done" and summary["done"] == summary["tasks"] == TASKS
    rows = Ledger(str(db)).get_tasks(run_id)
    assert len(rows) == TASKS and all(r.status == "done" and r.output for r in rows)
    answered, spend, ok_attempts = ledger_state(db, run_id)
    assert answered == {f"t{i:02d}" for i in range(TASKS)}

    # the reported spend is the ledger's, within one answer in flight per kill
    reported = Decimal(str(summary["cost_usd"]))
    slack = max_answer_cost(db, run_id) * len(killed) + Decimal("1e-8")
    assert abs(spend - reported) <= slack, f"ledger {spend} vs reported {reported}"
    lost = served.log.ok_answers() - ok_attempts  # answered by the provider, never recorded
    assert 0 <= lost <= load_policy().concurrency.per_run * len(killed), (
        f"{lost} answers lost over {len(killed)} kills")


def max_answer_cost(db: Path, run_id: str) -> Decimal:
    """The dearest single answer of the run (the most one answer in flight can cost)."""
    costs = [a.cost_usd for a in Ledger(str(db)).get_attempts(run_id=run_id)
             if a.status == "ok" and a.cost_usd is not None]
    return max(costs, default=Decimal(0))


def test_kill_9_at_many_points_then_resume_never_pays_twice(served: Served,
                                                             tmp_path: Path) -> None:
    """KILLS_PER_SEED kill points for each seed (21 in all), each phase a forked CLI."""
    check_crash_and_resume(served, tmp_path, KILLS_PER_SEED, forked=True)


def test_the_real_python_m_core_process_killed_twice_and_resumed(tmp_path: Path) -> None:
    """The same, with `python -m core run --plan …` and `python -m core resume` as such."""
    for served in _serve(SEEDS[0] + 1):
        check_crash_and_resume(served, tmp_path, 2, forked=False)
