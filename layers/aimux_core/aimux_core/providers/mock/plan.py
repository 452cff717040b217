"""Decide the mock's whole answer up front, as plain data that ``create`` and ``stream`` both render.

Everything here is a pure function of the request, so the same request always yields the same
plan (the message id is the one thing the provider adds at random).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ...accounting.tokens import estimate_input_tokens, estimate_text_tokens
from ...wire.anthropic import (
    DocumentBlock,
    ImageBlock,
    MessagesRequest,
    TextBlock,
    Tool,
    ToolResultBlock,
)
from .schema import ExampleBuilder

ECHO_CHARS = 200
MAX_CHUNKS = 8
_ERROR_MARKER = re.compile(r"\[\[mock:error:([45]\d\d)\]\]")
_MIDSTREAM_MARKER = re.compile(r"\[\[mock:midstream-error(?::([45]\d\d))?\]\]")
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
_VERBS = r"(?:use|using|call|calling|run|running|invoke|invoking|execute|try)"
_BACKTICKS = re.compile(r"`([^`]+)`")
_QUOTED = re.compile(r"\"([^\"]{1,80})\"")
_SUBJECT = re.compile(r"^\W*(?:tool|function)?\W*(?:for|in|on|about|with|of)\s+([^.?!,;\n`\"]{1,80})", re.I)
_COMMAND_PROPS = ("command", "cmd", "script")


@dataclass(frozen=True, slots=True)
class PlannedBlock:
    """One content block and the delta payloads it is streamed as."""

    kind: Literal["thinking", "text", "tool_use"]
    pieces: tuple[str, ...]
    signature: str = ""
    tool_id: str = ""
    tool_name: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class Plan:
    """The complete answer to one request; rendering it cannot change what it says."""

    blocks: tuple[PlannedBlock, ...]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    error_status: int | None = None
    """Fail before the first event with this upstream status."""
    midstream_status: int | None = None
    """Fail part-way through the stream with this upstream status."""


@dataclass(slots=True)
class _ToolCall:
    tool: Tool
    input_json: str


def plan_answer(request: MessagesRequest) -> Plan:
    """Pick the kind of answer from the last user turn, then apply thinking, stop sequences and limits."""
    raw_text, results = _last_user_turn(request)
    text = " ".join(_REMINDER.sub(" ", raw_text).split()) or " ".join(raw_text.split())
    error = _ERROR_MARKER.search(raw_text)
    midstream = _MIDSTREAM_MARKER.search(raw_text)
    digest = _request_digest(request)
    fmt = _output_schema(request)
    call = None if results else _tool_call(request, text)
    forced = request.tool_choice is not None and request.tool_choice.type in ("any", "tool")

    if results:
        answer, action = " ".join(_describe_result(r) for r in results), "report the tool result"
    elif fmt is not None:
        answer, action = _json_answer(fmt, text), "answer with JSON that matches the schema"
    elif call is not None:
        answer, action = ("" if forced else f"I'll use the {call.tool.name} tool."), "call a tool"
    else:
        answer, action = f'Mock reply to: "{_clip(text, ECHO_CHARS)}"', "echo the request"
    if call is not None and fmt is not None:
        answer = ""  # the tool call comes first; structured text would follow the tool result

    blocks: list[PlannedBlock] = []
    output = 0
    stop_reason, stop_sequence = ("tool_use" if call else "end_turn"), None
    if request.max_tokens == 0:
        call, stop_reason = None, "max_tokens"
    else:
        thinking = _thinking_block(request, text, action, digest)
        if thinking is not None:  # billed in full even when its display is omitted
            blocks.append(thinking)
            output += estimate_text_tokens(_thinking_text(text, action))
        answer, cut_reason, stop_sequence = _limit(answer, request)
        if cut_reason is not None:
            call, stop_reason = None, cut_reason
        if call is not None and estimate_text_tokens(answer) + estimate_text_tokens(call.input_json) > (
            request.max_tokens
        ):
            call, stop_reason = None, "max_tokens"
        if answer:
            blocks.append(PlannedBlock("text", tuple(word_chunks(answer))))
            output += estimate_text_tokens(answer)
        if call is not None:
            blocks.append(_tool_block(call, digest))
            output += estimate_text_tokens(call.input_json)
    return Plan(
        blocks=tuple(blocks),
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        input_tokens=max(1, estimate_input_tokens(request)),
        output_tokens=max(1, output),
        error_status=int(error.group(1)) if error else None,
        midstream_status=(int(midstream.group(1) or 529) if midstream else None),
    )


def word_chunks(text: str, max_chunks: int = MAX_CHUNKS) -> list[str]:
    """Split at word starts into at most ``max_chunks`` pieces that join back to ``text``."""
    words = [w for w in re.split(r"(?<=\s)(?=\S)", text) if w]
    size = max(1, math.ceil(len(words) / max_chunks))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)] or [text]


# --------------------------------------------------------------------------- reading the request


def _last_user_turn(request: MessagesRequest) -> tuple[str, list[ToolResultBlock]]:
    """Text (non-text parts as placeholders) and tool results of the last user message."""
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content, []
        parts: list[str] = []
        results: list[ToolResultBlock] = []
        for block in message.content:
            if isinstance(block, TextBlock):
                parts.append(block.text)
            elif isinstance(block, ToolResultBlock):
                results.append(block)
            elif isinstance(block, ImageBlock | DocumentBlock):
                parts.append(f"[{block.type}]")
        return "\n".join(parts), results
    return "", []


def _request_digest(request: MessagesRequest) -> bytes:
    """Stable across ``stream`` true/false, so both calls plan the same ids and signatures.

    Only what the answer depends on is hashed (model, tools, the last turn, thinking and limits):
    hashing the whole history of a Claude Code request would cost more than planning the answer.
    """
    last = request.messages[-1].model_dump(mode="json", exclude_unset=True) if request.messages else None
    body = {
        "model": request.model,
        "tools": [tool.name for tool in request.tools or ()],
        "turns": len(request.messages),
        "last": last,
        "thinking": request.thinking.dump() if request.thinking else None,
        "max_tokens": request.max_tokens,
        "stop": request.stop_sequences,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()


def _output_schema(request: MessagesRequest) -> dict[str, Any] | None:
    """``output_config.format`` (or the older top-level ``output_format``) of type json_schema."""
    fmt = request.output_config.format if request.output_config else None
    fmt = fmt or (request.model_extra or {}).get("output_format")
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, dict) else None


# --------------------------------------------------------------------------- composing the answer


def _tool_call(request: MessagesRequest, text: str) -> _ToolCall | None:
    """The tool to call: forced by ``tool_choice``, else the earliest one the user asked for."""
    tools = [t for t in request.tools or [] if t.input_schema is not None]
    choice = request.tool_choice.type if request.tool_choice else "auto"
    if not tools or choice == "none":
        return None
    chosen: Tool | None = None
    after = ""
    if choice == "tool" and request.tool_choice is not None:
        chosen = next((t for t in tools if t.name == request.tool_choice.name), None)
    if chosen is None:
        best = -1
        lowered = text.lower()
        for tool in tools:
            if tool.name.lower() not in lowered:
                continue  # cheap pre-check: most tools are not named at all
            pattern = rf"\b{_VERBS}\b\W+(?:\S+\s+){{0,3}}?[`'\"]?{re.escape(tool.name)}(?![\w-])"
            match = re.search(pattern, text, re.IGNORECASE)
            if match and (best < 0 or match.end() < best):
                chosen, best, after = tool, match.end(), text[match.end() :]
    if chosen is None and choice == "any":
        chosen = tools[0]
    if chosen is None:
        return None
    value = _tool_input(chosen.input_schema or {}, text, after)
    return _ToolCall(chosen, json.dumps(value, ensure_ascii=False))


def _tool_input(schema: dict[str, Any], text: str, after: str) -> dict[str, Any]:
    """Required properties filled in; a `backticked` command or the request's subject goes in first."""
    command = _BACKTICKS.search(text)
    subject = _SUBJECT.search(after) or _QUOTED.search(text)
    value = ExampleBuilder(schema).build()
    if not isinstance(value, dict):
        value = {}
    properties = schema.get("properties") or {}
    strings = [
        name
        for name in [*(schema.get("required") or []), *properties]
        if isinstance(properties.get(name), dict)
        and properties[name].get("type", "string") == "string"
        and "enum" not in properties[name]
        and "const" not in properties[name]
    ]
    named = next((n for n in _COMMAND_PROPS if n in strings), None)
    first_required = next((n for n in strings if n in (schema.get("required") or [])), None)
    if command and (named or first_required):
        value[named or first_required] = command.group(1).strip()
    elif subject and first_required:
        value[first_required] = subject.group(1).strip()
    return value


