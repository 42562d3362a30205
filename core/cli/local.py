"""``orchestra local up|down|status``: the local llama.cpp server (see ``core.local``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli.output import print_json
from core.local import server
from core.local.registry import PROVIDER
from core.local.state import ServerRecord


def record_json(record: ServerRecord | None) -> dict[str, Any] | None:
    """The ``--json`` view of a server record (no secrets: there are none)."""
    if record is None:
        return None
    return {**record.model_dump(), "base_url": record.base_url,
            "model": f"{PROVIDER}:{record.model_id}"}


def _describe(record: ServerRecord) -> str:
    return (f"local server up: {PROVIDER}:{record.model_id} ({record.model_label}, context "
            f"{record.context_window:,}) at {record.base_url}, pid {record.pid}")


def _up(args: argparse.Namespace) -> int:
    record = server.up(args.model, port=args.port, threads=args.threads)
    if args.json:
        print_json({"state": "running", "server": record_json(record)})
    else:
        print(_describe(record))
        print(f"use it: orchestra ask \"hello\" --model {PROVIDER}:{record.model_id}  "
              "(or --local-only on ask, run and compare)", file=sys.stderr)
    return 0


def _down(args: argparse.Namespace) -> int:
    result = server.down()
    if args.json:
        print_json({"state": result.state, "stopped": record_json(result.record),
                    "stale_cleared": record_json(result.stale_cleared)})
    elif result.record is not None:
        print(f"stopped the local server (pid {result.record.pid}, port {result.record.port})")
    elif result.stale_cleared is not None:
        print(f"no local server was running; cleared a stale record (pid "
              f"{result.stale_cleared.pid} has gone)")
    else:
        print("no local server is running; start one with `orchestra local up`")
    return 0


def _status(args: argparse.Namespace) -> int:
    result = server.status()
    if args.json:
        print_json({"state": result.state, "server": record_json(result.record),
                    "stale_cleared": record_json(result.stale_cleared)})
    elif result.record is not None:
        print(_describe(result.record))
    else:
        stale = (f" (cleared a stale record: pid {result.stale_cleared.pid} has gone)"
                 if result.stale_cleared else "")
        print(f"local server stopped{stale}; start it with `orchestra local up`")
    return 0


def _port(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, not {text!r}") from None


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``orchestra local up|down|status``."""
    local = subparsers.add_parser("local", help="the local llama.cpp model server")
    actions = local.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the server (default model: SmolLM2-135M)")
    up.add_argument("--model", help="a GGUF file (default: $ORCHESTRA_LOCAL_MODEL or SmolLM2)")
    up.add_argument("--port", type=_port, help="TCP port on 127.0.0.1 (default: a free one)")
    up.add_argument("--threads", type=_port, help="CPU threads (default: llama.cpp's choice)")
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the server `up` started")
    down.set_defaults(func=_down)
    status = actions.add_parser("status", help="is it running, on which port, which model")
    status.set_defaults(func=_status)
    for parser in (up, down, status):
        parser.add_argument("--json", action="store_true", help="print one JSON object")
