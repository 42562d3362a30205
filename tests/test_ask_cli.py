"""``orchestra ask`` end to end, and the promise that API keys never leak anywhere."""

from __future__ import annotations

import json
import logging

from core.cli import main
from core.ledger import Ledger

SECRET = "sk-live-DO-NOT-LEAK-9f2c7a1b3c4d5e6f"


def _json(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


def test_ask_json_has_the_promised_fields_and_lands_in_the_ledger(capsys, tmp_path):
    db = str(tmp_path / "a.duckdb")
    code, out, _ = _json(capsys, "ask", "Say hello", "--model", "openai:gpt-4o-mini", "--json",
                         "--db", db)
    assert code == 0
    assert {"model", "provider", "mode", "text", "usage", "cost_usd", "latency_ms",
            "ttft_ms"} <= set(out)
    assert (out["model"], out["provider"], out["mode"]) == ("openai:gpt-4o-mini", "openai",
                                                            "sandbox")
    assert out["usage"]["input_tokens"] > 0 and out["usage"]["output_tokens"] > 0
    assert out["cost_usd"] > 0 and "sandbox" in out["text"]
    [attempt] = Ledger(db).get_attempts()
    assert attempt.model == "openai:gpt-4o-mini" and attempt.output_tokens == out["usage"][
        "output_tokens"]


def test_ask_streams_and_renders_templates(capsys, tmp_path):
    db = str(tmp_path / "a.duckdb")
    assert main(["ask", "Tell me a story", "--model", "google:gemini-2.0-flash", "--stream",
                 "--db", db]) == 0
    captured = capsys.readouterr()
    assert "sandbox" in captured.out and "google:gemini-2.0-flash" in captured.err
    code, out, _ = _json(capsys, "ask", "--template", "translate", "--var", "text=good morning",
                         "--var", "language=French", "--json", "--db", db)
    assert code == 0 and out["text"]


def test_ask_bad_input_is_one_line_with_the_fix(capsys, tmp_path):
    db = str(tmp_path / "a.duckdb")
    cases = [
        (["ask", "hi", "--model", "openai:gpt-9"], "orchestra models"),
        (["ask", "hi", "--model", "nope"], "provider:model"),
        (["ask", "--template", "translate", "--var", "text=hi"], "--var language="),
        (["ask", "--template", "no-such-template"], "no-such-template"),
        (["ask", "hi", "--max-tokens", "zero"], "--max-tokens"),
    ]
    for argv, fix in cases:
        try:
            code = main([*argv, "--db", db])
        except SystemExit as exc:  # argparse errors exit with status 2
            code = exc.code
        err = capsys.readouterr().err.strip()
        assert code == 2 and fix in err and "\n" not in err, (argv, err)


def test_no_key_reaches_output_ledger_exports_errors_or_logs(capsys, caplog, monkeypatch,
                                                            tmp_path, served_sandbox):
    caplog.set_level(logging.DEBUG)
    db = str(tmp_path / "k.duckdb")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", served_sandbox + "/v1")  # "live" but on loopback
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-sandbox-invalid")  # refused with 401
    monkeypatch.setenv("ANTHROPIC_BASE_URL", served_sandbox)
    texts = []
    code, out, err = _json(capsys, "ask", "hi", "--model", "openai:gpt-4o-mini", "--json",
                           "--db", db)
    assert code == 0 and out["mode"] == "live"
    texts += [json.dumps(out), err]
    code, out, err = _json(capsys, "ask", "hi", "--model", "anthropic:claude-haiku-4-5",
                           "--json", "--db", db)
    assert code == 0 and out["model"] != "anthropic:claude-haiku-4-5"  # fell back after 401
    texts += [json.dumps(out), err]
    code, models, err = _json(capsys, "models", "--json")
    texts += [json.dumps(models), err]
    assert main(["history", "--csv", str(tmp_path / "h.csv"), "--db", db]) == 0
    texts.append((tmp_path / "h.csv").read_text())
    attempts = Ledger(db).get_attempts()
    refused = [a for a in attempts if a.error_class == "AuthFailed"]
    assert refused and refused[0].http_status == 401
    texts += [a.model_dump_json() for a in attempts]
    texts += [r.getMessage() for r in caplog.records]
    texts.append(capsys.readouterr().err)
    for text in texts:
        assert SECRET not in text and "sk-sandbox-invalid" not in text
