"""Is the installed llama.cpp runtime usable on this CPU? ``python -m core.local.selfcheck``.

pip keeps one cached wheel of llama-cpp-python whatever CPU built it, and a build tuned for
its own machine (llama.cpp's default, ``GGML_NATIVE``) uses every instruction that machine had:
on another CPU, or a virtual machine that advertises AMX tiles it does not let a process use,
the first matrix product dies with a protection fault. This loads the default model (or
``--model PATH``) and answers one short chat message in a child process (a prompt of a few
dozen tokens: a batched matrix product, where such builds fault), so a crash is reported, not
suffered. ``make local`` runs it and, when it fails, rebuilds the runtime with portable flags.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from core.local.model import choose_model

TIMEOUT_S = 180.0
ANSWER_ONE_MESSAGE = """
import sys
from llama_cpp import Llama
model = Llama(model_path=sys.argv[1], n_ctx=256, verbose=False)
model.create_chat_completion([{"role": "user", "content": "What is the capital of France? "
                               "Answer in one word, please."}], max_tokens=4)
"""


def runtime_works(model_path: Path, timeout_s: float = TIMEOUT_S) -> str | None:
    """None when the runtime answers a message with ``model_path``; else why it did not."""
    try:
        child = subprocess.run([sys.executable, "-c", ANSWER_ONE_MESSAGE, str(model_path)],
                               capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"answering one short message took over {timeout_s:.0f} s"
    if child.returncode == 0:
        return None
    if child.returncode < 0:
        return f"the runtime crashed (signal {-child.returncode}) in its first answer"
    last = (child.stderr.strip().splitlines() or ["no message"])[-1]
    return f"the runtime failed (exit {child.returncode}): {last}"


def main(argv: list[str] | None = None) -> int:
    """Check the runtime; exit 0 when it works, 1 (with a one-line reason) when it does not."""
    parser = argparse.ArgumentParser(prog="python -m core.local.selfcheck",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a GGUF file (default: the shipped SmolLM2 model)")
    args = parser.parse_args(argv)
    problem = runtime_works(choose_model(args.model).path)
    if problem is None:
        print("llama.cpp runtime: works on this CPU")
        return 0
    print(f"llama.cpp runtime: {problem}; rebuild it for this CPU with `make local-rebuild`",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
