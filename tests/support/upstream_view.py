"""What an upstream received, as dialect-neutral ``Turn``s in an ``UpstreamView``.

One shape for the Anthropic, OpenAI and Bedrock request bodies the fakes record, so a cell can
check what the gateway sent upstream the same way whichever dialect the upstream speaks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fakes.bedrock_upstream import BedrockUpstream


@dataclass(frozen=True)
class Turn:
    """One upstream message in a dialect-neutral form.

    Parts: ``("text", text)``, ``("image", media_type, base64)``, ``("tool_call", id, name, input)``,
    ``("tool_result", id, text, is_error)``, ``("thinking", text, signature)``. OpenAI ``role: tool``
    messages stay separate turns (role ``tool``) so their position can be checked.
    """

    role: str
    parts: tuple[tuple[Any, ...], ...]

    def kinds(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts)


@dataclass(frozen=True)
class UpstreamView:
    """A request as the upstream received it, in terms every dialect shares."""

    dialect: str
    model: str
    stream: bool
    system: str
    turns: tuple[Turn, ...]
    tools: tuple[tuple[str, str | None, dict[str, Any]], ...]  # name, description, schema
    max_tokens: int | None
    body: dict[str, Any]
    headers: dict[str, str]


def upstream_view(dialect: str, request: Any, *, max_tokens_field: str = "max_tokens") -> UpstreamView:
    body = request.json
    assert isinstance(body, dict), f"upstream body is not a JSON object: {request.body[:200]!r}"
    if dialect == "anthropic":
        return _anthropic_view(body, request)
    if dialect == "openai":
        return _openai_view(body, request, max_tokens_field)
    return _bedrock_view(body, request)


def _anthropic_view(body: dict[str, Any], request: Any) -> UpstreamView:
    system = body.get("system") or ""
    if isinstance(system, list):
        system = "\n\n".join(b["text"] for b in system)
    turns = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        turns.append(Turn(message["role"], tuple(_anthropic_part(b) for b in blocks)))
    tools = tuple((t["name"], t.get("description"), t.get("input_schema") or {}) for t in body.get("tools") or ())
    return UpstreamView("anthropic", body["model"], body.get("stream") is True, system, tuple(turns), tools,
                        body.get("max_tokens"), body, request.headers)


def _anthropic_part(block: dict[str, Any]) -> tuple[Any, ...]:
    kind = block["type"]
    if kind == "text":
        return ("text", block["text"])
    if kind == "image":
        return ("image", block["source"].get("media_type"), block["source"].get("data"))
    if kind == "tool_use":
        return ("tool_call", block["id"], block["name"], block["input"])
    if kind == "tool_result":
        content = block.get("content")
        text = content if isinstance(content, str) else "".join(c.get("text", "") for c in content or ())
        return ("tool_result", block["tool_use_id"], text, bool(block.get("is_error")))
    if kind == "thinking":
        return ("thinking", block["thinking"], block.get("signature"))
    return (kind,)


def _openai_view(body: dict[str, Any], request: Any, max_tokens_field: str) -> UpstreamView:
    messages = list(body["messages"])
    system_parts = []
    while messages and messages[0]["role"] in ("system", "developer"):
        system_parts.append(_openai_text(messages.pop(0)["content"]))
    turns = []
    for message in messages:
        role = message["role"]
        parts: list[tuple[Any, ...]] = []
        if role == "tool":
            parts.append(("tool_result", message["tool_call_id"], _openai_text(message["content"]), False))
        else:
            reasoning = message.get("reasoning_content")
            if reasoning:
                parts.append(("thinking", reasoning, None))
            content = message.get("content")
            if isinstance(content, str):
                if content:
                    parts.append(("text", content))
            elif content:
                parts += [_openai_part(p) for p in content]
            for call in message.get("tool_calls") or ():
                arguments = call["function"]["arguments"]
                assert isinstance(arguments, str), "OpenAI tool-call arguments must be a JSON string"
                parts.append(("tool_call", call["id"], call["function"]["name"], json.loads(arguments)))
        turns.append(Turn(role, tuple(parts)))
    tools = tuple((t["function"]["name"], t["function"].get("description"), t["function"].get("parameters") or {})
                  for t in body.get("tools") or ())
    return UpstreamView("openai", body["model"], body.get("stream") is True, "\n\n".join(system_parts),
                        tuple(turns), tools, body.get(max_tokens_field), body, request.headers)


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or ())


def _openai_part(part: dict[str, Any]) -> tuple[Any, ...]:
    if part["type"] == "text":
        return ("text", part["text"])
    if part["type"] == "image_url":
        url = part["image_url"]["url"]
        match = re.fullmatch(r"data:([^;,]+);base64,(.*)", url, flags=re.DOTALL)
        return ("image", match.group(1), match.group(2)) if match else ("image", None, url)
    return (part["type"],)


def _bedrock_view(body: dict[str, Any], request: Any) -> UpstreamView:
    turns = []
    for message in body["messages"]:
        turns.append(Turn(message["role"], tuple(_bedrock_part(b) for b in message["content"])))
    tools = tuple((t["toolSpec"]["name"], t["toolSpec"].get("description"), t["toolSpec"]["inputSchema"]["json"])
                  for t in (body.get("toolConfig") or {}).get("tools") or () if "toolSpec" in t)
    system = "\n\n".join(b["text"] for b in body.get("system") or () if "text" in b)
    return UpstreamView("bedrock", BedrockUpstream.model_id(request), request.path.endswith("/converse-stream"),
                        system, tuple(turns), tools, (body.get("inferenceConfig") or {}).get("maxTokens"), body,
                        request.headers)


def _bedrock_part(block: dict[str, Any]) -> tuple[Any, ...]:
    if "text" in block:
        return ("text", block["text"])
    if "image" in block:
        image = block["image"]
        return ("image", f"image/{image['format']}", image["source"].get("bytes"))
    if "toolUse" in block:
        use = block["toolUse"]
        return ("tool_call", use["toolUseId"], use["name"], use["input"])
    if "toolResult" in block:
        result = block["toolResult"]
        text = "".join(c.get("text", "") for c in result.get("content") or ())
        return ("tool_result", result["toolUseId"], text, result.get("status") == "error")
    if "reasoningContent" in block:
        reasoning = block["reasoningContent"].get("reasoningText") or {}
        return ("thinking", reasoning.get("text"), reasoning.get("signature"))
    return tuple(block)
