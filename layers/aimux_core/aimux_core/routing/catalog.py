"""The models aimux can route to: what ``/v1/models`` lists and what a model name resolves to.

Each ``ModelEntry`` names the provider that serves it and the upstream model id to send, plus
the limits and capabilities routing and translation need (``max_output`` fills ``max_tokens``
for OpenAI clients that leave it out), the ``price`` cost accounting and the ``cheapest`` strategy
use, the ``weight`` of the ``weighted`` strategy, and ``cache_min_tokens``, the shortest prefix a prompt-cache
breakpoint is placed on (None: the model's documented minimum). ``aliases`` are further exact names that
address the same entry (``get`` finds them; listings show the ``id`` only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ..accounting.pricing import Price


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    provider: str
    upstream_model: str
    display_name: str
    created_at: str = "2026-01-01T00:00:00Z"
    context_window: int = 200_000
    max_output: int = 64_000
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset({"tools", "vision", "thinking"}))
    aliases: tuple[str, ...] = ()
    price: Price | None = None
    weight: int = 1
    cache_min_tokens: int | None = None  # None: Anthropic's minimum for the model id (providers/prompt_cache.py)

    @property
    def created_unix(self) -> int:
        """``created_at`` as the Unix seconds OpenAI's model objects carry."""
        return int(datetime.fromisoformat(self.created_at.replace("Z", "+00:00")).timestamp())


class Catalog:
    """Routable models in listing order, looked up by id."""

    def __init__(self, entries: Iterable[ModelEntry]) -> None:
        self._entries = list(entries)
        self._by_id = {alias: entry for entry in self._entries for alias in entry.aliases}
        self._by_id.update({entry.id: entry for entry in self._entries})  # an id wins over an alias

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model_id: str) -> ModelEntry | None:
        """The entry whose id, or else one of whose aliases, is ``model_id``."""
        return self._by_id.get(model_id)

    def providers(self) -> list[str]:
        return sorted({entry.provider for entry in self._entries})


MOCK_MODEL = ModelEntry(
    id="aimux-mock",
    provider="mock",
    upstream_model="aimux-mock",
    display_name="aimux built-in mock",
)
