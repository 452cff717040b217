"""Canonical Messages request → OpenAI Chat Completions body (upstream adapters).

Mapping (``messages_to_chat``):

- ``system`` (string or blocks) → one leading ``system`` message, blocks joined with a blank line
  (several compat servers reject array system content); ``system`` turns inside ``messages`` stay
  in place. ``cache_control`` is dropped everywhere.
- user turns: a lone text block → string content, otherwise parts (``text``, ``image_url`` with a
  data URL or the URL); text-source documents → text, base64 PDFs → ``file`` parts; file-id
  sources cannot leave Anthropic → 400. ``tool_result`` blocks → ``role: tool`` messages first (they
  must follow the assistant turn immediately), then the rest of the turn as one user message.
  Tool-result text parts are joined with ``\\n``; images in tool results move into that following
  user message (tool messages are text-only on most servers) and the tool text says so;
  ``is_error`` → ``options.tool_error_prefix`` before the text; no content → ``""``.
- assistant turns: text joined (``null`` when there is none), ``tool_use`` → ``tool_calls``
  (compact JSON ``arguments``; the thought signature an id carries goes back as
  ``extra_content.google.thought_signature`` when ``options.thought_signatures``), thinking
  dropped unless ``options.reasoning_echo_field`` names the field the upstream wants it echoed
  in (DeepSeek/GLM/Kimi tool loops); redacted thinking, server
  tool blocks and unknown blocks are dropped. An assistant turn left empty is dropped.
- tools with ``input_schema`` → function tools; Anthropic-defined ``bash_*`` and ``text_editor_*``
  tools get their documented schema synthesised; other schema-less (server) tools are dropped.
  Names that OpenAI rejects (> 64 chars, other characters) are shortened reversibly
  (``tool_names``); ids that were rewritten on the way in are decoded back.
- ``tool_choice`` auto/any/tool/none → "auto"/"required"/named/"none";
  ``disable_parallel_tool_use`` → ``parallel_tool_calls: false``.
- ``max_tokens`` → ``options.max_tokens_field``, clamped to ``options.max_tokens_limit``;
  ``stop_sequences`` → ``stop``; ``metadata.user_id`` → ``user``; ``stream`` → ``stream`` +
  ``stream_options.include_usage``; thinking → ``reasoning_effort`` (``output_config.effort``,
  else a bucket of ``budget_tokens``); ``output_config.format`` → ``response_format`` json_schema.
  ``top_k``, ``service_tier``, ``container``, ``context_management`` are dropped.
"""

from __future__ import annotations

from typing import Any, assert_never

from ..errors import InvalidRequest
from ..wire.anthropic import (
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    ImageSource,
    MessageParam,
    MessagesRequest,
    OtherBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    Tool,
    ToolResultBlock,
    ToolUseBlock,
)
from ..wire.openai import ChatDialectOptions
from .openai_response import assistant_parts
from .tool_names import decode_tool_id, shorten_tool_name

DEFAULT_OPTIONS = ChatDialectOptions()
_MOVED_IMAGE_NOTE = "[image attached in the next message]"

_BASH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The bash command to run."},
        "restart": {"type": "boolean", "description": "Restart the bash session."},
    },
}
_EDITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
        "path": {"type": "string"},
        "file_text": {"type": "string"},
        "old_str": {"type": "string"},
        "new_str": {"type": "string"},
        "insert_line": {"type": "integer"},
        "view_range": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["command", "path"],
}


def messages_to_chat(req: MessagesRequest, *, model: str, options: ChatDialectOptions | None = None) -> dict[str, Any]:
    """The Chat Completions body for a canonical request; raises ``InvalidRequest`` for content
    that an OpenAI-compatible upstream cannot receive."""
    opts = options or DEFAULT_OPTIONS
    messages: list[dict[str, Any]] = []
    system = _system_text(req.system)
    if system:
        messages.append({"role": "system", "content": system})
    for i, turn in enumerate(req.messages):
        _turn(turn, i, opts, messages)
    body: dict[str, Any] = {"model": model, "messages": messages}

    tools = [t for t in (_tool(t) for t in req.tools or ()) if t is not None]
    if tools:
        body["tools"] = tools
        choice = req.tool_choice
        if choice is not None:
            mapped = _tool_choice(choice.type, choice.name)
            if mapped is not None:
                body["tool_choice"] = mapped
            if choice.disable_parallel_tool_use and opts.send_parallel_tool_calls:
                body["parallel_tool_calls"] = False

    max_tokens = req.max_tokens
    if opts.max_tokens_limit is not None:
        max_tokens = min(max_tokens, opts.max_tokens_limit)
    body[opts.max_tokens_field] = max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop_sequences:
        body["stop"] = list(req.stop_sequences)
    if req.metadata is not None and req.metadata.user_id:
        body["user"] = req.metadata.user_id
    if opts.send_reasoning_effort:
        effort = _reasoning_effort(req)
        if effort is not None:
            body["reasoning_effort"] = effort
    fmt = req.output_config.format if req.output_config is not None else None
    if fmt and fmt.get("type") == "json_schema" and fmt.get("schema") is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "structured_output", "schema": fmt["schema"], "strict": True},
        }
    if req.stream is not None:
        body["stream"] = req.stream
        if req.stream and opts.stream_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    return "\n\n".join(b.text for b in system if b.text)


