"""Checks on a parsed Messages request that types alone cannot express.

They mirror the Anthropic API's own 400s, with the same field paths, so a client gets the same
answer from aimux as from Anthropic, before any upstream is called.
"""

from __future__ import annotations

from ..errors import InvalidRequest
from .anthropic import CountTokensRequest, MessagesRequest, ToolResultBlock, ToolUseBlock

VERSION_2026_10_21 = "2026-10-21"
_REMOVED_IN_2026_10_21 = ("temperature", "top_p", "top_k")


def check_request(request: MessagesRequest | CountTokensRequest, anthropic_version: str | None) -> None:
    """Raise ``InvalidRequest`` naming the first field the API would reject."""
    if not request.messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    if isinstance(request, MessagesRequest) and anthropic_version == VERSION_2026_10_21:
        for name in _REMOVED_IN_2026_10_21:
            if name in request.model_fields_set:
                raise InvalidRequest(
                    f"{name}: not supported with anthropic-version {VERSION_2026_10_21}; "
                    "send anthropic-version 2023-06-01 to use sampling parameters",
                    param=name,
                )
    for index, tool in enumerate(request.tools or ()):
        if tool.type in (None, "custom") and tool.input_schema is None:
            raise InvalidRequest(f"tools.{index}.input_schema: Field required", param=f"tools.{index}.input_schema")
    _check_tool_results(request)


def _check_tool_results(request: MessagesRequest | CountTokensRequest) -> None:
    """Every tool_result must answer a tool_use of the assistant turn just before it."""
    offered: set[str] = set()
    for m_index, message in enumerate(request.messages):
        if message.role == "system":
            continue  # Claude Code's mid-conversation system turns do not break the pairing
        blocks = message.content if isinstance(message.content, list) else []
        if message.role == "assistant":
            offered = {block.id for block in blocks if isinstance(block, ToolUseBlock)}
            continue
        for b_index, block in enumerate(blocks):
            if isinstance(block, ToolResultBlock) and block.tool_use_id not in offered:
                raise InvalidRequest(
                    f"messages.{m_index}.content.{b_index}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {block.tool_use_id}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message.",
                    param=f"messages.{m_index}.content.{b_index}.tool_use_id",
                )
        offered = set()
