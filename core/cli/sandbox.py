"""``orchestra sandbox serve``: the sandbox on a loopback port, for SDKs, load tests and benches."""

from __future__ import annotations

import argparse

from core.catalog import default_catalog
from core.sandbox.config import SandboxConfig


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.sandbox.app import build_app

    config = SandboxConfig.from_env(
        failure_rate=args.failure_rate, seed=args.seed, latency_scale=args.latency_scale
    )
    app = build_app(default_catalog(), config)
    url = f"http://{args.host}:{args.port}"
    print(
        f"sandbox serving every catalog model at {url} (simulated answers, no real calls); "
        f"OpenAI base {url}/v1, Anthropic base {url}, Gemini base {url}; Ctrl-C stops it"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra sandbox serve``."""
    parser = subparsers.add_parser("sandbox", help="run the provider sandbox as a local server")
    commands = parser.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the three wire protocols over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port to bind (default 8787)")
    serve.add_argument(
        "--failure-rate", type=float, default=None,
        help="share of requests that get an injected fault, 0-1 (default 0)",
    )
    serve.add_argument("--seed", type=int, default=None, help="seed of answers and faults")
    serve.add_argument(
        "--latency-scale", type=float, default=None,
        help="multiplier on simulated latency; 0 answers instantly (default 1)",
    )
    serve.set_defaults(func=_serve)
