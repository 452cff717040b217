"""Canonical stream events → OpenAI ``chat.completion.chunk`` dicts (OpenAI clients).

``ChatChunkEncoder.feed(event)`` returns the chunks for one event, ``finish()`` the trailing ones:

- ``message_start`` → ``delta: {role: "assistant", content: ""}``
- ``text_delta`` → ``delta: {content}``; ``thinking_delta`` → ``delta: {reasoning_content}`` only
  when the client opted in; signatures, redacted thinking and server-tool blocks are dropped
- a ``tool_use`` block is held until its ``content_block_stop`` and then sent whole, in one chunk:
  ``tool_calls: [{index: k, id, type: "function", function: {name, arguments}}]`` where k counts
  the tool calls sent, from 0 (not the Anthropic block index), plus ``extra_content`` when the id
  carries a Gemini thought signature. ``arguments`` is the block's
  ``input_json_delta`` text, else the input its start carried (Kimi), else ``"{}"`` (never ``""``,
  which the SDK accumulator reads as no arguments). A block whose input is not a JSON object (an
  answer cut by ``max_tokens`` mid-call) is dropped: a client must never receive a call it cannot
  parse. Holding costs latency on tool arguments only; text and reasoning still stream.
- the first ``message_delta`` → ``delta: {}`` + ``finish_reason``; later ones only update usage
- ``message_stop`` (or ``finish()``) → with ``include_usage``, one ``choices: []`` chunk with
  usage. Every chunk repeats id/object/created/model, plus ``usage: null`` with ``include_usage``.

``chunk_frame`` writes one chunk as the chat surface sends it; ``data: [DONE]`` and error rendering
belong to the surface. An ``error`` event (which providers should not produce) is raised as
``UpstreamError`` so the surface renders it the same way. ``ChunkForm`` is what every chunk of one
client's stream repeats and shows; ``piece_frame`` the frame of a text or reasoning piece in that form,
for an adapter that writes those chunks itself (``providers/openai_relay.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, assert_never

from ..errors import UpstreamError
from ..wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    InputJsonDelta,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    OtherDelta,
    OtherEvent,
    PingEvent,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)
from ..wire.sse import openai_frame
from .openai_response import chat_usage, completion_id, dump_arguments, finish_reason_for, signature_extra_content
from .stream import StreamTranslator
from .tool_names import decode_tool_id, restore_tool_name, tool_name_map

_ERROR_STATUS = {"rate_limit_error": 429, "overloaded_error": 529, "timeout_error": 504, "invalid_request_error": 400}
_MARK = "\x00piece\x00"  # stands for the piece in the frame ``piece_frame`` cuts; its JSON is ``"\u0000piece\u0000"``


@dataclass(frozen=True, slots=True)
class ChunkForm:
    """What the chat surface decided for one stream: the model name and ``created`` every chunk repeats,
    whether chunks carry ``usage`` and whether reasoning is shown (``reasoning_content``)."""

    model: str
    created: int
    include_usage: bool = False
    include_reasoning: bool = False


def chunk_frame(chunk: dict[str, Any]) -> bytes:
    """One chunk as the chat surface writes it: compact JSON, non-ASCII as is, one ``data:`` frame."""
    return openai_frame(json.dumps(chunk, separators=(",", ":"), ensure_ascii=False))


def piece_frame(form: ChunkForm, completion_id: str, field: str) -> Callable[[str], bytes]:
    """The frame ``ChatChunkEncoder`` + ``chunk_frame`` write for a chunk whose delta is ``{field: piece}``
    (``content`` or ``reasoning_content``), as a function of the piece: the encoder's own frame with the
    piece's JSON string spliced in. Raises ``UnicodeEncodeError`` where ``chunk_frame`` would (a lone
    surrogate)."""
    encoder = ChatChunkEncoder(
        model=form.model, created=form.created, include_usage=form.include_usage, completion_id=completion_id
    )
    head, _, tail = chunk_frame(encoder._chunk({field: _MARK})).rpartition(json.dumps(_MARK).encode())
    dumps = json.JSONEncoder(ensure_ascii=False).encode

    def frame(piece: str) -> bytes:
        return head + dumps(piece).encode() + tail

    return frame


class ChatChunkEncoder(StreamTranslator[StreamEvent, dict[str, Any]]):
    """One canonical stream → one OpenAI chunk stream (single choice, index 0)."""

    __slots__ = (
        "_blocks",
        "_created",
        "_finish_sent",
        "_held",
        "_id",
        "_include_reasoning",
        "_include_usage",
        "_model",
        "_names",
        "_tool_count",
        "_usage",
        "_usage_sent",
    )

    def __init__(
        self,
        *,
        model: str,
        created: int,
        include_usage: bool = False,
        include_reasoning: bool = False,
        tool_names: Iterable[str] = (),
        completion_id: str = "chatcmpl-aimux",
    ) -> None:
        """``model`` is the name the client asked for; ``tool_names`` the client's tool names
        (shortened names are mapped back); ``completion_id`` is replaced by the message id."""
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._include_reasoning = include_reasoning
        self._names = tool_name_map(tool_names)
        self._id = completion_id
        self._blocks: dict[int, str] = {}  # anthropic index → "text" | "thinking" | "tool_use"
        self._held: dict[int, _HeldCall] = {}  # anthropic index → the open tool block
        self._tool_count = 0
        self._usage: dict[str, Any] = {}
        self._finish_sent = False
        self._usage_sent = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        match event:
            case ContentBlockDeltaEvent():
                return self._delta(event)
            case ContentBlockStartEvent():
                return self._start(event)
            case ContentBlockStopEvent():
                return self._stop(event.index)
            case MessageStartEvent():
                message = event.message
                self._id = completion_id(message.id)
                self._usage = message.usage.dump()
                return [self._chunk({"role": "assistant", "content": ""})]
            case MessageDeltaEvent():
                if event.usage is not None:
                    self._usage.update(event.usage.model_dump(exclude_none=True))
                if self._finish_sent:
                    return []
                self._finish_sent = True
                finish = finish_reason_for(event.delta.stop_reason)
                if finish == "tool_calls" and not self._tool_count:
                    finish = "stop"
                return [self._chunk({}, finish)]
            case MessageStopEvent():
                return self.finish()
            case ErrorEvent():
                err = event.error
                raise UpstreamError(
                    err.message, provider="upstream", kind=err.type, status=_ERROR_STATUS.get(err.type, 500)
                )
            case PingEvent() | OtherEvent():
                return []
            case _:
                assert_never(event)

    def finish(self) -> list[dict[str, Any]]:
        """The usage chunk, once, if the client asked for it and the answer finished."""
        if not self._include_usage or not self._finish_sent or self._usage_sent:
            return []
        self._usage_sent = True
        return [
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": chat_usage(self._usage),
            }
        ]

    def _start(self, event: ContentBlockStartEvent) -> list[dict[str, Any]]:
        block = event.content_block
        if isinstance(block, TextBlock | ThinkingBlock):
            self._blocks[event.index] = block.type
        elif isinstance(block, ToolUseBlock):
            self._blocks[event.index] = block.type
            self._held[event.index] = _HeldCall(block.id, block.name, block.input)
        return []  # other blocks (redacted thinking, server tools) are not shown to OpenAI clients

    def _delta(self, event: ContentBlockDeltaEvent) -> list[dict[str, Any]]:
        match delta := event.delta:
            case TextDelta():
                if delta.text and self._blocks.get(event.index) == "text":
                    return [self._chunk({"content": delta.text})]
            case InputJsonDelta():
                held = self._held.get(event.index)
                if held is not None and delta.partial_json:
                    held.parts.append(delta.partial_json)
            case ThinkingDelta():
                if self._include_reasoning and delta.thinking and self._blocks.get(event.index) == "thinking":
                    return [self._chunk({"reasoning_content": delta.thinking})]
            case SignatureDelta() | OtherDelta():
                pass
            case _:
                assert_never(delta)
        return []

    def _stop(self, index: int) -> list[dict[str, Any]]:
        held = self._held.pop(index, None)
        if held is None:
            return []
        arguments = held.arguments()
        if arguments is None:
            return []
        call = {
            "index": self._tool_count,
            "id": decode_tool_id(held.id),
            "type": "function",
            "function": {"name": restore_tool_name(held.name, self._names), "arguments": arguments},
        }
        extra = signature_extra_content(held.id)
        if extra is not None:
            call["extra_content"] = extra
        self._tool_count += 1
        return [self._chunk({"tool_calls": [call]})]


class _HeldCall:
    """A tool block on its way to the client: sent once its input is complete."""

    __slots__ = ("id", "name", "parts", "start_input")

    def __init__(self, call_id: str, name: str, start_input: dict[str, Any]) -> None:
        self.id = call_id
        self.name = name
        self.start_input = start_input
        self.parts: list[str] = []

    def arguments(self) -> str | None:
        """The ``arguments`` string, or None when the input is not a JSON object (a cut call)."""
        if not self.parts:
            return dump_arguments(self.start_input)
        raw = "".join(self.parts)
        if not raw.strip():
            return "{}"
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return raw if isinstance(value, dict) else None