def _turn(turn: MessageParam, i: int, opts: ChatDialectOptions, out: list[dict[str, Any]]) -> None:
    role, content = turn.role, turn.content
    if isinstance(content, str):
        out.append({"role": role, "content": content})
    elif role == "assistant":
        _assistant(content, opts, out)
    elif role == "system":
        out.append({"role": "system", "content": "\n\n".join(b.text for b in content if isinstance(b, TextBlock))})
    else:
        _user(content, i, opts, out)


def _assistant(content: list[ContentBlock], opts: ChatDialectOptions, out: list[dict[str, Any]]) -> None:
    text, calls, thoughts = assistant_parts(
        content, shorten_tool_name, signatures=opts.thought_signatures, reasoning=bool(opts.reasoning_echo_field)
    )
    if not text and not calls and not thoughts:
        return
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    if thoughts and opts.reasoning_echo_field:
        message[opts.reasoning_echo_field] = thoughts
    out.append(message)


def _user(content: list[ContentBlock], i: int, opts: ChatDialectOptions, out: list[dict[str, Any]]) -> None:
    moved: list[dict[str, Any]] = []  # images lifted out of tool results
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        match block:
            case ToolResultBlock():
                out.append(_tool_message(block, where, opts, moved))
            case TextBlock():
                if block.text:
                    parts.append({"type": "text", "text": block.text})
            case ImageBlock():
                parts.append(_image_part(block.source, f"{where}.source"))
            case DocumentBlock():
                parts.append(_document_part(block, f"{where}.source"))
            case ThinkingBlock() | RedactedThinkingBlock() | ToolUseBlock() | OtherBlock():
                pass  # thinking, tool calls, search results and unknown blocks cannot be sent: dropped
            case _:
                assert_never(block)
    parts = moved + parts
    if not parts:
        return
    if len(parts) == 1 and parts[0]["type"] == "text":
        out.append({"role": "user", "content": parts[0]["text"]})
    else:
        out.append({"role": "user", "content": parts})


def _tool_message(
    block: ToolResultBlock, where: str, opts: ChatDialectOptions, moved: list[dict[str, Any]]
) -> dict[str, Any]:
    content = block.content
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts = []
        images = 0
        for k, item in enumerate(content):
            if isinstance(item, TextBlock):
                texts.append(item.text)
            elif isinstance(item, ImageBlock):
                moved.append(_image_part(item.source, f"{where}.content[{k}].source"))
                images += 1
            elif isinstance(item, DocumentBlock) and item.source.get("type") == "text":
                texts.append(item.source.get("data") or "")
            # other blocks inside a tool result have no Chat Completions form: dropped
        if images:
            texts.append(_MOVED_IMAGE_NOTE)
        text = "\n".join(texts)
    if block.is_error:
        text = opts.tool_error_prefix + text
    return {"role": "tool", "tool_call_id": decode_tool_id(block.tool_use_id), "content": text}


def _image_part(source: ImageSource, param: str) -> dict[str, Any]:
    if source.type == "base64":
        return {"type": "image_url", "image_url": {"url": f"data:{source.media_type};base64,{source.data}"}}
    if source.type == "url" and source.url:
        return {"type": "image_url", "image_url": {"url": source.url}}
    raise InvalidRequest(f"image source {source.type!r} cannot be sent to this upstream", param=param)


def _document_part(block: DocumentBlock, param: str) -> dict[str, Any]:
    source = block.source
    kind, media_type = source.get("type"), source.get("media_type")
    if kind == "text":
        return {"type": "text", "text": source.get("data") or ""}
    if kind == "base64" and media_type == "application/pdf":
        return {
            "type": "file",
            "file": {
                "filename": block.title or "document.pdf",
                "file_data": f"data:application/pdf;base64,{source.get('data')}",
            },
        }
    raise InvalidRequest(f"document source {kind!r} cannot be sent to this upstream", param=param)


def _tool(tool: Tool) -> dict[str, Any] | None:
    schema = tool.input_schema
    if schema is None:
        kind = tool.type or ""
        if kind.startswith("bash_"):
            schema = _BASH_SCHEMA
        elif kind.startswith("text_editor_"):
            schema = _EDITOR_SCHEMA
        else:
            return None  # server tools (web_search, code_execution, …) run only on Anthropic
    function: dict[str, Any] = {"name": shorten_tool_name(tool.name)}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = schema
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _tool_choice(kind: str, name: str | None) -> str | dict[str, Any] | None:
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and name:
        return {"type": "function", "function": {"name": shorten_tool_name(name)}}
    return None


def _reasoning_effort(req: MessagesRequest) -> str | None:
    """``output_config.effort`` when given; else a bucket of the thinking budget."""
    thinking = req.thinking
    effort = req.output_config.effort if req.output_config is not None else None
    if thinking is not None and thinking.type == "disabled":
        return None
    if effort:
        return effort
    if thinking is not None and thinking.type == "enabled" and thinking.budget_tokens:
        budget = thinking.budget_tokens
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    return None
