"""``orchestra tools list`` and ``orchestra ask --tools`` end to end, in sandbox mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.ledger import Ledger

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def tools_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A policy whose [tools] add the test MCP server (stdio) and a module of functions."""
    path = tmp_path / "policy.toml"
    path.write_text(
        "[tools]\n"
        f'modules = ["{FIXTURES / "user_tools.py"}"]\n'
        "[[tools.mcp]]\n"
        'name = "fixture"\n'
        f'command = "{sys.executable}"\n'
        f'args = ["{FIXTURES / "mcp_server.py"}"]\n')
    monkeypatch.setenv("ORCHESTRA_POLICY", str(path))
    return path


def test_tools_list_shows_every_source_and_schema(tools_policy: Path, capsys) -> None:
    assert main(["tools", "list", "--json"]) == 0
    tools = {t["name"]: t for t in json.loads(capsys.readouterr().out)["tools"]}
    assert tools["calculator"]["source"] == "builtin"
    assert tools["convert_temperature"]["source"].startswith("module:")
    assert tools["word_count"]["source"] == "mcp:fixture"
    assert tools["word_count"]["description"] == "Count the words in a text."
    assert tools["word_count"]["parameters"]["properties"]["text"]["type"] == "string"
    assert main(["tools", "list"]) == 0
    text = capsys.readouterr().out
    assert "word_count  [mcp:fixture]" in text and "arguments: text: string (required)" in text
    assert 'unit: "C"|"F" = "C"' in text


def test_ask_with_the_calculator_answers_and_records_everything(capsys) -> None:
    code = main(["ask", "What is 1234 * 5678?", "--tools", "calculator", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert "7006652" in out["text"] and out["mode"] == "sandbox"
    assert out["stopped"] == "answered" and out["turns"] == 2
    [call] = out["tool_calls"]
    assert call["tool"] == "calculator" and call["status"] == "ok"
    assert call["arguments"] == {"expression": "1234 * 5678"} and call["result"] == "7006652"
    ledger = Ledger()
    attempts = [a for a in ledger.get_attempts() if a.status == "ok"]
    assert len(attempts) == 2
    [row] = ledger.get_tool_calls()
    assert row.tool == "calculator" and row.attempt_id == attempts[0].attempt_id
    assert row.attempt_id == call["attempt_id"] and row.status == "ok"


def test_ask_with_tools_shows_each_call(capsys) -> None:
    assert main(["ask", "What is 12 * 12?", "--tools", "all"]) == 0
    captured = capsys.readouterr()
    assert "144" in captured.out
    assert '→ calculator({"expression":"12 * 12"}) = 144' in captured.err
    assert "2 model calls, 1 tool calls" in captured.err


def test_unknown_tools_are_one_line_errors(capsys) -> None:
    assert main(["ask", "What is 2 + 2?", "--tools", "calculator,weather"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no tool named 'weather'; known tools: calculator, clock, http_get" in err
    assert main(["ask", "What is 2 + 2?", "--tools", "calculator,"]) == 2
    assert "empty name" in capsys.readouterr().err
    assert Ledger().get_attempts() == []  # nothing was called


def test_ask_with_tools_streams_the_answer(capsys) -> None:
    assert main(["ask", "What is 1234 * 5678?", "--tools", "calculator", "--stream"]) == 0
    captured = capsys.readouterr()
    assert "7006652" in captured.out and captured.out.endswith("\n")
    assert "→ calculator" in captured.err


def test_tools_list_with_an_unreachable_server_is_one_line(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[[tools.mcp]]\nname = "ghost"\ncommand = "/nonexistent/mcp"\n')
    monkeypatch.setenv("ORCHESTRA_POLICY", str(path))
    assert main(["tools", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MCP server 'ghost'" in err and "fix [[tools.mcp]]" in err
