"""Inputs checked at the edge: every bad input of issue 10 is one line, exit 2, nothing on disk.

Each case is run twice through the real command line: once against an existing ledger (whose
bytes and timestamps must not change) and once with no ledger yet (which must not be created).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from core.catalog import default_catalog
from core.cli import main
from core.cli.validate import (
    SMALLEST_USD,
    check_budget,
    check_max_tokens,
    non_negative_int,
    plan_file,
    usd_amount,
)
from core.errors import ConfigError
from core.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
BINARY = bytes(range(256)) * 8  # not UTF-8 from byte 128 on, with NUL bytes

# (argv, a word of the fix the one line must carry); "{plan}" is a binary plan file
CASES = [
    *[(["run", "compare A and B", "--budget", value], "--budget")
      for value in ("NaN", "Infinity", "-Infinity", "sNaN", "1e400", "0.0000000001", "-1", "0",
                    "lots", "0.123456789")],
    (["resume", "r-123", "--budget", "NaN"], "--budget"),
    (["run", "--plan", "{plan}"], "not text"),
    (["run", "--plan", "{missing}"], "not a file"),
    (["ask", "hi", "--model", "openai:gpt-4o-mini", "--max-tokens", "99999999"], "16384"),
    (["ask", "hi", "--model", "openai:gpt-4o-mini", "--max-tokens", "16385"], "16384"),
    (["ask", "hi", "--max-tokens", "99999999"], "--max-tokens 100000"),
    (["ask", "hi", "--max-tokens", "0"], "--max-tokens"),
    (["ask", "hi", "--max-tokens", "1e99"], "--max-tokens"),
    (["compare", "hi", "--models", "openai:gpt-4o-mini,google:gemini-2.0-flash",
      "--max-tokens", "10000"], "8192"),
    (["runs", "--limit", "-1"], "--limit"),
    (["outcomes", "list", "--limit", "-1"], "--limit"),
    *[(["eval", "data/evals/none.yaml", "--models", "openai:gpt-4o-mini", "--budget", value],
       "--budget") for value in ("NaN", "1e400", "0.0000000001", "-1")],
    (["runs", "--limit", "99999999999999999999"], "--limit"),
    (["ask", "   "], "blank"),
    (["ask", ""], "blank"),
    (["ask", " \t\n ", "--model", "openai:gpt-4o-mini"], "blank"),
    (["compare", "  ", "--models", "openai:gpt-4o-mini,google:gemini-2.0-flash"], "blank"),
    (["refine", "  ", "--generator", "openai:gpt-4o-mini",
      "--evaluator", "anthropic:claude-haiku-4-5"], "blank"),
    (["refine", "hi", "--generator", "openai:gpt-4o-mini",
      "--evaluator", "anthropic:claude-haiku-4-5", "--cost-cap", "NaN"], "--cost-cap"),
    (["moa", "   "], "blank"),
    (["vote", "  ", "--models", "openai:gpt-4o-mini,google:gemini-2.0-flash"], "blank"),
    (["run", "   "], "blank"),
]
NO_DB = {"route"}  # commands without --db


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a bad argument with SystemExit(2)
        code = exc.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: its mtime (ns) and content hash."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    """A binary plan file and a path that does not exist, outside the ledger folders."""
    files = tmp_path / "inputs"
    files.mkdir()
    (files / "plan.yaml").write_bytes(BINARY)
    return {"plan": str(files / "plan.yaml"), "missing": str(files / "nope.yaml")}


@pytest.fixture
def existing_ledger(tmp_path: Path) -> Path:
    """A ledger file that already holds a run (created before the bad input is given)."""
    folder = tmp_path / "existing"
    folder.mkdir()
    path = folder / "ledger.duckdb"
    Ledger(str(path)).start_run("r-123", "an earlier run", "sandbox", Decimal("1"), "{}")
    return path


@pytest.mark.parametrize(("argv", "fix"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing_on_disk(
    argv: list[str], fix: str, inputs: dict[str, str], existing_ledger: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(**inputs) for a in argv]
    fresh = tmp_path / "fresh" / "never.duckdb"
    monkeypatch.setenv("ORCHESTRA_DB", str(fresh))
    before = _snapshot(tmp_path)
    runs = [argv] if argv[0] in NO_DB else [argv, [*argv, "--db", str(existing_ledger)]]
    for attempt in runs:
        code, out, err = _cli(attempt, capsys)
        line = err.strip()
        assert code == 2, (attempt, code, err)
        assert out == "" and line.startswith("orchestra") and "\n" not in line, (attempt, err)
        assert fix in line and "Traceback" not in line, (attempt, line)
    assert _snapshot(tmp_path) == before  # the ledger untouched, no file made
    assert not fresh.parent.exists()


def test_route_refuses_a_blank_task(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["route", "  \t"], capsys)
    assert code == 2 and out == "" and "blank" in err and err.strip().count("\n") == 0


def test_the_real_process_exits_2_with_one_line(inputs: dict[str, str], tmp_path: Path) -> None:
    """One case as a real process (each costs seconds of imports): exit status 2, one line."""
    argv = ["run", "--plan", "{plan}", "--budget", "1"]
    db = tmp_path / "proc" / "x.duckdb"
    env = {**os.environ, "ORCHESTRA_DB": str(db)}
    result = subprocess.run([sys.executable, "-m", "core", *[a.format(**inputs) for a in argv]],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not db.parent.exists()


def test_the_smallest_representable_budget_is_the_ledgers_resolution() -> None:
    assert usd_amount("0.00000001") == SMALLEST_USD == Decimal("1e-8")
    assert usd_amount("$0.50") == Decimal("0.50") and usd_amount(" 2 ") == Decimal(2)
    assert usd_amount("9999999999.99999999") == Decimal("9999999999.99999999")
    for bad in ("0.000000009", "10000000000", "1e-9"):
        with pytest.raises(argparse.ArgumentTypeError):
            usd_amount(bad)
    assert check_budget(None) is None and check_budget("0.25") == Decimal("0.25")
    with pytest.raises(ConfigError, match="^--budget: "):
        check_budget("Infinity")


def test_a_budget_at_the_resolution_is_stored_exactly(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "b.duckdb"))
    ledger.start_run("r-tiny", "tiny", "sandbox", usd_amount("0.00000001"), "{}")
    record = ledger.get_run("r-tiny")
    assert record is not None and record.budget_usd == Decimal("0.00000001")


def test_limits_and_plan_files_accept_good_values(tmp_path: Path) -> None:
    assert non_negative_int("0") == 0 and non_negative_int(" 20 ") == 20
    plan = tmp_path / "p.yaml"
    plan.write_text("demand: d\ntasks: []\n# é ü — text in UTF-8\n", encoding="utf-8")
    assert plan_file(str(plan)) == str(plan)
    nul = tmp_path / "nul.json"
    nul.write_bytes(b'{"demand": "d"\x00}')
    with pytest.raises(argparse.ArgumentTypeError, match="NUL"):
        plan_file(str(nul))


def test_max_tokens_up_to_the_models_limit_is_accepted() -> None:
    catalog = default_catalog()
    check_max_tokens(16384, ["openai:gpt-4o-mini"], catalog)
    check_max_tokens(8192, ["openai:gpt-4o-mini", "google:gemini-2.0-flash"], catalog)
    check_max_tokens(100000, [], catalog)
    with pytest.raises(ConfigError, match="gemini-2.0-flash"):
        check_max_tokens(8193, ["openai:gpt-4o-mini", "google:gemini-2.0-flash"], catalog)
