"""The scripting model for the fake upstreams: what the next request(s) get back.

A test enqueues :class:`Reply` objects (a well-formed answer, optionally with wire-format
quirks real providers exhibit) and :class:`Fault` objects (something going wrong: an HTTP
error, a reset, a stall, a cut or corrupted stream). Each fake pops one item per model
request, FIFO, and falls back to its default reply when the queue is empty, so
"first 529, then success" is two ``enqueue`` calls.

Vocabulary is dialect-neutral where possible: stop reasons use Anthropic's names
(``end_turn``, ``max_tokens``, ``tool_use``, ``stop_sequence``, ``refusal``) and each dialect
maps them; unknown values go out verbatim so a test can send any provider-specific value.
Usage follows Anthropic's accounting (``input_tokens`` excludes cache reads/writes); each
dialect derives its own totals from it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Quirk(StrEnum):
    """Legal-but-awkward wire variants seen from real providers; the response stays valid."""

    SSE_COMMENTS = "sse_comments"  # ": OPENROUTER PROCESSING" before every event (SSE dialects)
    CRLF = "crlf"  # "\r\n" line endings in the SSE framing (SSE dialects)
    TOOL_CALL_NO_INDEX = "tool_call_no_index"  # Gemini: tool-call deltas without "index" (OpenAI)
    TOOL_CALLS_SAME_INDEX = "tool_calls_same_index"  # vLLM: parallel calls all at index 0 (OpenAI)
    FINISH_WITH_CONTENT = "finish_with_content"  # finish_reason on the last content chunk (OpenAI)
    USAGE_CHOICES_NULL = "usage_choices_null"  # usage chunk with "choices": null (OpenAI)
    CHUNK_USAGE_NULL = "chunk_usage_null"  # every chunk carries "usage": null when usage was asked (OpenAI)


class FaultKind(StrEnum):
    """What a :class:`Fault` does; see the constructors on :class:`Fault` for the details."""

    HTTP_ERROR = "http_error"
    DISCONNECT = "disconnect"
    RESET = "reset"
    STALL = "stall"
    TRUNCATE = "truncate"
    MALFORMED_JSON = "malformed_json"
    RESHAPE = "reshape"
    STREAM_ERROR = "stream_error"


class StreamErrorStyle(StrEnum):
    """How an OpenAI-compatible server reports an error after HTTP 200 (ignored by other dialects)."""

    OPENAI = "openai"  # data: {"error":{...}} then the body ends (no [DONE])
    OPENROUTER = "openrouter"  # a chunk with "error" and finish_reason "error", then [DONE]
    VLLM = "vllm"  # data: {"object":"error","message":...} then [DONE]


@dataclass(frozen=True)
class Usage:
    """Token counts in Anthropic terms (``input_tokens`` excludes both cache counts)."""

    input_tokens: int = 25
    output_tokens: int = 15
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_input(self) -> int:
        """Everything the model read: what OpenAI calls ``prompt_tokens``."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