def _json_answer(schema: dict[str, Any], text: str) -> str:
    label = f"mock: {_clip(text, 50)}" if text else "mock"
    return json.dumps(ExampleBuilder(schema, text=label).build(), ensure_ascii=False)


def _describe_result(result: ToolResultBlock) -> str:
    content = result.content
    if isinstance(content, list):
        content = " ".join(b.text if isinstance(b, TextBlock) else f"[{b.type}]" for b in content)
    shown = _clip(" ".join((content or "").split()), ECHO_CHARS) or "(no output)"
    if result.is_error:
        return f"The tool reported an error: {shown}"
    return f"The tool returned: {shown}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _thinking_text(text: str, action: str) -> str:
    said = f'The user wrote "{_clip(text, 60)}". ' if text else ""
    return f"{said}I am aimux's mock provider, so I will {action}."


def _thinking_block(request: MessagesRequest, text: str, action: str, digest: bytes) -> PlannedBlock | None:
    if request.thinking is None or request.thinking.type not in ("enabled", "adaptive"):
        return None
    reasoning = _thinking_text(text, action)
    seal = hashlib.sha256(digest + reasoning.encode()).digest()
    signature = "aimux-mock." + base64.b64encode(seal).decode()
    pieces = () if request.thinking.display == "omitted" else tuple(word_chunks(reasoning, 4))
    return PlannedBlock("thinking", pieces, signature=signature)


