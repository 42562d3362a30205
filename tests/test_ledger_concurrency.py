"""Sharing the ledger file between processes: lock retries, a reader beside a writer, kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest

from core.errors import LedgerError
from core.ledger import Ledger
from core.types import AttemptRecord

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = """
import sys, time
from core.ledger import Ledger
from core.types import AttemptRecord
from core.types import AttemptRecord

def rec(name):
    return AttemptRecord(attempt_id=name, provider="openai", model="openai:m", mode="sandbox",
                         status="ok", started_at=time.time(), ended_at=time.time())

ledger = Ledger(sys.argv[1])
"""

WRITER = _PRELUDE + """
for batch in range(50):
    ledger.record_attempts([rec(f"w{batch}-{i}") for i in range(10)])
print("wrote", flush=True)
"""

READER = _PRELUDE + """
def count(con):
    return con.execute("SELECT count(*) FROM attempts").fetchall()[0][0]

seen = [ledger.transact(count)]
print("ready", flush=True)
deadline = time.monotonic() + 120
while seen[-1] < 500 and time.monotonic() < deadline:
    seen.append(ledger.transact(count))
print(len(seen), min(seen), max(seen), flush=True)
"""

SINK_THEN_KILLED = _PRELUDE + """
sink = ledger.attempt_sink(flush_interval_ms=20)
for i in range(50):
    sink.add(rec(f"k{i}"))
sink.flush()  # returns once every queued attempt is written (after any write in progress)
print("durable", flush=True)
i = 50
while True:  # keep writing until killed, so the kill may land mid-flush
    sink.add(rec(f"k{i}"))
    i += 1
    time.sleep(0.001)
"""

HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
con.close()
"""


def spawn(script: str, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(db)], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=150)
    assert process.returncode == 0, err
    return out


def test_a_reader_and_a_writer_share_the_file_without_errors_or_lost_rows(tmp_path):
    db = tmp_path / "shared.duckdb"
    reader = spawn(READER, db)
    assert reader.stdout.readline().strip() == "ready"
    writer = spawn(WRITER, db)
    assert finish(writer).strip() == "wrote"
    reads, lowest, highest = map(int, finish(reader).split())
    assert (lowest, highest) == (0, 500)
    assert reads >= 2
    assert len(Ledger(db).get_attempts()) == 500


def test_a_killed_writer_keeps_every_flushed_attempt(tmp_path):
    db = tmp_path / "killed.duckdb"
    child = spawn(SINK_THEN_KILLED, db)
    assert child.stdout.readline().strip() == "durable"
    time.sleep(0.2)  # the child keeps adding and flushing until the kill
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    ledger = Ledger(db)
    stored = {a.attempt_id for a in ledger.get_attempts()}
    assert {f"k{i}" for i in range(50)} <= stored
    assert ledger.record_attempts(ledger.get_attempts()) == 0  # still writable, no duplicates


def test_a_held_lock_is_waited_for_then_reported_with_a_fix(tmp_path):
    db = tmp_path / "held.duckdb"
    Ledger(db).start_run("r1", "demand", "sandbox")
    holder = spawn(HOLDER, db)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(LedgerError, match="--db PATH") as caught:
            Ledger(db, lock_timeout_s=0.2).get_run("r1")
        assert isinstance(caught.value.__cause__, duckdb.IOException)
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert Ledger(db, lock_timeout_s=60).get_run("r1").run_id == "r1"
    finally:
        finish(holder)


def test_threads_of_one_process_take_turns_without_errors(tmp_path):
    ledger = Ledger(tmp_path / "threads.duckdb")
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(60):
                ledger.record_attempts([AttemptRecord(
                    attempt_id=f"t{i}", provider="openai", model="openai:m", mode="sandbox",
                    status="ok")])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        ledger.get_attempts()
    writer.join()
    assert failures == []
    assert len(ledger.get_attempts()) == 60
