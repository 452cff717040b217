"""Any client ← OpenAI-dialect upstream: after the first content, plain text chunks skip the canonical model.

When: the chat surface set ``RequestContext.chat_form`` (an OpenAI client's stream, which it writes
``RawFrames`` of unchanged: ``ChatPieces``), or the messages surface set ``RequestContext.raw_frames`` (an
Anthropic client's: ``AnthropicPieces``), and the gateway left it set (it clears both when the response
cache folds the stream into the answer it keeps, which needs every event). Every OpenAI-dialect upstream qualifies:
what varies between presets (reasoning fields, Gemini thought signatures, tool-call fragments
without an index, Groq's ``x_groq`` usage, error chunks, refusals) is handled by the decoder, and
every chunk but the plain ones below still goes through it; what presets change in the request
(``max_tokens`` clamp, ``stream_options.include_usage`` asked of every upstream, schema cleaning,
Gemini's skip signatures, reasoning echoed back) is the request's, the same on both paths. Thinking
pieces stay events when the gateway keeps the answer's reasoning (``reasoning.ReasoningEcho.tap``:
an ``echo`` preset and a request with tools), which reads them.

What is relayed (``piece_of``): a chunk whose only effect on ``ChatChunkDecoder.feed`` is one more
piece of the text (``content``) or thinking (``reasoning_content``/``reasoning``/``reasoning_details``)
block already open: no finish reason, no usage, no tool call, no refusal, no error. The decoder counts
it (``ChatChunkDecoder.extend``: the characters that estimate output tokens, the reasoning it signs)
and, instead of a canonical event through the dispatcher, tally and encoder and one ``json.dumps`` of
a whole chunk per event, the frame the chat surface would write is made here from the piece alone
(``piece_frame``: the encoder's own frame with the piece's JSON string spliced in); a reasoning piece
the client did not ask for makes no frame. The frames of one read leave as one ``RawFrames``. Every
other chunk (the first content, tool-call fragments, the finish and usage chunks, errors, anything
malformed) takes the event path exactly as without the relay, in the same order, and so do frames
not in the plain ``data: JSON`` form (comments, ``event:`` lines, several ``data:`` lines, invalid
UTF-8). Frames are cut at ``\\n\\n``, or at ``\\r\\n\\r\\n`` in a body whose every line ends in ``\\r\\n``;
from the first read that breaks its framing's rule (a ``\\r`` in an ``\\n`` body that is not all
``\\r\\n``, a bare ``\\r`` or ``\\n`` in a ``\\r\\n`` body) the rest of the stream goes through the event
path's incremental ``SSEParser``. A frame cut this way starts where that parser is between events, so
reading it alone with a fresh parser gives the event path's events.

For an Anthropic client only text pieces are relayed, each as the ``content_block_delta`` frame the
messages surface writes for the event (``wire.sse.text_delta_frame``, the template ``event_frame`` itself
uses) at the decoder's open block index. Thinking pieces stay events (their block is signed at its end and
the surface may hide it); when the client did not ask for thinking the surface hides thinking blocks and
moves the later ones down (``hide_thinking``), which it can only do on events, so from the first thinking
block on nothing more is relayed, as ``anthropic_relay.py`` does.

Why not forward the upstream's bytes: the chat surface's chunk is not the upstream's. The event path
writes the client's model name, aimux's ``created``, ``id`` from the upstream's id (``completion_id``),
``usage: null`` only when the client asked for usage, and drops the upstream's other fields
(``system_fingerprint``, ``service_tier``, ``obfuscation``, OpenRouter's ``provider``...). Rebuilding a
chunk from its piece costs one string dump, and keeps the promise exact: **the client receives the
same bytes on both paths**, byte for byte (``tests/providers/test_openai_relay.py`` and, for an Anthropic
client, ``test_openai_relay_anthropic.py`` run both on the same streams; ``created`` and the ids are the
surface's and the decoder's, shared by both paths).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

from ..translate.openai_response import completion_id, reasoning_text
from ..translate.openai_stream_decode import ChatChunkDecoder
from ..translate.openai_stream_encode import ChunkForm, piece_frame
from ..wire.anthropic import EventStream, StreamEvent
from ..wire.raw_frames import raw_frames
from ..wire.sse import SSEParser, text_delta_frame

_FRAME_END = b"\n\n"
_CRLF_END = b"\r\n\r\n"
_DATA = b"data: "
_LONG_TAIL = 1 << 20  # an unfinished frame this long: the incremental parser takes the rest (no quadratic joins)
_FIELDS = {"text": "content", "thinking": "reasoning_content"}


class ChunkReader(Protocol):
    """The event path's reading of one payload (``providers/openai.py``): its decoder, whether ``[DONE]``
    came, and the events of a ``data:`` payload (raising the adapter's errors)."""

    decoder: ChatChunkDecoder
    ended: bool

    def feed(self, data: str, parsed: dict[str, Any] | None = None) -> list[StreamEvent]: ...


def piece_of(chunk: Any) -> tuple[str, str] | None:
    """``("text", piece)`` or ``("thinking", piece)`` for a chunk that carries nothing but that piece
    (what ``ChatChunkDecoder.feed`` would only add to an open block of that kind); None for any other."""
    if type(chunk) is not dict or chunk.get("error") or chunk.get("object") == "error" or chunk.get("usage"):
        return None
    choices = chunk.get("choices")
    if type(choices) is not list or not choices or chunk.get("x_groq") is not None:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason"):
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or delta.get("refusal") or delta.get("tool_calls") or delta.get("function_call"):
        return None
    text = delta.get("content")
    thought = reasoning_text(delta)
    if thought:
        return ("thinking", thought) if text is None or text == "" else None
    return ("text", text) if type(text) is str and text else None


class PieceFrames(Protocol):
    """How one client's stream writes a plain piece (``piece_of``) of the block open in ``decoder``."""

    def frame(self, kind: str, piece: str, decoder: ChatChunkDecoder) -> bytes | None:
        """The client's frame; ``b""`` for a piece counted but not shown; None: the chunk takes the event
        path. Raises ``ValueError`` where the surface would fail to write the piece's event."""
        ...


class ChatPieces:
    """An OpenAI client's frames (the chat surface's ``ChunkForm``). ``thinking``: thinking pieces may be
    relayed (nothing downstream reads them as events)."""

    __slots__ = ("_frames", "form", "thinking")

    def __init__(self, form: ChunkForm, *, thinking: bool) -> None:
        self.form = form
        self.thinking = thinking
        self._frames: dict[str, Callable[[str], bytes]] = {}

    def frame(self, kind: str, piece: str, decoder: ChatChunkDecoder) -> bytes | None:
        if kind == "thinking" and not self.thinking:
            return None
        if kind == "text" or self.form.include_reasoning:
            return self._frame(kind, decoder)(piece)
        return b""

    def _frame(self, kind: str, decoder: ChatChunkDecoder) -> Callable[[str], bytes]:
        frame = self._frames.get(kind)
        if frame is None:
            mid = decoder.message_id
            assert mid is not None, "a block is open only after message_start"
            frame = self._frames[kind] = piece_frame(self.form, completion_id(mid), _FIELDS[kind])
        return frame


class AnthropicPieces:
    """An Anthropic client's frames: text pieces only, and none once a thinking block came while the
    surface hides thinking (``hides_thinking``: the client did not ask for it). See the module docstring."""

    __slots__ = ("hides_thinking",)

    def __init__(self, *, hides_thinking: bool) -> None:
        self.hides_thinking = hides_thinking

    def frame(self, kind: str, piece: str, decoder: ChatChunkDecoder) -> bytes | None:
        if kind != "text" or (self.hides_thinking and decoder.thought_blocks):
            return None
        return text_delta_frame(decoder.open_index, piece)


class ChunkRelay:
    """One stream's relay: frames of complete reads → events, plain pieces as ``RawFrames``."""

    __slots__ = ("pieces", "reader")

    def __init__(self, reader: ChunkReader, pieces: PieceFrames) -> None:
        self.reader = reader
        self.pieces = pieces

    def frames(self, frames: list[bytes], end: bytes = _FRAME_END) -> Iterator[StreamEvent]:
        """The events of complete frames (cut at the ``end`` of each), in order; stops at ``[DONE]``."""
        reader = self.reader
        run: list[bytes] = []
        for frame in frames:
            if not frame:
                continue
            data = _plain(frame)
            parsed = None
            if data is not None:
                relayed = self._relayed(data)
                if isinstance(relayed, bytes):
                    if relayed:
                        run.append(relayed)
                    continue
                parsed = relayed
            if run:  # what came before leaves first, also when this chunk raises
                yield raw_frames(b"".join(run))
                run = []
            if data is not None:
                yield from reader.feed(data, parsed)
            else:
                for sse in SSEParser().feed(frame + end):
                    yield from reader.feed(sse.data)
                    if reader.ended:
                        return
            if reader.ended:
                return
        if run:
            yield raw_frames(b"".join(run))

    def _relayed(self, data: str) -> bytes | dict[str, Any] | None:
        """The client's frame of a chunk ``piece_of`` takes while its block is open (``b""``: a reasoning
        piece the client does not see); else the chunk takes the event path: its JSON object when it is
        one (not parsed twice), None for anything else (parsed there again, failing as it does)."""
        if data[:1] != "{":
            return None
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if type(chunk) is not dict:
            return None
        piece = piece_of(chunk)
        if piece is None:
            return chunk
        kind, text = piece
        decoder = self.reader.decoder
        try:
            frame = self.pieces.frame(kind, text, decoder)
        except ValueError:  # a lone surrogate (UnicodeEncodeError is one): the event path fails on it as always
            return chunk
        if frame is None:
            return chunk
        return frame if decoder.extend(kind, text) else chunk


def _plain(frame: bytes) -> str | None:
    """The data of a frame ``data: …`` (one line, valid UTF-8) as the event path's parser reads it."""
    if not frame.startswith(_DATA) or b"\n" in frame:
        return None
    try:
        return frame[len(_DATA) :].decode().strip()
    except UnicodeDecodeError:  # the parser replaces invalid bytes: it reads this frame
        return None


async def relayed_events(chunks: AsyncIterator[bytes], relay: ChunkRelay) -> EventStream:
    """The events of an upstream's chunk stream (see the module docstring), up to ``[DONE]`` or the end
    of the body; the caller finishes the decoder and closes ``chunks``."""
    reader = relay.reader
    parser: SSEParser | None = None  # set once frames cannot be cut safely: the event path's parser from then on
    crlf = False  # every line end so far is \r\n: frames end at \r\n\r\n
    tail = b""
    async for chunk in chunks:
        if parser is None:
            if crlf or b"\r" in chunk:
                crlf = _only_crlf(chunk) and (crlf or b"\n" not in tail)
                if not crlf:
                    parser = SSEParser()
            if len(tail) > _LONG_TAIL:
                parser = SSEParser()
            if parser is not None:
                chunk, tail = tail + chunk, b""
        if parser is not None:
            for sse in parser.feed(chunk):
                for event in reader.feed(sse.data):
                    yield event
                if reader.ended:
                    return
            continue
        end = _CRLF_END if crlf else _FRAME_END
        data = tail + chunk if tail else chunk
        cut = data.rfind(end)
        if cut < 0:
            tail = data
            continue
        tail = data[cut + len(end) :]
        for event in relay.frames(data[:cut].split(end), end):
            yield event
        if reader.ended:
            return
    parser = parser or SSEParser()
    for sse in (*parser.feed(tail), *parser.finish()):  # a last frame without its blank line still counts
        for event in reader.feed(sse.data):
            yield event
        if reader.ended:
            return


def _only_crlf(chunk: bytes) -> bool:
    """Every line end in ``chunk`` is ``\\r\\n`` (one split across reads is not: the parser takes over)."""
    pairs = chunk.count(b"\r\n")
    return chunk.count(b"\r") == pairs and chunk.count(b"\n") == pairs
