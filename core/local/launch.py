"""The local server process: ``python -m llama_cpp.server`` plus usage on streamed answers.

llama-cpp-python's server ignores ``stream_options.include_usage``: a streamed chat completion
carries no token counts, so every streamed local call would be recorded with 0 tokens. This
launcher runs the same server (same command-line options, via ``runpy``) after wrapping
``Llama.create_chat_completion`` so that the last chunk of a stream (the one with a
``finish_reason``) carries a ``usage`` object, as OpenAI's does: ``prompt_tokens`` is the length
of the token list the chat handler sends to the model (exact), ``completion_tokens`` the
streamed text re-tokenized (no special tokens, so the end-of-turn token is not counted, as in a
non-streamed answer). Non-streamed answers are untouched.

Run only by ``core.local.server`` (``python -m core.local.launch --model ...``).
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Iterator
from typing import Any

import llama_cpp

_ORIGINAL = llama_cpp.Llama.create_chat_completion


def _with_usage(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``create_chat_completion``, with usage on the last chunk of a stream."""
    if not kwargs.get("stream"):
        return _ORIGINAL(self, *args, **kwargs)
    return _counted_stream(self, args, kwargs)


def _counted_stream(llama: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
    prompt_tokens = [0]
    complete = llama.create_completion

    def counting(*c_args: Any, **c_kwargs: Any) -> Any:
        prompt = c_kwargs.get("prompt", c_args[0] if c_args else "")
        prompt_tokens[0] = len(prompt) if isinstance(prompt, list) else len(
            llama.tokenize(str(prompt).encode("utf-8"), add_bos=True, special=True))
        return complete(*c_args, **c_kwargs)

    llama.create_completion = counting  # this request only: the server runs one at a time
    parts: list[str] = []
    try:
        stream: Iterator[dict[str, Any]]
        stream = _ORIGINAL(llama, *args, **kwargs)  # type: ignore[assignment]
        for chunk in stream:
            choices = chunk.get("choices") or []
            for choice in choices:
                parts.append(str((choice.get("delta") or {}).get("content") or ""))
            if any(choice.get("finish_reason") for choice in choices):
                completion = len(llama.tokenize("".join(parts).encode("utf-8"), add_bos=False,
                                                special=False)) if any(parts) else 0
                chunk = {**chunk, "usage": {
                    "prompt_tokens": prompt_tokens[0], "completion_tokens": completion,
                    "total_tokens": prompt_tokens[0] + completion}}
            yield chunk
    finally:
        del llama.create_completion  # back to the class's method


def main() -> None:
    """Start llama-cpp-python's server with the usage wrapper in place."""
    llama_cpp.Llama.create_chat_completion = _with_usage  # type: ignore[method-assign]
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
