"""The sandbox: every catalog model behind the three LLM wire protocols, simulated locally.

``build_app(catalog, config)`` (``core.sandbox.app``) is the ASGI app; mount it in process with
``StreamingASGITransport`` (``core.sandbox.transport``) or serve it with ``orchestra sandbox
serve``. ``SandboxConfig`` (``core.sandbox.config``) sets latency, seed and fault injection.
"""
