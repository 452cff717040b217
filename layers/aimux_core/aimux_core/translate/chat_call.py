"""One Chat Completions request through canonical and back: what the OpenAI surface, OpenAI batch lines
and async jobs share.

``prepare_chat`` turns a parsed ``ChatCompletionRequest`` into the canonical request (checked like an
Anthropic one) and remembers what the answer needs to look like the client's own API again: the
client's model name, whether it asked for reasoning, its tool names as sent (shortened names are
restored). ``ChatCall.completion`` renders a canonical answer as the ``chat.completion`` object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..wire.anthropic import Message, MessagesRequest
from ..wire.anthropic_rules import check_request
from ..wire.openai import ChatCompletionRequest
from .openai_request import chat_to_messages, client_tool_names
from .openai_response import message_to_chat_completion
from .provenance_key import PROVENANCE_KEY, ensure_provenance_key


@dataclass(frozen=True, slots=True)
class ChatCall:
    parsed: ChatCompletionRequest
    canonical: MessagesRequest
    include_reasoning: bool
    tool_names: list[str]

    @property
    def backend(self) -> str | None:
        """The aimux-only ``backend`` field of the client's body (translation does not carry it)."""
        value = (self.parsed.__pydantic_extra__ or {}).get("backend")
        return value if isinstance(value, str) else None

    def completion(self, message: Message, created: int) -> dict[str, Any]:
        return message_to_chat_completion(
            message,
            model=self.parsed.model,
            created=created,
            include_reasoning=self.include_reasoning,
            tool_names=self.tool_names,
        )


async def prepare_chat(parsed: ChatCompletionRequest, default_max_tokens: int) -> ChatCall:
    """The canonical request (``InvalidRequest`` for what Anthropic's rules refuse) and the answer's shape."""
    if not PROVENANCE_KEY.ready and any(getattr(m, "reasoning_content", None) for m in parsed.messages):
        await ensure_provenance_key()  # reasoning sent back is signed as the client's (chat_to_messages)
    canonical = chat_to_messages(parsed, default_max_tokens=default_max_tokens)
    check_request(canonical, None)
    return ChatCall(parsed, canonical, parsed.reasoning_effort is not None, client_tool_names(parsed))
