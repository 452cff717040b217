"""Reasoning that ``echo`` providers need back, restored by aimux when the client did not keep it.

DeepSeek's thinking mode (also GLM, Kimi, MiniMax: presets with ``reasoning: echo``) answers 400
"The ``reasoning_content`` in the thinking mode must be passed back to the API" when an assistant
turn that made tool calls comes back without its reasoning, in every later request of the
conversation (turns without tool calls may come back without it). Clients drop reasoning they did
not ask for: an OpenAI client without ``reasoning_effort`` never sees it, an Anthropic client
without thinking gets no thinking blocks, and many frameworks rebuild assistant messages from
content and tool calls only. So:

- after an answer from an echo provider that has tool calls and reasoning, the reasoning is kept
  (``state.reasoning.ReasoningMemory``: one background ``PutItem``, off the hot path, like the
  other writes after the answer; streams are observed by ``tap`` and kept at ``message_stop``);
- before a request goes to a decision with an echo target, assistant tool-call turns that carry
  no aimux-signed thinking get it back as a thinking block with an aimux signature
  (``sign_reasoning``), so ``prepare_thinking`` sends it to echo targets (``reasoning_content`` or
  an unsigned thinking block) and drops it for every other target.

``missing_reasoning`` is a pure scan with no I/O: requests whose targets need no echo, or whose
history lacks nothing, never touch the store. A request that does need it costs one ``Query``
(the gateway runs it concurrently with admission's calls). A store failure is logged and the
request goes on as the client sent it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from .state.background import BackgroundWrites
from .state.reasoning import ReasoningMemory
from .state.store import StoreError
from .translate.thinking import aimux_signed_by, sign_reasoning
from .wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    EventStream,
    Message,
    MessagesRequest,
    MessageStopEvent,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)

log = logging.getLogger("aimux.reasoning")
ANONYMOUS_SCOPE = "-"
_STORE_FAILURES = (StoreError, TimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class Missing:
    """Assistant tool-call turns without reasoning: ``(message index, first tool id)`` each."""

    conversation: str
    turns: tuple[tuple[int, str], ...]


def _first_tool_id(content: list[Any]) -> str | None:
    return next((block.id for block in content if isinstance(block, ToolUseBlock)), None)


def conversation_id(request: MessagesRequest) -> str | None:
    """The first tool id of the earliest assistant tool-call turn: the conversation's stable name."""
    for turn in request.messages:
        if turn.role == "assistant" and not isinstance(turn.content, str):
            first = _first_tool_id(turn.content)
            if first is not None:
                return first
    return None


def missing_reasoning(request: MessagesRequest) -> Missing | None:
    """The tool-call turns of ``request`` that carry no aimux-signed thinking, or None (no I/O)."""
    conversation: str | None = None
    turns: list[tuple[int, str]] = []
    for index, turn in enumerate(request.messages):
        if turn.role != "assistant" or isinstance(turn.content, str):
            continue
        first = _first_tool_id(turn.content)
        if first is None:
            continue
        conversation = conversation or first
        if not any(isinstance(b, ThinkingBlock) and aimux_signed_by(b) is not None for b in turn.content):
            turns.append((index, first))
    return Missing(conversation, tuple(turns)) if conversation is not None and turns else None


def scope_of(key: Any) -> str:
    """Whose reasoning: the caller's key id, so one key never reads another's."""
    return getattr(key, "id", None) or ANONYMOUS_SCOPE


class ReasoningEcho:
    """Restore before the call, keep after the answer (see the module docstring)."""

    def __init__(self, memory: ReasoningMemory) -> None:
        self.memory = memory
        self._writes = BackgroundWrites(log)

    async def restore(self, request: MessagesRequest, scope: str, missing: Missing) -> MessagesRequest:
        """``request`` with the kept reasoning of the ``missing`` turns put back (one ``Query``)."""
        try:
            found = await self.memory.recall(scope, missing.conversation, [turn for _, turn in missing.turns])
        except _STORE_FAILURES as exc:
            log.warning("reasoning restore skipped: state store unavailable (%s)", type(exc).__name__)
            return request
        if not found:
            return request
        messages = list(request.messages)
        for index, turn in missing.turns:
            kept = found.get(turn)
            if kept is not None:
                block = ThinkingBlock(thinking=kept.text, signature=sign_reasoning(kept.provider, kept.text))
                message = messages[index]
                messages[index] = message.model_copy(update={"content": [block, *message.content]})
        return request.model_copy(update={"messages": messages})

    def remember(self, request: MessagesRequest, answer: Message, provider: str, scope: str) -> None:
        """Keep the reasoning of an answer that made tool calls (in the background)."""
        thoughts = [block.thinking for block in answer.content if isinstance(block, ThinkingBlock)]
        self._keep(request, scope, _first_tool_id(answer.content), "".join(thoughts), provider)

    async def tap(self, events: EventStream, request: MessagesRequest, provider: str, scope: str) -> EventStream:
        """Pass ``events`` through unchanged; at ``message_stop`` keep the answer's reasoning."""
        thoughts: list[str] = []
        first_tool: str | None = None
        try:
            async for event in events:
                if isinstance(event, ContentBlockDeltaEvent):
                    if isinstance(event.delta, ThinkingDelta):
                        thoughts.append(event.delta.thinking)
                elif isinstance(event, ContentBlockStartEvent):
                    if first_tool is None and isinstance(event.content_block, ToolUseBlock):
                        first_tool = event.content_block.id
                elif isinstance(event, MessageStopEvent):
                    self._keep(request, scope, first_tool, "".join(thoughts), provider)
                yield event
        finally:
            await events.aclose()

    async def drain(self) -> None:
        """Wait for the background writes (tests, and Lambda before the process may freeze)."""
        await self._writes.drain()

    def _keep(self, request: MessagesRequest, scope: str, turn: str | None, text: str, provider: str) -> None:
        if turn is None or not text:
            return
        conversation = conversation_id(request) or turn
        self._later(self.memory.keep(scope, conversation, turn, text, provider))

    def _later(self, work: Awaitable[Any]) -> None:
        self._writes.later(work, "reasoning keep")
