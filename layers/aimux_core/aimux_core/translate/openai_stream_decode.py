"""OpenAI ``chat.completion.chunk`` dicts from an upstream → canonical stream events.

``ChatChunkDecoder.feed(chunk)`` returns the events for one parsed ``data:`` payload and
``finish()`` the closing ones at ``[DONE]``/EOF. The output always obeys the Messages grammar:

- one ``message_start`` on the first chunk (``input_tokens`` = the caller's estimate, cache
  fields 0, ``output_tokens`` 1), unless that chunk is an error: then nothing was emitted and
  the caller can still fail over.
- blocks strictly one at a time, indexes 0, 1, 2…: reasoning (``reasoning_content`` /
  ``reasoning`` / ``reasoning_details``) → thinking block ``{"thinking": "", "signature": ""}``
  (a ``signature_delta`` before its stop only when a ``signer`` is given); ``content`` and
  ``refusal`` → text; tool-call fragments → ``tool_use`` with ``input_json_delta``s.
- tool calls are aggregated by ``index``; a fragment without ``index`` belongs to the last call;
  a new ``id`` or a different name on a reused (or missing) index starts a new call. Only one
  call streams live; fragments of other calls are buffered and replayed when the live call's
  arguments form a complete JSON object, or at ``finish_reason``. A fragment is never sent to a
  closed block; arguments are validated when their block closes (except when ``finish_reason`` is
  ``length``: a call cut mid-way stays partial, as Anthropic streams it). Whitespace-only ``content``
  while a call streams (vLLM filler) is ignored rather than cutting the call.
- ``finish_reason`` closes everything and is held: ``message_delta`` (stop reason + cumulative
  usage) and ``message_stop`` follow at the usage chunk (same chunk or later, ``choices`` may be
  ``[]``/``null``) or at ``finish()``; without any usage, ``output_tokens`` is estimated from the
  streamed characters. ``stop``/``tool_calls`` → ``tool_use`` iff tool blocks were sent;
  ``length`` → ``max_tokens``; ``content_filter``/refusal → ``refusal``.
- error chunks (``{"error": …}``, OpenRouter ``finish_reason: "error"``, vLLM
  ``{"object": "error"}``) raise ``UpstreamError``; so does ``finish()`` before any
  ``finish_reason`` (a cut stream must not look like a clean stop).
- chunks that break the schema raise ``malformed_answer`` (content that is not text, a tool call
  without a name, arguments that are not a JSON object, an answer with nothing in it: see
  ``EMPTY_ANSWER_FINISHES``) or, for wrong types deeper down, ``TypeError``/``ValueError``/
  ``AttributeError``, which the adapter reports as ``malformed_answer`` too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import UpstreamError
from ..wire.anthropic import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    StreamEvent,
)
from .openai_response import (
    EMPTY_ANSWER_FINISHES,
    anthropic_usage,
    call_thought_signature,
    message_id_from,
    reasoning_text,
    stop_reason_for,
    upstream_error,
)
from .stream import StreamTranslator
from .tool_names import encode_tool_id, restore_tool_name, tool_name_map
from .upstream_errors import malformed_answer

_delta_event = ContentBlockDeltaEvent.model_validate
_start_event = ContentBlockStartEvent.model_validate


def _block_delta(index: int | None, delta: dict[str, Any]) -> StreamEvent:
    """One ``content_block_delta`` event, validated."""
    return _delta_event({"type": "content_block_delta", "index": index, "delta": delta})


class _Call:
    """One upstream tool call: identity, buffered arguments and its block, once opened."""

    __slots__ = ("args", "block", "checked", "closed", "id", "name", "signature")

    def __init__(self, call_id: str | None) -> None:
        self.id = call_id
        self.signature: str | None = None  # Gemini's thought signature, when the call carries one
        self.name = ""
        self.args: list[str] = []
        self.block: int | None = None
        self.closed = False
        self.checked = -1  # len(args) at the last failed completeness check


class ChatChunkDecoder(StreamTranslator[dict[str, Any], StreamEvent]):
    """One upstream OpenAI chunk stream → one canonical event stream."""

    def __init__(
        self,
        *,
        model: str,
        input_tokens: int = 0,
        provider: str = "openai",
        tool_names: Iterable[str] = (),
        signer: Callable[[str], str] | None = None,
        message_id: str | None = None,
    ) -> None:
        """``model`` is the client's model name; ``input_tokens`` the request's estimate;
        ``tool_names`` the canonical tool names (to undo shortening); ``signer`` mints the
        signature of a finished thinking text (``thinking.sign_reasoning``)."""
        self._model = model
        self._estimate = input_tokens
        self._provider = provider
        self._names = tool_name_map(tool_names)
        self._signer = signer
        self._mid = message_id
        self._started = False
        self._done = False
        self._next = 0  # next Anthropic block index
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._thought_blocks = 0  # thinking blocks opened so far
        self._live: _Call | None = None
        self._thought: list[str] = []
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._last: _Call | None = None
        self._tool_blocks = 0
        self._refused = False
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._chars = 0

    # ------------------------------------------------------------------ public

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if self._done:
            return []
        if chunk.get("error") or chunk.get("object") == "error":
            raise upstream_error(chunk, self._provider)
        out: list[StreamEvent] = []
        if not self._started:
            out.append(self._message_start(chunk))
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            self._usage = usage
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                self._delta(delta, out)
            finish = choice.get("finish_reason")
            if finish:
                if finish == "error":
                    raise upstream_error(choice.get("error") or chunk, self._provider)
                self._finish = finish  # before closing: a call cut by ``length`` is not an error
                self._close_all(out)
        if usage and self._finish is not None:
            self._end(out)
        return out

    @property
    def message_id(self) -> str | None:
        """The id of the ``message_start`` made from the first chunk (None before it)."""
        return self._mid

    @property
    def open_index(self) -> int:
        """The Anthropic index of the block open now (the one ``extend`` adds to)."""
        return self._next - 1

    @property
    def thought_blocks(self) -> int:
        """How many thinking blocks the stream has opened so far."""
        return self._thought_blocks

    def extend(self, kind: str, piece: str) -> bool:
        """What ``feed`` does with a chunk whose only content is ``piece`` (``providers/openai_relay.piece_of``)
        while a ``kind`` block (``text``/``thinking``) is open, without making its event; False otherwise."""
        if self._open != kind:
            return False
        if kind == "thinking" and self._signer is not None:
            self._thought.append(piece)
        self._chars += len(piece)
        return True

    def finish(self) -> list[StreamEvent]:
        """End of the upstream body: release the held ``message_delta`` or fail."""
        if self._done:
            return []
        if self._finish is None:
            raise UpstreamError("upstream stream ended before finish", provider=self._provider)
        out: list[StreamEvent] = []
        self._end(out)
        return out

    # ------------------------------------------------------------------ chunks

    def _message_start(self, chunk: dict[str, Any]) -> StreamEvent:
        self._started = True
        if self._mid is None:
            self._mid = message_id_from(chunk.get("id"))
        usage = {
            "input_tokens": self._estimate,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        }
        return MessageStartEvent.model_validate(
            {
                "type": "message_start",
                "message": {
                    "id": self._mid,
                    "type": "message",
                    "role": "assistant",
                    "model": self._model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                },
            }
        )

    def _delta(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        thought = reasoning_text(delta)
        if thought:
            if self._open != "thinking":
                self._close(out)
                self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            if self._signer is not None:
                self._thought.append(thought)
            self._chars += len(thought)
            out.append(_block_delta(self._next - 1, {"type": "thinking_delta", "thinking": thought}))
        text = delta.get("content")
        if text and isinstance(text, str):
            self._text(text, out)
        elif text is not None and not isinstance(text, str):
            raise malformed_answer(self._provider, f"streamed delta.content that is a {type(text).__name__}")
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._refused = True
            self._text(refusal, out)
        calls = delta.get("tool_calls")
        if calls:
            for call in calls:
                self._fragment(call, out)
        legacy = delta.get("function_call")
        if legacy:
            self._fragment({"index": -1, "function": legacy}, out)

    def _text(self, text: str, out: list[StreamEvent]) -> None:
        if self._open != "text":
            if self._open == "tool" and not text.strip():
                return  # vLLM-style filler between tool-call fragments must not cut the call
            self._close(out)
            self._open_block("text", {"type": "text", "text": ""}, out)
        self._chars += len(text)
        out.append(_block_delta(self._next - 1, {"type": "text_delta", "text": text}))

    def _fragment(self, frag: dict[str, Any], out: list[StreamEvent]) -> None:
        index, call_id = frag.get("index"), frag.get("id")
        fn = frag.get("function") or {}
        name = fn.get("name")
        call = self._last if index is None else self._by_index.get(index)
        if call is not None and (
            (call_id and call.id and call_id != call.id) or (name and call.name and name != call.name)
        ):
            call = None  # a new id or name on a reused (or missing) index starts a new call
        if call is None:
            call = _Call(call_id)
            self._calls.append(call)
            if index is not None:
                self._by_index[index] = call
        elif call_id and not call.id:
            call.id = call_id
        self._last = call
        if name and not call.name:
            call.name = name
        if call.signature is None and "extra_content" in frag:
            call.signature = call_thought_signature(frag)
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)
        if call is self._live:
            if args:
                call.args.append(args)
                self._chars += len(args)
                out.append(_block_delta(call.block, {"type": "input_json_delta", "partial_json": args}))
        elif call.closed:
            if args and args.strip():
                raise malformed_answer(self._provider, "sent tool arguments after the call was complete")
        else:
            if args:
                call.args.append(args)
                self._chars += len(args)
            self._activate(call, out)

    def _activate(self, call: _Call, out: list[StreamEvent]) -> None:
        """Make ``call`` the live block if the current live call can no longer grow."""
        if not call.name:
            return
        live = self._live
        if live is not None and not self._complete(live):
            return
        self._close(out)
        self._open_tool(call, out)

    def _complete(self, call: _Call) -> bool:
        """Whether the call's arguments already form one JSON value (more text would break it)."""
        if call.checked == len(call.args):
            return False
        raw = "".join(call.args)
        try:
            if raw.strip():
                json.loads(raw)
                return True
        except ValueError:
            pass
        call.checked = len(call.args)
        return False

    # ------------------------------------------------------------------ blocks

    def _open_block(self, kind: str, block: dict[str, Any], out: list[StreamEvent]) -> None:
        out.append(_start_event({"type": "content_block_start", "index": self._next, "content_block": block}))
        self._open = kind
        if kind == "thinking":
            self._thought_blocks += 1
        self._next += 1

    def _open_tool(self, call: _Call, out: list[StreamEvent]) -> None:
        if not call.name:
            raise malformed_answer(self._provider, "streamed a tool call without a name")
        call_id = encode_tool_id(call.id or f"toolu_{self._mid}_{self._tool_blocks}", call.signature)
        call.block = self._next
        self._tool_blocks += 1
        self._open_block(
            "tool",
            {"type": "tool_use", "id": call_id, "name": restore_tool_name(call.name, self._names), "input": {}},
            out,
        )
        self._live = call
        if call.args:
            out.append(_block_delta(call.block, {"type": "input_json_delta", "partial_json": "".join(call.args)}))

    def _close(self, out: list[StreamEvent]) -> None:
        kind = self._open
        if kind is None:
            return
        index = self._next - 1
        if kind == "thinking" and self._signer is not None:
            signature = self._signer("".join(self._thought))
            self._thought = []
            out.append(_block_delta(index, {"type": "signature_delta", "signature": signature}))
        elif kind == "tool":
            call = self._live
            assert call is not None
            call.closed = True
            self._live = None
            self._check_arguments(call)
        out.append(ContentBlockStopEvent(index=index))
        self._open = None

    def _check_arguments(self, call: _Call) -> None:
        raw = "".join(call.args)
        if not raw.strip() or self._finish == "length":  # cut by max_tokens: partial, as Anthropic sends it
            return
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise malformed_answer(self._provider, "streamed tool arguments that are not a JSON object")

    def _close_all(self, out: list[StreamEvent]) -> None:
        """At ``finish_reason``: close the open block and replay every buffered call in order."""
        self._close(out)
        for call in self._calls:
            if call.block is None and not call.closed:
                self._open_tool(call, out)
                self._close(out)

    def _end(self, out: list[StreamEvent]) -> None:
        self._close_all(out)
        if self._next == 0 and (self._finish not in EMPTY_ANSWER_FINISHES or not self._usage):
            raise malformed_answer(
                self._provider,
                f"streamed nothing usable (no content, no tool calls, finish_reason {self._finish!r}"
                + ("" if self._usage else ", no usage")
                + ")",
            )
        stop = stop_reason_for(self._finish, has_tool_use=self._tool_blocks > 0, refused=self._refused)
        if self._usage:
            usage: dict[str, Any] = anthropic_usage(self._usage)
        else:  # no usage from upstream: estimate so accounting never sees zero output
            usage = {"output_tokens": (self._chars + 3) // 4}
        out.append(
            MessageDeltaEvent.model_validate(
                {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}
            )
        )
        out.append(MessageStopEvent())
        self._done = True
