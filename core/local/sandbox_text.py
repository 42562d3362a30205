"""Real text for sandbox demos: the sandbox's answer text taken from the local model.

With ``ORCHESTRA_SANDBOX_TEXT=local`` (or the Models page's toggle) and a server started by
`orchestra local up`, each sandboxed provider answers with text the local model wrote for the
same messages, while its prices, latencies, faults, token accounting and wire protocol stay
the simulated ones. This is the sandbox's text generator, not an Orchestra model call: the
outer, simulated call is the one routed, budgeted and recorded. When no server runs, or it
fails, the sandbox's own placeholder text is used, so a demo never breaks on it.
"""

from __future__ import annotations

import httpx

from core.local.state import ServerRecord, running_server

TEXT_ENV = "ORCHESTRA_SANDBOX_TEXT"
TIMEOUT_S = 60.0
MAX_TOKENS = 256
BANNER = ("Sandbox answers' text is written by the local model ({model}, llama.cpp on this "
          "machine); each provider's prices, latencies, faults and wire format are still "
          "simulated.")


def banner(record: ServerRecord | None = None) -> str | None:
    """The honest line to show while sandbox text comes from the local model, else None."""
    record = record or running_server()
    return None if record is None else BANNER.format(model=record.model_label)


def local_answer(prompt: str, max_tokens: int | None) -> str | None:
    """The local model's reply to ``prompt``, or None when no server runs or it does not
    answer."""
    record = running_server()
    if record is None:
        return None
    body = {"model": record.model_id, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": min(max_tokens or MAX_TOKENS, MAX_TOKENS)}
    try:
        response = httpx.post(f"{record.base_url}/chat/completions", json=body,
                              timeout=TIMEOUT_S)
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) and text.strip() else None
