"""OpenAI stream translators, both directions (see the two modules for the mapping).

- ``ChatChunkEncoder``: canonical events → ``chat.completion.chunk`` dicts, for OpenAI clients.
- ``ChatChunkDecoder``: upstream ``chat.completion.chunk`` dicts → canonical events.

Both are small state machines: ``feed(x) -> list`` per input, ``finish() -> list`` at the end.
"""

from __future__ import annotations

from .openai_stream_decode import ChatChunkDecoder
from .openai_stream_encode import ChatChunkEncoder

__all__ = ["ChatChunkDecoder", "ChatChunkEncoder"]
