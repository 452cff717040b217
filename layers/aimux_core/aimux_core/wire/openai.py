"""OpenAI Chat Completions request models (what an OpenAI client sends to ``/v1/chat/completions``).

Only the request is modelled: it is parsed once per call and its shape decides the translation
(``translate.openai_request.chat_to_messages``). Responses and stream chunks are plain dicts built
by the translators, which is faster and keeps them byte-exact to the wire shapes.

Like every wire model (see ``WireModel``) unknown fields and unknown content-part types are kept,
and nothing the client left out is ever dumped. Open enumerations (``reasoning_effort``,
``tool_choice`` strings, tool ``type``) are plain strings so a newer client is not rejected at
parse time; the translator decides what it can honour and names the field when it cannot.

``ChatDialectOptions`` is the other side: which variant of this format an OpenAI-compatible upstream
takes (``max_completion_tokens``, where reasoning goes back...), as data each provider preset fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from .base import WireModel, discriminator_tag

# --------------------------------------------------------------------------- content parts


class ImageURL(WireModel):
    url: str
    detail: str | None = None


class TextPart(WireModel):
    type: Literal["text"] = "text"
    text: str


class ImageURLPart(WireModel):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


class RefusalPart(WireModel):
    type: Literal["refusal"] = "refusal"
    refusal: str


class OtherPart(WireModel):
    """``input_audio``, ``file`` and any future part type: every key is kept."""

    type: str


_PART_TAGS = frozenset({"text", "image_url", "refusal"})


def _part_tag(value: Any) -> str:
    return discriminator_tag(value, _PART_TAGS)


ContentPart = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ImageURLPart, Tag("image_url")]
    | Annotated[RefusalPart, Tag("refusal")]
    | Annotated[OtherPart, Tag("other")],
    Discriminator(_part_tag),
]

# --------------------------------------------------------------------------- messages


class FunctionCall(WireModel):
    """``tool_calls[].function`` and the legacy ``function_call``: ``arguments`` is a JSON string."""

    name: str
    arguments: str | None = None


class ToolCall(WireModel):
    id: str
    type: str = "function"
    function: FunctionCall


class SystemMessage(WireModel):
    role: Literal["system"] = "system"
    content: str | list[ContentPart]
    name: str | None = None


class DeveloperMessage(WireModel):
    role: Literal["developer"] = "developer"
    content: str | list[ContentPart]
    name: str | None = None


class UserMessage(WireModel):
    role: Literal["user"] = "user"
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(WireModel):
    role: Literal["assistant"] = "assistant"
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    refusal: str | None = None
    name: str | None = None
    reasoning_content: str | None = None


class ToolMessage(WireModel):
    role: Literal["tool"] = "tool"
    tool_call_id: str
    content: str | list[ContentPart]


class FunctionMessage(WireModel):
    """Deprecated ``role: "function"`` result of a legacy ``function_call``."""

    role: Literal["function"] = "function"
    name: str
    content: str | None = None


ChatMessage = Annotated[
    Annotated[SystemMessage, Tag("system")]
    | Annotated[DeveloperMessage, Tag("developer")]
    | Annotated[UserMessage, Tag("user")]
    | Annotated[AssistantMessage, Tag("assistant")]
    | Annotated[ToolMessage, Tag("tool")]
    | Annotated[FunctionMessage, Tag("function")],
    Discriminator("role"),
]

# --------------------------------------------------------------------------- tools and options


class FunctionDefinition(WireModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatTool(WireModel):
    """``{"type": "function", "function": {...}}``; other types (``custom``) parse but do not translate."""

    type: str
    function: FunctionDefinition | None = None


class ToolChoiceFunction(WireModel):
    name: str


class NamedToolChoice(WireModel):
    """``{"type": "function", "function": {"name"}}`` or ``{"type": "allowed_tools", ...}``."""

    type: str
    function: ToolChoiceFunction | None = None
    allowed_tools: dict[str, Any] | None = None


class ResponseFormat(WireModel):
    """``text``, ``json_object`` or ``json_schema`` (``json_schema`` = ``{name, schema, strict?}``)."""

    type: str
    json_schema: dict[str, Any] | None = None


class StreamOptions(WireModel):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatCompletionRequest(WireModel):
    """``POST /v1/chat/completions``."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None
    tool_choice: str | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: str | ToolChoiceFunction | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    reasoning_effort: str | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    user: str | None = None
    safety_identifier: str | None = None
    response_format: ResponseFormat | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, Any] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    store: bool | None = None
    service_tier: str | None = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.stream)

    @property
    def wants_usage_chunk(self) -> bool:
        """Whether a streamed answer ends with the ``choices: []`` usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


@dataclass(frozen=True, slots=True)
class ChatDialectOptions:
    """The variants of this wire format one OpenAI-compatible upstream accepts; each preset fills one
    (``presets.py``) and ``translate.openai_upstream`` writes the body accordingly."""

    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    max_tokens_limit: int | None = None
    reasoning_echo_field: Literal["reasoning_content", "reasoning"] | None = None
    send_reasoning_effort: bool = True
    send_parallel_tool_calls: bool = True
    stream_usage: bool = True
    tool_error_prefix: str = "Error: "
    thought_signatures: bool = False  # Gemini: tool calls carry ``extra_content.google.thought_signature``
