"""Scenario pieces the conformance cells share: the system prompt, a client tool, the fakes' default reply.

Kept apart so that requests (``SYSTEM_PROMPT``, ``READ_TOOL``, ``openai_tool``) and the fixture
resetting the fakes (``DEFAULT_REPLY``) use one definition each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakes import Reply, Usage

SYSTEM_PROMPT = "You are terse. Answer in one line."
DEFAULT_REPLY = Reply(text="default reply from a conformance fake", usage=Usage(input_tokens=5, output_tokens=3))
READ_TOOL: dict[str, Any] = {
    "name": "Read",
    "description": "Read a file from the local filesystem",
    "input_schema": {
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["file_path"],
    },
}


def openai_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic client tool as the OpenAI function tool an OpenAI client would send."""
    return {"type": "function",
            "function": {"name": tool["name"], "description": tool["description"], "parameters": tool["input_schema"]}}
