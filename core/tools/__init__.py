"""Tools: specs and a registry (built-ins, the user's functions, MCP servers) and the tool loop.

``core.tools.registry.open_registry`` gathers every tool the policy's ``[tools]`` section makes
available; ``core.tools.loop.run_tool_loop`` runs model → tool calls → results → model through
the call stack. This package's ``__init__`` imports nothing, so ``core.policy`` can read the
settings module without loading the rest.
"""
