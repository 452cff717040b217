"""``ChatDialectOptions``: what one OpenAI-compatible upstream accepts, as data.

Each preset fills one (``presets.py``); ``openai_upstream.messages_to_chat`` reads it. A module of its
own so that neither side loads the other: the provider table stays off the Lambda cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ChatDialectOptions:
    """What one OpenAI-compatible upstream accepts (``translate.openai_upstream`` reads it)."""

    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    max_tokens_limit: int | None = None
    reasoning_echo_field: Literal["reasoning_content", "reasoning"] | None = None
    send_reasoning_effort: bool = True
    send_parallel_tool_calls: bool = True
    stream_usage: bool = True
    tool_error_prefix: str = "Error: "
    thought_signatures: bool = False  # Gemini: tool calls carry ``extra_content.google.thought_signature``
