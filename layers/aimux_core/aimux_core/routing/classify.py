"""Which scenario a request belongs to, from its content alone (pure; no config, no I/O).

Scenarios, in precedence order (the first that applies wins):

    long_context  estimated input tokens over the threshold: only big-window models can serve it
    vision        an image or document anywhere, tool results included
    background    haiku-class model names, and Claude Code's small side requests (a session title:
                  no tools, a structured-output format, one short user turn)
    thinking      thinking enabled or adaptive (OpenAI ``reasoning_effort`` arrives as adaptive)
    tools         the request offers tools
    default       everything else

Capacity and capability come first because a target that cannot hold or see the request is
useless whatever its price; background outranks thinking because Claude Code's cheap side requests
also carry its thinking settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..wire.anthropic import DocumentBlock, ImageBlock, MessagesRequest, ToolResultBlock

Scenario = Literal["long_context", "vision", "background", "thinking", "tools", "default"]
SCENARIOS: tuple[Scenario, ...] = ("long_context", "vision", "background", "thinking", "tools", "default")

_BACKGROUND_MAX_USER_CHARS = 4_000


@dataclass(frozen=True, slots=True)
class Classification:
    scenario: Scenario
    reason: str
    needs_vision: bool
    needs_tools: bool
    needs_thinking: bool
    estimated_tokens: int


def has_media(request: MessagesRequest) -> bool:
    """Images or documents anywhere in the conversation, including inside tool results."""
    for message in request.messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if isinstance(block, ImageBlock | DocumentBlock):
                return True
            if (
                isinstance(block, ToolResultBlock)
                and isinstance(block.content, list)
                and any(isinstance(inner, ImageBlock | DocumentBlock) for inner in block.content)
            ):
                return True
    return False


def wants_thinking(request: MessagesRequest) -> bool:
    return request.thinking is not None and request.thinking.type in ("enabled", "adaptive")


def is_haiku_class(model: str) -> bool:
    return "haiku" in model.lower()


def is_side_request(request: MessagesRequest) -> bool:
    """Claude Code's title/summary requests: structured output, no tools, one short user turn."""
    if request.tools:
        return False
    if request.output_config is None or not request.output_config.format:
        return False
    user_turns = [m for m in request.messages if m.role == "user"]
    if len(user_turns) != 1:
        return False
    content = user_turns[0].content
    size = len(content) if isinstance(content, str) else sum(len(getattr(b, "text", "") or "") for b in content)
    return size <= _BACKGROUND_MAX_USER_CHARS


def classify(request: MessagesRequest, *, estimated_tokens: int, long_context_threshold: int) -> Classification:
    """The request's scenario and why, plus the capabilities any target must have."""
    vision = has_media(request)
    tools = bool(request.tools)
    thinking = wants_thinking(request)

    def result(scenario: Scenario, reason: str) -> Classification:
        return Classification(scenario, reason, vision, tools, thinking, estimated_tokens)

    if estimated_tokens > long_context_threshold:
        return result("long_context", f"~{estimated_tokens} input tokens > {long_context_threshold}")
    if vision:
        return result("vision", "images or documents in the request")
    if is_haiku_class(request.model):
        return result("background", f"haiku-class model {request.model}")
    if is_side_request(request):
        return result("background", "small structured side request")
    if thinking and request.thinking is not None:
        return result("thinking", f"thinking {request.thinking.type}")
    if tools:
        return result("tools", f"{len(request.tools or ())} tools offered")
    return result("default", "plain request")
