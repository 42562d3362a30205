"""Adapters: one per wire protocol, mapping our ChatRequest to HTTP and back."""

from __future__ import annotations

from core.providers.base import Adapter


def adapter_for(protocol: str) -> Adapter:
    """The adapter for a catalog wire protocol name."""
    from core.providers.anthropic_messages import AnthropicMessages
    from core.providers.gemini_generate import GeminiGenerate
    from core.providers.openai_chat import OpenAIChat

    adapters: dict[str, Adapter] = {
        "openai_chat": OpenAIChat(),
        "anthropic_messages": AnthropicMessages(),
        "gemini_generate": GeminiGenerate(),
    }
    return adapters[protocol]