def _tool_block(call: _ToolCall, digest: bytes) -> PlannedBlock:
    tool_id = "toolu_" + hashlib.sha256(digest + call.tool.name.encode()).hexdigest()[:24]
    raw = call.input_json
    step = max(1, math.ceil(len(raw) / 4))
    pieces = ("", *(raw[i : i + step] for i in range(0, len(raw), step)))
    return PlannedBlock("tool_use", pieces, tool_id=tool_id, tool_name=call.tool.name, tool_input=json.loads(raw))


def _limit(answer: str, request: MessagesRequest) -> tuple[str, str | None, str | None]:
    """Cut the answer at the first stop sequence or at ``max_tokens``, whichever comes first."""
    hits = [(answer.find(s), s) for s in request.stop_sequences or [] if s and s in answer]
    if hits:
        at, sequence = min(hits, key=lambda hit: hit[0])
        if estimate_text_tokens(answer[:at]) <= request.max_tokens:
            return answer[:at], "stop_sequence", sequence
    if estimate_text_tokens(answer) <= request.max_tokens:
        return answer, None, None
    return _fit(answer, request.max_tokens), "max_tokens", None


def _fit(text: str, budget: int) -> str:
    """The longest prefix (whole words where possible) within ``budget`` estimated tokens."""
    kept = ""
    for word in re.split(r"(?<=\s)(?=\S)", text):
        if estimate_text_tokens(kept + word) > budget:
            break
        kept += word
    if not kept:
        kept = next((text[:n] for n in range(len(text), 0, -1) if estimate_text_tokens(text[:n]) <= budget), "")
    return kept.rstrip()