@dataclass(frozen=True)
class ToolCall:
    """One tool call. ``arguments`` as a mapping is serialised compactly; as a string it is sent
    verbatim (``""`` for empty arguments, or deliberately invalid JSON). ``fragments`` pins the
    exact streamed pieces (their concatenation then is the argument text)."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    fragments: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.fragments is not None:
            object.__setattr__(self, "fragments", tuple(self.fragments))

    @property
    def arguments_text(self) -> str:
        """The argument JSON text exactly as it goes on the wire."""
        if self.fragments is not None:
            return "".join(self.fragments)
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"), ensure_ascii=False)

    @property
    def arguments_object(self) -> dict[str, Any]:
        """The arguments as an object, for dialects whose non-streamed form needs one."""
        text = self.arguments_text
        if not text.strip():
            return {}
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(f"tool arguments must be a JSON object, got {text!r}")
        return value

    def argument_pieces(self, chunk_size: int) -> list[str]:
        """The streamed argument fragments (possibly empty for empty arguments)."""
        if self.fragments is not None:
            return list(self.fragments)
        return split_text(self.arguments_text, chunk_size)


@dataclass(frozen=True)
class Reply:
    """A successful answer. ``text``/``reasoning`` given as a sequence are the exact streamed
    chunks; as a string they are split into ``chunk_size`` characters. ``chunk_delay`` sleeps
    between streamed events; ``delay`` before the answer starts (a model at work). ``model=None``
    echoes the requested model."""

    text: str | Sequence[str] | None = "Hello!"
    tool_calls: Sequence[ToolCall] = ()
    reasoning: str | Sequence[str] | None = None
    signature: str | None = None
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    chunk_size: int = 16
    chunk_delay: float = 0.0
    delay: float = 0.0
    model: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    quirks: frozenset[Quirk] = frozenset()
    include_usage: bool | None = None  # OpenAI streams: None = as the request's stream_options asked

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        object.__setattr__(self, "quirks", frozenset(Quirk(q) for q in self.quirks))
        for name in ("text", "reasoning"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, tuple(value))

    @property
    def full_text(self) -> str:
        """The whole answer text (what a client should fold the stream into)."""
        return _join(self.text)

    @property
    def full_reasoning(self) -> str:
        """The whole reasoning text."""
        return _join(self.reasoning)

    def text_pieces(self) -> list[str]:
        """Text deltas in order (empty list when there is no text)."""
        return _pieces(self.text, self.chunk_size)

    def reasoning_pieces(self) -> list[str]:
        """Reasoning deltas in order (empty list when there is no reasoning)."""
        return _pieces(self.reasoning, self.chunk_size)

    def with_(self, **changes: Any) -> Reply:
        """A modified copy (replies are immutable so a default can be shared safely)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Fault:
    """Something that goes wrong on the next request; build one with the class methods.

    ``after_events`` counts streamed events (SSE events or event-stream messages) sent before
    the fault strikes; ``None`` means before the status line. For a non-streamed response any
    ``after_events`` value means "half-way through the JSON body". ``reply`` is the answer the
    fault interrupts (the fake's default reply when ``None``).
    """

    kind: FaultKind
    status: int = 0
    error_type: str | None = None
    message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    seconds: float = 0.0
    after_events: int | None = None
    reply: Reply | None = None
    style: StreamErrorStyle = StreamErrorStyle.OPENAI
    edit: Callable[[Any], Any] | None = None

    @classmethod
    def http(
        cls,
        status: int,
        *,
        error_type: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
    ) -> Fault:
        """An HTTP error in the dialect's own error shape (type/message defaulted per status).
        ``body`` replaces the generated body verbatim (a mapping is JSON-encoded)."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = str(retry_after)
        return cls(FaultKind.HTTP_ERROR, status=status, error_type=error_type, message=message,
                   headers=all_headers, body=_as_bytes(body))

    @classmethod
    def disconnect(cls, after_events: int | None = None, reply: Reply | None = None) -> Fault:
        """Close the connection (FIN) without finishing: before any byte by default
        ("server disconnected without sending a response"), or mid-body."""
        return cls(FaultKind.DISCONNECT, after_events=after_events, reply=reply)

    @classmethod
    def reset(cls, after_events: int | None = 2, reply: Reply | None = None) -> Fault:
        """Abort the connection with a TCP RST, by default mid-stream after two events."""
        return cls(FaultKind.RESET, after_events=after_events, reply=reply)

    @classmethod
    def stall(cls, seconds: float, *, after_events: int | None = None, reply: Reply | None = None) -> Fault:
        """Go silent for ``seconds`` (before the first byte by default, or mid-stream), then
        carry on with the reply if the client is still there."""
        if not 0 <= seconds <= 120:
            raise ValueError("stall seconds must be within [0, 120]")
        return cls(FaultKind.STALL, seconds=seconds, after_events=after_events, reply=reply)

    @classmethod
    def truncate(cls, after_events: int = 3, reply: Reply | None = None) -> Fault:
        """End the body cleanly after ``after_events`` events, without the final ones."""
        return cls(FaultKind.TRUNCATE, after_events=after_events, reply=reply)

    @classmethod
    def malformed_json(cls, after_events: int | None = None, reply: Reply | None = None) -> Fault:
        """HTTP 200 whose JSON is broken: a cut JSON body, or (streaming) a broken event
        after ``after_events`` good ones (default: the first event is broken)."""
        return cls(FaultKind.MALFORMED_JSON, after_events=after_events, reply=reply)

    @classmethod
    def reshape(cls, edit: Callable[[Any], Any], reply: Reply | None = None) -> Fault:
        """HTTP 200 whose JSON parses but breaks the API's schema. ``edit`` gets every JSON payload
        of the reply (the whole body; each streamed event's ``data``; Bedrock stream events as
        ``{event_type: payload}``) and returns what to send instead (the same object to keep it)."""
        return cls(FaultKind.RESHAPE, edit=edit, reply=reply)

    @classmethod
    def stream_error(
        cls,
        after_events: int = 2,
        *,
        error_type: str | None = None,
        message: str | None = None,
        style: StreamErrorStyle | str = StreamErrorStyle.OPENAI,
        status: int = 0,
        reply: Reply | None = None,
    ) -> Fault:
        """An error reported inside a 200 stream after ``after_events`` events: Anthropic
        ``event: error``, an OpenAI/OpenRouter/vLLM error chunk, or a Bedrock exception
        message (``error_type`` is then the event name, e.g. ``throttlingException``).
        A non-streamed request gets the equivalent HTTP error instead."""
        return cls(FaultKind.STREAM_ERROR, after_events=after_events, error_type=error_type, message=message,
                   style=StreamErrorStyle(style), status=status, reply=reply)


Item = Reply | Fault
CREDENTIAL = "{credential}"


class ReplyQueue:
    """Thread-safe FIFO of scripted items with a default answer; tests push from the test
    thread while the server pops from its own loop thread."""

    def __init__(self, default: Reply) -> None:
        self.default = default
        self._items: deque[Item] = deque()
        self._lock = threading.Lock()
        self._outage: tuple[float, Fault] | None = None

    def push(self, items: Iterable[Item]) -> None:
        with self._lock:
            self._items.extend(items)

    def outage(self, fault: Fault, seconds: float) -> None:
        """Answer ``fault`` to everything for the next ``seconds`` (the queue waits), then recover."""
        with self._lock:
            self._outage = (time.monotonic() + seconds, fault)

    def pop(self) -> Item:
        with self._lock:
            if self._outage is not None:
                until, fault = self._outage
                if time.monotonic() < until:
                    return fault
                self._outage = None
            return self._items.popleft() if self._items else self.default

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def split_text(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (no pieces for an empty string)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _pieces(value: str | Sequence[str] | None, size: int) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return split_text(value, size)
    return list(value)


def _join(value: str | Sequence[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else "".join(value)


def _as_bytes(body: bytes | str | Mapping[str, Any] | None) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(dict(body)).encode()
