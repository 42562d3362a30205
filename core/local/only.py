"""Local-only operation: routing, planning, patterns and calls restricted to local models.

``LocalOnlyGateway`` is a ``Gateway`` whose ``available`` says yes only for local providers
that are running (the ``local`` llama.cpp server, Ollama through ``OLLAMA_HOST``), so the
router, the LLM planner, complexity scoring and the patterns' default models all pick local
models; premium and balanced tasks fall down to the economy tier, where local models are. A
call to any other model is refused before it is sent. The savings baseline is untouched: the
summary still says what the premium model would have cost.

``Settings.gateway`` builds one when local-only is on: ``[routing] local_only = true`` in the
policy (the preset), or ``--local-only`` on ``ask``, ``run`` and ``compare``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

from core.calls.gateway import Gateway
from core.catalog import Catalog
from core.errors import ConfigError
from core.types import ChatRequest, ChatResult, StreamEvent

NO_LOCAL_MODEL = ("local-only mode (--local-only, or [routing] local_only in the policy) needs a "
                  "running local model; start one with `orchestra local up` (or set "
                  "OLLAMA_HOST to your Ollama server), or turn local-only off")


class LocalOnlyGateway(Gateway):
    """A gateway that offers routing only local, running providers and calls nothing else."""

    def __init__(self, catalog: Catalog | None = None, **kwargs: object) -> None:
        super().__init__(catalog, **kwargs)  # type: ignore[arg-type]
        if not any(self.available(name) for name in self.catalog.providers):
            raise ConfigError(NO_LOCAL_MODEL)

    def available(self, provider: str) -> bool:
        """Only local providers with a running, configured server."""
        return self.catalog.providers[provider].local and super().available(provider)

    def local_models(self) -> list[str]:
        """The ids of the models routing may use."""
        return [m.id for m in self.catalog.models.values() if self.available(m.provider)]

    def check(self, model_id: str) -> None:
        """Refuse a model that is not local, with the fix."""
        spec = self.catalog.model(model_id)
        if not self.available(spec.provider):
            raise ConfigError(f"{model_id} is not a running local model and local-only mode is on; "
                              f"use one of: {', '.join(self.local_models())}")

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One attempt on a local model (any other is refused)."""
        self.check(request.model)
        return await super().complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streaming attempt on a local model (any other is refused)."""
        self.check(request.model)
        async for event in super().stream(request):
            yield event


def gateway_type(local_only: bool) -> type[Gateway]:
    """The gateway class for a policy: ``LocalOnlyGateway`` when local-only is on."""
    return LocalOnlyGateway if local_only else Gateway


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--local-only`` to a command."""
    parser.add_argument("--local-only", action="store_true",
                        help="use only local models (start one with `orchestra local up`)")
