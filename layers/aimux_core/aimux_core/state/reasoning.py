"""``ReasoningMemory``: the reasoning of past tool-call turns, kept for providers that need it back.

DeepSeek (thinking mode), GLM, Kimi and MiniMax answer 400 when an assistant turn that made tool
calls comes back without its reasoning, and most clients drop reasoning they never asked for. So
aimux keeps that reasoning itself, in the shared store (any instance may serve the next turn):

    pk  reasoning#<scope>#<conversation>     scope: the caller's key id ("-" with auth off)
    sk  <turn>                               conversation: the first tool-call id of the
                                             conversation's earliest tool-call turn; turn: the
                                             first tool-call id of the turn (both SHA-256, 32 hex)
    attributes  text, provider, expires_at

One conversation is one partition, so every turn a request lacks comes back in a single ``Query``
whatever the conversation's length. Writes are blind puts (a turn's reasoning never changes) with
``ttl`` seconds of life. Texts too large for one DynamoDB item are not kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .clock import Clock
from .store import Store

DEFAULT_TTL_SECONDS = 24 * 3600  # a working day: the tool loops of one session
MAX_TEXT_BYTES = 300_000  # DynamoDB items hold 400 KB; keep room for keys and attributes
_SK_FROM, _SK_TO = "0" * 32, "f" * 32


@dataclass(frozen=True, slots=True)
class Recalled:
    text: str
    provider: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _pk(scope: str, conversation: str) -> str:
    return f"reasoning#{scope}#{_digest(conversation)}"


class ReasoningMemory:
    """Reasoning by (scope, conversation, turn) in the shared store."""

    def __init__(self, store: Store, clock: Clock, *, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl

    async def keep(self, scope: str, conversation: str, turn: str, text: str, provider: str) -> bool:
        """Store one turn's reasoning (one ``PutItem``); False when it is too large to keep."""
        if len(text.encode()) > MAX_TEXT_BYTES:
            return False
        item = {"text": text, "provider": provider, "expires_at": self.clock.now() + self.ttl}
        await self.store.put(_pk(scope, conversation), _digest(turn), item, expect_version=None)
        return True

    async def recall(self, scope: str, conversation: str, turns: list[str]) -> dict[str, Recalled]:
        """The kept reasoning of ``turns`` (by turn id; absent ones left out), one ``Query``."""
        wanted = {_digest(turn): turn for turn in turns}
        found: dict[str, Recalled] = {}
        for item in await self.store.query(_pk(scope, conversation), _SK_FROM, _SK_TO):
            turn = wanted.get(item["sk"])
            text, provider = item.get("text"), item.get("provider")
            if turn is not None and isinstance(text, str) and isinstance(provider, str):
                found[turn] = Recalled(text, provider)
        return found
