"""The errors of tools, in Orchestra's tree (``core.errors``)::

    OrchestraError
    ├── ConfigError
    │   └── UnknownTool          a tool name that no source provides (lists the known ones)
    └── ToolFailed               a tool call failed; the loop returns it to the model
        ├── ToolRefused          the call is not allowed (a host outside the allowlist)
        └── ToolArgumentsInvalid the arguments do not fit the tool's schema
"""

from __future__ import annotations

from core.errors import ConfigError, OrchestraError


class UnknownTool(ConfigError):
    """A tool name that none of the configured sources provides."""


class ToolFailed(OrchestraError):
    """A tool call failed; inside the tool loop its message goes back to the model."""


class ToolRefused(ToolFailed):
    """The call is not allowed by the policy (e.g. ``http_get`` to a host not allowlisted)."""


class ToolArgumentsInvalid(ToolFailed):
    """The arguments a model sent do not validate against the tool's schema."""
