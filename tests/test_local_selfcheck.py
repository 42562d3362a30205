"""The llama.cpp runtime self-check that `make local` runs: the real runtime answers with the
shipped model; a crash or a failure in the child process is one line that says what happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.local import selfcheck
from core.local.model import choose_model


def test_the_installed_runtime_answers_with_the_shipped_model(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert selfcheck.main([]) == 0
    assert capsys.readouterr().out.strip() == "llama.cpp runtime: works on this CPU"


def test_a_file_that_is_no_model_is_a_failure_with_its_reason(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF but nothing else")
    problem = selfcheck.runtime_works(bogus)
    assert problem is not None and problem.startswith("the runtime failed (exit 1): ")


def test_a_crashing_runtime_is_reported_not_suffered(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(selfcheck, "ANSWER_ONE_MESSAGE",  # what a mis-built wheel does
                        "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert selfcheck.runtime_works(choose_model().path) == (
        "the runtime crashed (signal 11) in its first answer")
    assert selfcheck.main([]) == 1
    assert capsys.readouterr().err.strip() == (
        "llama.cpp runtime: the runtime crashed (signal 11) in its first answer; rebuild it "
        "for this CPU with `make local-rebuild`")
