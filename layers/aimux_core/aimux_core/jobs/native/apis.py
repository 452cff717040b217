"""Which provider has a batch API aimux can use: first-party Anthropic (Message Batches) and OpenAI (Batch)."""

from __future__ import annotations

from ...providers.anthropic import AnthropicProvider
from ...providers.base import Provider
from ...providers.openai import OpenAIProvider
from .anthropic import AnthropicBatches
from .base import NativeBatches
from .openai import OpenAIBatches


def native_for(provider: Provider | None) -> NativeBatches | None:
    """The batch API of ``provider`` (first-party Anthropic and OpenAI presets), else None."""
    preset = getattr(provider, "preset", None)
    name = getattr(preset, "name", None)
    if name == "anthropic":
        return AnthropicBatches(provider) if isinstance(provider, AnthropicProvider) else None
    if name == "openai":
        return OpenAIBatches(provider) if isinstance(provider, OpenAIProvider) else None
    return None
