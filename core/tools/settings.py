"""The policy's ``[tools]`` section: http_get's allowlist, user modules, MCP servers, limits.

Kept apart from the rest of the package so that ``core.policy`` imports only this module.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.types import TOOL_NAME_PATTERN


class MCPServerSettings(BaseModel):
    """One MCP server: a stdio ``command`` (with ``args``) or a streamable HTTP ``url``.

    ``prefix`` is put before each of its tool names (``prefix_tool``) to keep names apart.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    command: str = ""
    args: list[str] = Field(default_factory=list)
    url: str = ""
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,30}$")

    @model_validator(mode="after")
    def _one_transport(self) -> "MCPServerSettings":
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server '{self.name}' needs exactly one of command (stdio) "
                             "or url (streamable HTTP)")
        return self

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "stdio" if self.command else "http"


class ToolSettings(BaseModel):
    """What tools may do: hosts ``http_get`` may reach (``example.com``, or ``*.example.com``
    for its subdomains), modules of the user's functions (dotted names or ``.py`` paths), MCP
    servers, the time one tool call may take, the most model turns of a tool loop, and the most
    bytes ``http_get`` returns."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    allowlist: list[str] = Field(default_factory=list)
    modules: list[str] = Field(default_factory=list)
    mcp: list[MCPServerSettings] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    max_turns: int = Field(default=6, ge=1, le=100)
    http_max_bytes: int = Field(default=100_000, ge=1, le=50_000_000)

    @model_validator(mode="after")
    def _unique_servers(self) -> "ToolSettings":
        names = [server.name for server in self.mcp]
        if len(names) != len(set(names)):
            raise ValueError("two MCP servers share a name; give each [[tools.mcp]] its own name")
        return self
