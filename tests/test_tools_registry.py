"""The tool registry: built-ins, the user's functions, MCP servers, the [tools] policy."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.policy import load_policy
from core.tools.errors import ToolArgumentsInvalid, ToolFailed, ToolRefused, UnknownTool
from core.tools.functions import function_tool, module_tools
from core.tools.registry import open_registry, parse_tool_names
from core.tools.settings import ToolSettings

FIXTURES = Path(__file__).parent / "fixtures"
MCP_SERVER = str(FIXTURES / "mcp_server.py")
USER_TOOLS = str(FIXTURES / "user_tools.py")


def stdio_server(name: str = "fixture", prefix: str = "") -> dict[str, object]:
    return {"name": name, "command": sys.executable, "args": [MCP_SERVER], "prefix": prefix}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://example.com/elsewhere")
            self.end_headers()
            return
        body = b"x" * 5000 if self.path == "/big" else b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_builtins_are_listed_with_schemas() -> None:
    async with open_registry(ToolSettings()) as registry:
        tools = {tool.name: tool for tool in registry}
    assert list(tools) == ["calculator", "clock", "http_get"]
    assert all(tool.source == "builtin" for tool in tools.values())
    calc = tools["calculator"].spec.parameters
    assert calc["required"] == ["expression"] and calc["additionalProperties"] is False
    assert "1234 * 5678" in calc["properties"]["expression"]["description"]
    assert tools["clock"].spec.parameters["properties"]["timezone"]["default"] == "UTC"


async def test_calculator_is_exact_and_refuses_code() -> None:
    async with open_registry(ToolSettings()) as registry:
        calc = registry.get("calculator")
        assert await calc.run({"expression": "1234 * 5678"}) == "7006652"
        assert await calc.run({"expression": "sqrt(16) + 2**10"}) == "1028"
        with pytest.raises(ToolArgumentsInvalid, match="not an arithmetic expression"):
            await calc.run({"expression": "__import__('os').system('true')"})
        with pytest.raises(ToolFailed, match="cannot be computed"):
            await calc.run({"expression": "1 / 0"})
        with pytest.raises(ToolArgumentsInvalid, match="argument expression: Field required"):
            await calc.run({"expr": "1"})


async def test_clock_tells_time_in_a_zone() -> None:
    async with open_registry(ToolSettings()) as registry:
        clock = registry.get("clock")
        text = await clock.run({"timezone": "Asia/Tokyo"})
        assert "+09:00" in text and "Asia/Tokyo" in text
        with pytest.raises(ToolArgumentsInvalid, match="unknown time zone 'Mars/Olympus'"):
            await clock.run({"timezone": "Mars/Olympus"})


async def test_http_get_fetches_allowlisted_loopback(web: str) -> None:
    settings = ToolSettings(allowlist=["127.0.0.1"], http_max_bytes=1000, timeout_s=0.5)
    async with open_registry(settings) as registry:
        get = registry.get("http_get")
        text = await get.run({"url": f"{web}/data"})
        assert text.startswith("HTTP 200 application/json") and text.endswith('{"ok": true}')
        big = await get.run({"url": f"{web}/big"})
        assert "(truncated to 1000 bytes)" in big and big.endswith("x" * 1000)
        assert "x" * 1001 not in big
        moved = await get.run({"url": f"{web}/moved"})
        assert "HTTP 302" in moved and "not followed" in moved
        with pytest.raises(ToolFailed, match="ReadTimeout"):
            await get.run({"url": f"{web}/slow"})


async def test_http_get_refuses_hosts_outside_the_allowlist(web: str) -> None:
    settings = ToolSettings(allowlist=["*.example.org", "127.0.0.1"])
    async with open_registry(settings) as registry:
        get = registry.get("http_get")
        with pytest.raises(ToolRefused) as refused:
            await get.run({"url": "https://internal.example.com/secrets"})
        message = str(refused.value)
        assert "host 'internal.example.com' is not in the allowlist" in message
        assert "add it to [tools] allowlist" in message and "\n" not in message
        with pytest.raises(ToolRefused):
            await get.run({"url": web.replace("127.0.0.1", "localhost") + "/data"})
        with pytest.raises(ToolArgumentsInvalid, match="not an http"):
            await get.run({"url": "file:///etc/passwd"})


def test_user_functions_become_tools_through_pydantic() -> None:
    tools = {tool.name: tool for tool in module_tools(USER_TOOLS)}
    assert set(tools) == {"convert_temperature", "slow_echo", "explode"}
    spec = tools["convert_temperature"].spec
    assert spec.description == "Convert a temperature between Celsius and Fahrenheit."
    props = spec.parameters["properties"]
    assert props["value"] == {"description": "the temperature to convert.", "title": "Value",
                              "type": "number"}
    assert props["unit"]["enum"] == ["C", "F"] and spec.parameters["required"] == ["value"]
    assert tools["convert_temperature"].source == f"module:{USER_TOOLS}"


async def test_user_functions_validate_and_run() -> None:
    tools = {tool.name: tool for tool in module_tools(USER_TOOLS)}
    assert await tools["convert_temperature"].run({"value": 100}) == "212.0"
    assert await tools["convert_temperature"].run({"value": "212", "unit": "F"}) == "100.0"
    assert await tools["slow_echo"].run({"text": "hi"}) == "hi"
    with pytest.raises(ToolArgumentsInvalid, match="argument unit"):
        await tools["convert_temperature"].run({"value": 1, "unit": "K"})
    with pytest.raises(RuntimeError, match="boom"):
        await tools["explode"].run({"message": "boom"})


def test_function_tool_refuses_what_cannot_be_a_schema() -> None:
    def spread(*values: int) -> int:
        return sum(values)

    with pytest.raises(ConfigError, match=r"\*args/\*\*kwargs"):
        function_tool(spread)
    with pytest.raises(ConfigError, match="cannot be a tool name"):
        function_tool(len, name="bad name")


def test_bad_modules_are_one_line_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be imported"):
        module_tools("no_such_module_anywhere")
    with pytest.raises(ConfigError, match="not found"):
        module_tools(str(tmp_path / "missing.py"))
    (tmp_path / "empty.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="defines no public function"):
        module_tools(str(tmp_path / "empty.py"))


async def test_mcp_stdio_server_tools_are_listed_and_called() -> None:
    settings = ToolSettings(mcp=[stdio_server(prefix="fx")], modules=[USER_TOOLS])
    async with open_registry(settings) as registry:
        sources = {tool.name: tool.source for tool in registry}
        assert sources["fx_word_count"] == "mcp:fixture"
        assert sources["convert_temperature"] == f"module:{USER_TOOLS}"
        count = registry.get("fx_word_count")
        assert count.spec.description == "Count the words in a text."
        assert count.spec.parameters["required"] == ["text"]
        assert await count.run({"text": "one two three"}) == "3"
        assert await registry.get("fx_reverse").run({"text": "abc"}) == "cba"
        with pytest.raises(ToolFailed, match=r"fx_fail \(MCP server fixture\): .*kaput"):
            await registry.get("fx_fail").run({"reason": "kaput"})


async def test_unreachable_mcp_server_is_a_config_error() -> None:
    settings = ToolSettings(mcp=[{"name": "ghost", "command": "/nonexistent/mcp-server"}])
    with pytest.raises(ConfigError, match="MCP server 'ghost' .* could not be reached"):
        async with open_registry(settings):
            pass


async def test_duplicate_tool_names_and_selection() -> None:
    dup = ToolSettings(mcp=[stdio_server("one"), stdio_server("two")])
    with pytest.raises(ConfigError, match="two tools are named 'word_count'"):
        async with open_registry(dup):
            pass
    async with open_registry(ToolSettings()) as registry:
        assert [t.name for t in registry.select(["clock", "calculator", "clock"])] == [
            "clock", "calculator"]
        assert len(registry.select(["all"])) == 3
        with pytest.raises(UnknownTool, match="no tool named 'weather'; known tools: "
                                              "calculator, clock, http_get"):
            registry.select(["weather"])
    assert parse_tool_names("calculator, clock") == ["calculator", "clock"]
    with pytest.raises(ConfigError, match="empty name"):
        parse_tool_names("calculator,,clock")


def test_policy_tools_section(tmp_path: Path) -> None:
    shipped = load_policy()
    assert shipped.tools.max_turns >= 1 and shipped.tools.allowlist == []
    path = tmp_path / "policy.toml"
    path.write_text('[tools]\nallowlist = ["api.example.com"]\nmax_turns = 3\n'
                    '[[tools.mcp]]\nname = "files"\ncommand = "python"\nargs = ["srv.py"]\n')
    policy = load_policy(path)
    assert policy.tools.max_turns == 3 and policy.tools.mcp[0].transport == "stdio"
    path.write_text('[[tools.mcp]]\nname = "both"\ncommand = "x"\nurl = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match="exactly one of command .stdio. or url"):
        load_policy(path)
    path.write_text("[tools]\nmax_turns = 0\n")
    with pytest.raises(ConfigError, match="tools.max_turns"):
        load_policy(path)
    assert json.loads(ToolSettings().model_dump_json())["timeout_s"] > 0


async def test_mcp_servers_connect_only_when_a_needed_tool_is_not_local() -> None:
    settings = ToolSettings(mcp=[{"name": "ghost", "command": "/nonexistent/mcp-server"}])
    async with open_registry(settings, needed=["calculator"]) as registry:
        assert [t.name for t in registry] == ["calculator", "clock", "http_get"]
    for needed in (["word_count"], ["all"], None):
        with pytest.raises(ConfigError, match="MCP server 'ghost'"):
            async with open_registry(settings, needed=needed):
                pass


@pytest.fixture
def mcp_http() -> Iterator[str]:
    """The fixture MCP server over streamable HTTP on 127.0.0.1; yields its URL."""
    import socket
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, MCP_SERVER, "http", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the MCP fixture server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_mcp_streamable_http_server(mcp_http: str) -> None:
    settings = ToolSettings(mcp=[{"name": "web", "url": mcp_http}])
    async with open_registry(settings) as registry:
        tool = registry.get("reverse")
        assert tool.source == "mcp:web"
        assert await tool.run({"text": "stressed"}) == "desserts"
