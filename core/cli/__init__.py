"""The ``orchestra`` command line: one module per command group, each with ``register``.

Every command exits non-zero with a one-line ``orchestra: error: …`` that says how to fix it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from core.calls.tracing import configure_tracing
from core.errors import OrchestraError

# Each module defines ``register(subparsers)``, which adds its commands and sets ``func``.
COMMAND_MODULES = (
    "core.cli.models",
    "core.cli.ask",
    "core.cli.runs",
    "core.cli.route",
    "core.cli.sandbox",
    "core.cli.outcomes",
    "core.cli.router",
    "core.cli.patterns",
    "core.cli.tools",
    "core.cli.local",
    "core.cli.evals",
    "core.cli.leaderboard",
)


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line that says where to look for the fix."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command registered."""
    parser = _OneLineParser(
        prog="orchestra", description="Route LLM work across many providers."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``orchestra`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_tracing(os.environ)  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set
    try:
        return int(args.func(args) or 0)
    except OrchestraError as exc:
        print(f"orchestra: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("orchestra: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
