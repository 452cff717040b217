"""The canonical model: Anthropic Messages requests, responses and stream events.

aimux thinks in Anthropic Messages. The OpenAI surface and the non-Anthropic providers translate
into and out of these types at the edges (see ``aimux_core.translate``).

Rules every model here follows (see ``WireModel``): unknown fields are kept and carried, and a
dump holds only what was sent or deliberately set. Open enumerations (block types, thinking
modes, stop reasons) are plain strings so a new value from a newer client passes through
instead of failing validation; unknown block, delta and event types parse into ``Other*``
models that keep every key.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter

from .base import WireModel, discriminator_tag

# --------------------------------------------------------------------------- content blocks


class CacheControl(WireModel):
    type: str = "ephemeral"
    ttl: str | None = None


class TextBlock(WireModel):
    type: Literal["text"] = "text"
    text: str
    cache_control: CacheControl | None = None
    citations: list[dict[str, Any]] | None = None


class ImageSource(WireModel):
    """``base64`` (media_type + data), ``url`` (url) or ``file`` (file_id)."""

    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None


class ImageBlock(WireModel):
    type: Literal["image"] = "image"
    source: ImageSource
    cache_control: CacheControl | None = None


class DocumentBlock(WireModel):
    type: Literal["document"] = "document"
    source: dict[str, Any]
    title: str | None = None
    context: str | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(WireModel):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(WireModel):
    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


class ToolUseBlock(WireModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class OtherBlock(WireModel):
    """Any block type aimux does not model (server tool results, future types): carried as-is."""

    type: str


def _block_tag(value: Any) -> str:
    return discriminator_tag(value, _BLOCK_TAGS)


class ToolResultBlock(WireModel):
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str | list[ToolResultContent] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


ToolResultContent = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_block_tag),
]
ContentBlock = ToolResultContent
"""Any block that may appear in a message, a response or a tool result."""

_BLOCK_TAGS = frozenset({"text", "image", "document", "thinking", "redacted_thinking", "tool_use", "tool_result"})
ToolResultBlock.model_rebuild()

# --------------------------------------------------------------------------- request


class MessageParam(WireModel):
    """One turn. ``system`` turns are what Claude Code sends inside ``messages``."""

    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


class Tool(WireModel):
    """A client tool (``input_schema``) or a server/Anthropic-defined tool (versioned ``type``)."""

    name: str
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None
    defer_loading: bool | None = None
    strict: bool | None = None


class ToolChoice(WireModel):
    type: str
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingConfig(WireModel):
    """``enabled`` (with ``budget_tokens``), ``adaptive`` or ``disabled``."""

    type: str
    budget_tokens: int | None = None
    display: str | None = None


class OutputConfig(WireModel):
    effort: str | None = None
    format: dict[str, Any] | None = None


class Metadata(WireModel):
    user_id: str | None = None


class _RequestBase(WireModel):
    model: str = Field(min_length=1)
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    cache_control: CacheControl | None = None
    context_management: dict[str, Any] | None = None
    metadata: Metadata | None = None


class CountTokensRequest(_RequestBase):
    """``POST /v1/messages/count_tokens``: a Messages request without generation settings."""


class MessagesRequest(_RequestBase):
    """``POST /v1/messages``."""

    max_tokens: int = Field(ge=0)
    stream: bool | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    service_tier: str | None = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.stream)


# --------------------------------------------------------------------------- response


class Usage(WireModel):
    """Anthropic usage: ``input_tokens`` excludes cache reads and cache writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Message(WireModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = Field(default_factory=Usage)  # some compatible upstreams omit it


# --------------------------------------------------------------------------- stream events


class TextDelta(WireModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class InputJsonDelta(WireModel):
    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ThinkingDelta(WireModel):
    type: Literal["thinking_delta"] = "thinking_delta"
    thinking: str


class SignatureDelta(WireModel):
    type: Literal["signature_delta"] = "signature_delta"
    signature: str


class OtherDelta(WireModel):
    type: str


_DELTA_TAGS = frozenset({"text_delta", "input_json_delta", "thinking_delta", "signature_delta"})


def _delta_tag(value: Any) -> str:
    return discriminator_tag(value, _DELTA_TAGS)


Delta = Annotated[
    Annotated[TextDelta, Tag("text_delta")]
    | Annotated[InputJsonDelta, Tag("input_json_delta")]
    | Annotated[ThinkingDelta, Tag("thinking_delta")]
    | Annotated[SignatureDelta, Tag("signature_delta")]
    | Annotated[OtherDelta, Tag("other")],
    Discriminator(_delta_tag),
]


class MessageStartEvent(WireModel):
    type: Literal["message_start"] = "message_start"
    message: Message


class ContentBlockStartEvent(WireModel):
    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(WireModel):
    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: Delta


class ContentBlockStopEvent(WireModel):
    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class MessageDeltaBody(WireModel):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDeltaUsage(WireModel):
    """Cumulative usage at the end of the stream (not an increment)."""

    output_tokens: int = 0
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class MessageDeltaEvent(WireModel):
    type: Literal["message_delta"] = "message_delta"
    delta: MessageDeltaBody
    usage: MessageDeltaUsage | None = None  # some compatible upstreams omit it


class MessageStopEvent(WireModel):
    type: Literal["message_stop"] = "message_stop"


class PingEvent(WireModel):
    type: Literal["ping"] = "ping"


class ErrorBody(WireModel):
    type: str
    message: str


class ErrorEvent(WireModel):
    type: Literal["error"] = "error"
    error: ErrorBody


class OtherEvent(WireModel):
    type: str


_EVENT_TAGS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)


def _event_tag(value: Any) -> str:
    return discriminator_tag(value, _EVENT_TAGS)


StreamEvent = Annotated[
    Annotated[MessageStartEvent, Tag("message_start")]
    | Annotated[ContentBlockStartEvent, Tag("content_block_start")]
    | Annotated[ContentBlockDeltaEvent, Tag("content_block_delta")]
    | Annotated[ContentBlockStopEvent, Tag("content_block_stop")]
    | Annotated[MessageDeltaEvent, Tag("message_delta")]
    | Annotated[MessageStopEvent, Tag("message_stop")]
    | Annotated[PingEvent, Tag("ping")]
    | Annotated[ErrorEvent, Tag("error")]
    | Annotated[OtherEvent, Tag("other")],
    Discriminator(_event_tag),
]

EventStream = AsyncGenerator[StreamEvent, None]
"""A canonical event stream as every adapter, filter and surface passes it on: an async generator,
so whoever stops reading early can ``aclose()`` it and the upstream connection is released at once."""

stream_event_adapter: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)
"""Parses one upstream ``data:`` payload into a typed event."""

content_block_adapter: TypeAdapter[ContentBlock] = TypeAdapter(ContentBlock)
