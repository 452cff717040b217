"""Anthropic's prompt cache as it bills, for the fake upstreams (``AnthropicUpstream(prompt_cache=...)``,
``BedrockUpstream(prompt_cache=...)``).

The documented rules (Anthropic's prompt-caching guide; Bedrock's Converse ``cachePoint`` works alike):

- A prompt is read as blocks in a fixed order: tools, system, then each message's content blocks.
  A breakpoint (``cache_control`` on a block; a Converse ``cachePoint`` after one; top-level
  ``cache_control`` on the last block) caches the prefix up to and including its block.
- An entry is keyed by the exact prefix (the block contents without their markers, and the model),
  scoped to the caller's credential (an organisation's cache is its own).
- Per request, the longest cached prefix found at a breakpoint, or at one of the ``lookback`` (20)
  block boundaries before a breakpoint, is read: ``cache_read_input_tokens``. Each breakpoint past it
  whose prefix holds at least ``min_tokens`` is written; ``cache_creation_input_tokens`` are the tokens
  from the read prefix to the last prefix written. The rest is ``input_tokens``.
- Entries live 5 minutes (``ttl: "1h"``: an hour) from their last write or read.
- More than four breakpoints is a 400.

Tokens are counted by a stand-in tokenizer, a quarter of each block's JSON length (rounded up), the same
for every request, so prefix sizes compare; what matters to a test is which prefix was read or written.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_BREAKPOINTS = 4
LOOKBACK = 20
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True)
class CacheBlock:
    """One block of the prompt in cache order: its identity, its tokens and its breakpoint TTL if marked."""

    identity: str
    tokens: int
    ttl: str | None = None


@dataclass(frozen=True)
class CacheUsage:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    ephemeral_1h_input_tokens: int = 0

    @property
    def ephemeral_5m_input_tokens(self) -> int:
        return self.cache_creation_input_tokens - self.ephemeral_1h_input_tokens


class TooManyBreakpoints(Exception):
    pass


@dataclass
class PromptCacheModel:
    """The cache of one fake upstream; ``clock`` in seconds (tests move a fake one)."""

    min_tokens: int = 1024
    lookback: int = LOOKBACK
    clock: Callable[[], float] = time.monotonic
    entries: dict[str, tuple[float, str]] = field(default_factory=dict)  # prefix hash -> (expiry, ttl)
    history: list[CacheUsage] = field(default_factory=list)

    def _live(self, key: str, now: float) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry[0] > now

    def account(self, blocks: list[CacheBlock], *, scope: str, model: str) -> CacheUsage:
        """Bill one request and update the cache (``TooManyBreakpoints`` for more than four)."""
        marks = [i for i, block in enumerate(blocks) if block.ttl is not None]
        if len(marks) > MAX_BREAKPOINTS:
            raise TooManyBreakpoints(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marks)}."
            )
        now = self.clock()
        hashes: list[str] = []
        totals: list[int] = []
        digest = hashlib.sha256(f"{scope}\0{model}".encode())
        total = 0
        for block in blocks:
            digest.update(block.identity.encode())
            hashes.append(digest.copy().hexdigest())
            total += block.tokens
            totals.append(total)
        read_at = -1  # the longest cached prefix within the lookback window of some breakpoint
        for mark in marks:
            window = range(mark, max(-1, mark - self.lookback - 1), -1)
            found = next((p for p in window if self._live(hashes[p], now)), -1)
            read_at = max(read_at, found)
        read = totals[read_at] if read_at >= 0 else 0
        if read_at >= 0:
            _, ttl = self.entries[hashes[read_at]]
            self.entries[hashes[read_at]] = (now + TTL_SECONDS[ttl], ttl)  # a read refreshes the entry
        written_to, hour = read, 0
        for mark in marks:
            if mark > read_at and totals[mark] >= self.min_tokens:
                ttl = blocks[mark].ttl or "5m"
                self.entries[hashes[mark]] = (now + TTL_SECONDS.get(ttl, 300.0), ttl if ttl in TTL_SECONDS else "5m")
                if ttl == "1h":
                    hour += totals[mark] - written_to
                written_to = max(written_to, totals[mark])
        usage = CacheUsage(total - written_to, read, written_to - read, min(hour, written_to - read))
        self.history.append(usage)
        return usage


# --------------------------------------------------------------------------- prompts as blocks


def _tokens(identity: str) -> int:
    return max(1, math.ceil(len(identity) / 4))


def _block(value: Any, role: str = "") -> tuple[str, str | None]:
    marker = value.get("cache_control") if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "cache_control"}
    identity = role + json.dumps(value, sort_keys=True, separators=(",", ":"))
    ttl = (marker.get("ttl") or "5m") if isinstance(marker, dict) else None
    return identity, ttl


def anthropic_blocks(body: dict[str, Any]) -> list[CacheBlock]:
    """A Messages request body in cache order (tools, system, messages), with its breakpoints."""
    raw: list[tuple[str, str | None]] = [_block(tool) for tool in body.get("tools") or ()]
    system = body.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}] if system else []
    raw += [_block(block, "system:") for block in system or ()]
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        raw += [_block(block, f"{message.get('role')}:") for block in content or ()]
    automatic = body.get("cache_control")
    if isinstance(automatic, dict) and raw:
        raw[-1] = (raw[-1][0], automatic.get("ttl") or "5m")
    return [CacheBlock(identity, _tokens(identity), ttl) for identity, ttl in raw]


def converse_blocks(body: dict[str, Any]) -> list[CacheBlock]:
    """A Converse request body in cache order; a ``cachePoint`` marks the block before it."""
    raw: list[tuple[str, str | None]] = []

    def add(items: list[Any], role: str) -> None:
        for item in items:
            point = item.get("cachePoint") if isinstance(item, dict) else None
            if point is not None:
                if raw:
                    raw[-1] = (raw[-1][0], point.get("ttl") or "5m")
                continue
            raw.append((role + json.dumps(item, sort_keys=True, separators=(",", ":")), None))

    add(list((body.get("toolConfig") or {}).get("tools") or ()), "tool:")
    add(list(body.get("system") or ()), "system:")
    for message in body.get("messages") or ():
        add(list(message.get("content") or ()), f"{message.get('role')}:")
    return [CacheBlock(identity, _tokens(identity), ttl) for identity, ttl in raw]
