"""``orchestra ask``: one prompt to one model, printed as text or one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from core.catalog import default_catalog
from core.cli.output import print_json
from core.gateway import Gateway
from core.types import ChatRequest, ChatResult, StreamDone, TextDelta


def result_json(result: ChatResult) -> dict[str, Any]:
    """The ``--json`` shape of one call."""
    return {
        "model": result.model,
        "provider": result.provider,
        "mode": result.mode,
        "text": result.text,
        "usage": result.usage.model_dump(),
        "cost_usd": result.cost_usd,
        "latency_ms": round(result.latency_ms, 2),
        "ttft_ms": None if result.ttft_ms is None else round(result.ttft_ms, 2),
        "finish_reason": result.finish_reason,
        "citations": result.citations,
    }


async def _ask(request: ChatRequest, stream: bool, echo: bool) -> ChatResult:
    async with Gateway() as gateway:
        if not stream:
            return await gateway.complete(request)
        result = None
        async for event in gateway.stream(request):
            if isinstance(event, TextDelta) and echo:
                print(event.text, end="", flush=True)
            elif isinstance(event, StreamDone):
                result = event.result
        if echo:
            print()
        assert result is not None  # adapters always end a stream with StreamDone
        return result


def _run(args: argparse.Namespace) -> int:
    catalog = default_catalog()
    catalog.model(args.model)  # unknown model → one-line error before anything is sent
    request = ChatRequest.of(args.model, args.prompt, system=args.system,
                             max_tokens=args.max_tokens)
    result = asyncio.run(_ask(request, args.stream, echo=not args.json))
    if args.json:
        print_json(result_json(result))
    elif not args.stream:
        print(result.text)
    if not args.json:
        cost = "unknown (unpriced)" if result.cost_usd is None else f"${result.cost_usd:.6f}"
        print(f"[{result.model} · {result.mode} · {result.usage.input_tokens}+"
              f"{result.usage.output_tokens} tokens · {cost} · {result.latency_ms:.0f} ms]",
              file=sys.stderr)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number ≥ 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``orchestra ask``."""
    parser = subparsers.add_parser("ask", help="send one prompt to one model")
    parser.add_argument("prompt", help="the prompt text")
    parser.add_argument("--model", required=True, help="catalog id, e.g. openai:gpt-4o-mini")
    parser.add_argument("--system", default=None, help="a system prompt")
    parser.add_argument("--max-tokens", type=_positive_int, default=1024)
    parser.add_argument("--stream", action="store_true", help="print text as it arrives")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)
