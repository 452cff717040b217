"""OpenAI Chat Completions request → canonical Messages request (the client speaks OpenAI): ``chat_to_messages``.

Contract: every field OpenAI clients send either maps to its Anthropic meaning, is dropped because it
has none (penalties, seed, logprobs, logit_bias, store, image ``detail``), or is a 400 naming the
client's JSON path (audio and file-id parts, non-function tools, ``n > 1``, unparsable tool-call
arguments). Nothing is silently changed in meaning. The rules that are not a plain renaming, and why:

- System and developer messages anywhere become top-level ``system`` blocks, boundaries kept.
- Consecutive tool (and legacy function) results become one user turn, joined by a user message that
  follows; Anthropic wants results and the next user text in one turn.
- Empty user messages and assistant turns with nothing left are dropped (Anthropic 400s on empty content),
  unless the conversation holds nothing else: then the upstream answers that, not aimux. A final (prefill)
  assistant text loses its trailing whitespace, which Anthropic rejects.
- ``reasoning_content`` the client sends back (reasoning aimux returned earlier) becomes a leading thinking
  block signed by aimux: only upstreams that need their reasoning echoed ever see it. A Gemini thought
  signature in a call's ``extra_content`` rides in its ``tool_use`` id.
- ``strict`` is dropped from tools and ``tool_choice`` is dropped when no tool remains; thinking is not
  sent with a forced ``tool_choice``, and ``temperature``/``top_p`` not with thinking: each is a 400 at
  Anthropic. ``reasoning_effort`` maps to adaptive thinking with an effort (current models) or to a token
  budget below ``max_tokens`` (``thinking_mode="budget"``, older models).
- ``response_format`` json_schema → ``output_config.format``; ``json_object`` is accepted as is (OpenAI
  already requires the prompt to ask for JSON, and Anthropic has no schema-less JSON mode).

The reverse direction (canonical → OpenAI for upstream adapters) lives in ``openai_upstream``.
"""

from __future__ import annotations

import json
from typing import Any, Literal, assert_never

from ..errors import InvalidRequest
from ..wire.anthropic import (
    DocumentBlock,
    ImageBlock,
    ImageSource,
    MessageParam,
    MessagesRequest,
    Metadata,
    OutputConfig,
    TextBlock,
    ThinkingBlock,
    ThinkingConfig,
    Tool,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from ..wire.openai import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatDialectOptions,
    ContentPart,
    DeveloperMessage,
    FunctionMessage,
    ImageURLPart,
    NamedToolChoice,
    OtherPart,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from .openai_response import call_thought_signature, parse_arguments
from .openai_upstream import messages_to_chat
from .thinking import CLIENT_REASONING, sign_reasoning
from .tool_names import SIGNED_ID_PREFIX, decode_tool_id, encode_tool_id, shorten_tool_name

__all__ = ["ChatDialectOptions", "chat_to_messages", "client_tool_names", "messages_to_chat"]

Role = Literal["user", "assistant"]
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768, "max": 65536}
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def chat_to_messages(
    req: ChatCompletionRequest,
    *,
    default_max_tokens: int,
    thinking_mode: Literal["adaptive", "budget"] = "adaptive",
) -> MessagesRequest:
    """The canonical request for an OpenAI client's request; raises ``InvalidRequest`` (param named)."""
    if req.n is not None and req.n > 1:
        raise InvalidRequest("n > 1 is not supported", param="n")
    system, turns = _messages(req)
    fields: dict[str, Any] = {"model": req.model, "messages": turns}
    if system:
        fields["system"] = system

    max_tokens = req.max_completion_tokens
    param = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, param = req.max_tokens, "max_tokens"
    if max_tokens is None:
        max_tokens = default_max_tokens
    if max_tokens < 0:
        raise InvalidRequest(f"{param} must be non-negative", param=param)
    fields["max_tokens"] = max_tokens

    tools = _tools(req)
    choice, tools = _tool_choice(req, tools)
    if tools:
        fields["tools"] = tools
        if choice is not None:
            fields["tool_choice"] = choice
    forced = "tool_choice" in fields and choice is not None and choice.type in ("any", "tool")

    thinking_on = False
    output: dict[str, Any] = {}
    if req.reasoning_effort is not None:
        effort = req.reasoning_effort
        if effort == "none":
            fields["thinking"] = ThinkingConfig(type="disabled")
        elif effort not in EFFORTS:
            raise InvalidRequest(f"unsupported reasoning_effort {effort!r}", param="reasoning_effort")
        elif not forced and thinking_mode == "adaptive":
            fields["thinking"] = ThinkingConfig(type="adaptive")
            output["effort"] = EFFORTS[effort]
            thinking_on = True
        elif not forced:
            budget = min(THINKING_BUDGETS[effort], max_tokens - 1)
            if budget >= 1024:  # Anthropic's minimum budget; below it thinking cannot be enabled
                fields["thinking"] = ThinkingConfig(type="enabled", budget_tokens=budget)
                thinking_on = True

    fmt = req.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            schema = (fmt.json_schema or {}).get("schema")
            if schema is not None:
                output["format"] = {"type": "json_schema", "schema": schema}
        elif fmt.type not in ("text", "json_object"):
            raise InvalidRequest(f"unsupported response_format type {fmt.type!r}", param="response_format.type")
    if output:
        fields["output_config"] = OutputConfig(**output)

    if req.stop is not None:
        stops = [req.stop] if isinstance(req.stop, str) else req.stop
        stops = [s for s in stops if s]
        if stops:
            fields["stop_sequences"] = stops
    if req.temperature is not None and not thinking_on:
        fields["temperature"] = min(max(req.temperature, 0.0), 1.0)
    if req.top_p is not None and not thinking_on:
        fields["top_p"] = req.top_p
    user = req.user or req.safety_identifier
    if user:
        fields["metadata"] = Metadata(user_id=user)
    if req.stream is not None:
        fields["stream"] = req.stream
    return MessagesRequest(**fields)


def client_tool_names(req: ChatCompletionRequest) -> list[str]:
    """The tool names exactly as the client sent them: what the response translators need to map
    shortened names back (``message_to_chat_completion``, ``ChatChunkEncoder``)."""
    names = [t.function.name for t in req.tools or () if t.function is not None]
    names.extend(fn.name for fn in req.functions or ())
    return names


# --------------------------------------------------------------------------- messages


def _messages(req: ChatCompletionRequest) -> tuple[list[TextBlock], list[MessageParam]]:
    """System blocks and turns; tool results and the user text after them share one turn."""
    system: list[TextBlock] = []
    turns: list[tuple[Role, Any]] = []
    results: list[Any] | None = None  # content of the open tool-result turn, if any
    legacy_id: str | None = None
    empty_user: str | list[Any] | None = None  # the last user message dropped for having no content
    signed_ids: dict[str, str] = {}  # a call's own id → its canonical id carrying a thought signature
    for i, m in enumerate(req.messages):
        match m:
            case SystemMessage() | DeveloperMessage():
                system.extend(TextBlock(text=t) for t in _texts(m.content, f"messages[{i}].content") if t)
                continue
            case ToolMessage() | FunctionMessage():
                if isinstance(m, ToolMessage):
                    tool_id, content = signed_ids.get(m.tool_call_id) or encode_tool_id(m.tool_call_id), m.content
                else:
                    if legacy_id is None:
                        raise InvalidRequest(
                            "function message without a preceding function_call", param=f"messages[{i}]"
                        )
                    tool_id, content, legacy_id = legacy_id, m.content or "", None
                block = _tool_result(tool_id, content, i)
                if results is None:
                    results = []
                    turns.append(("user", results))
                results.append(block)
                continue
            case UserMessage():
                user = _user_content(m.content, i)
                if not user and results is None:
                    empty_user = user
                    continue
                if results is not None:
                    if isinstance(user, str):
                        user = [TextBlock(text=user)] if user else []
                    results.extend(user)
                    results = None
                else:
                    turns.append(("user", user))
                continue
            case AssistantMessage():
                pass
            case _:
                assert_never(m)
        results = None
        blocks, new_legacy = _assistant_blocks(m, i)
        legacy_id = new_legacy or legacy_id
        signed_ids.update(
            (decode_tool_id(b.id), b.id)
            for b in blocks
            if isinstance(b, ToolUseBlock) and b.id.startswith(SIGNED_ID_PREFIX)
        )
        if blocks:
            turns.append(("assistant", blocks))
    if not turns and empty_user is not None:
        turns.append(("user", empty_user))
    _strip_prefill(turns)  # after the drops: an empty final user turn leaves an assistant turn last
    return system, [MessageParam(role=role, content=content) for role, content in turns]


def _texts(content: str | list[ContentPart], where: str) -> list[str]:
    """Text of a system/developer message; only text parts are allowed there."""
    if isinstance(content, str):
        return [content]
    out = []
    for j, part in enumerate(content):
        if not isinstance(part, TextPart):
            raise InvalidRequest(f"{part.type} parts are not allowed here", param=f"{where}[{j}].type")
        out.append(part.text)
    return out


def _user_content(content: str | list[ContentPart], i: int) -> str | list[Any]:
    if isinstance(content, str):
        return content
    return _part_blocks(content, i, files=True)


def _part_blocks(content: list[ContentPart], i: int, *, files: bool, context: str = "") -> list[Any]:
    """Text, image and (``files``: user messages) PDF parts as canonical blocks; other parts are a 400."""
    blocks: list[Any] = []
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        match part:
            case TextPart():
                if part.text:
                    blocks.append(TextBlock(text=part.text))
            case ImageURLPart():
                blocks.append(_image(part.image_url.url, f"{where}.image_url.url"))
            case OtherPart() if files and part.type == "file":
                blocks.append(_document(part.model_extra or {}, f"{where}.file"))
            case RefusalPart() | OtherPart():
                message = f"content part type {part.type!r} is not supported{context}"
                raise InvalidRequest(message, param=f"{where}.type")
            case _:
                assert_never(part)
    return blocks


def _image(url: str, param: str) -> ImageBlock:
    if url.startswith("data:"):
        media_type, data = _data_url(url, param)
        if media_type not in IMAGE_MEDIA_TYPES:
            raise InvalidRequest(f"image type {media_type!r} is not supported (jpeg, png, gif, webp)", param=param)
        return ImageBlock(source=ImageSource(type="base64", media_type=media_type, data=data))
    if url.startswith(("https://", "http://")):
        return ImageBlock(source=ImageSource(type="url", url=url))
    raise InvalidRequest("image_url must be an http(s) URL or a base64 data URL", param=param)


def _data_url(url: str, param: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not data:
        raise InvalidRequest("data URLs must be base64-encoded (data:<type>;base64,<data>)", param=param)
    return media_type.lower(), data


def _document(extra: dict[str, Any], param: str) -> DocumentBlock:
    file = extra.get("file")
    if not isinstance(file, dict):
        file = {}
    file_data = file.get("file_data")
    if not isinstance(file_data, str) or not file_data.startswith("data:"):
        raise InvalidRequest("only inline PDF files (file_data) are supported", param=param)
    media_type, data = _data_url(file_data, f"{param}.file_data")
    if media_type != "application/pdf":
        raise InvalidRequest(f"file type {media_type!r} is not supported (application/pdf)", param=param)
    source = {"type": "base64", "media_type": media_type, "data": data}
    name = file.get("filename")
    return DocumentBlock(source=source, title=name) if name else DocumentBlock(source=source)


def _tool_result(tool_id: str, content: str | list[ContentPart], i: int) -> ToolResultBlock:
    if isinstance(content, str):
        return (
            ToolResultBlock(tool_use_id=tool_id, content=content) if content else ToolResultBlock(tool_use_id=tool_id)
        )
    blocks = _part_blocks(content, i, files=False, context=" in tool messages")
    return ToolResultBlock(tool_use_id=tool_id, content=blocks) if blocks else ToolResultBlock(tool_use_id=tool_id)


def _assistant_blocks(m: AssistantMessage, i: int) -> tuple[list[Any], str | None]:
    blocks: list[Any] = []
    if m.reasoning_content:
        signature = sign_reasoning(CLIENT_REASONING, m.reasoning_content)
        blocks.append(ThinkingBlock(thinking=m.reasoning_content, signature=signature))
    content = m.content
    if isinstance(content, str):
        if content:
            blocks.append(TextBlock(text=content))
    elif content:
        for part in content:
            match part:
                case TextPart():
                    text: str | None = part.text
                case RefusalPart():
                    text = part.refusal
                case ImageURLPart() | OtherPart():
                    text = None
                case _:
                    assert_never(part)
            if text:
                blocks.append(TextBlock(text=text))
    if not blocks and m.refusal:
        blocks.append(TextBlock(text=m.refusal))
    for j, call in enumerate(m.tool_calls or ()):
        where = f"messages[{i}].tool_calls[{j}].function.arguments"
        thought = call_thought_signature(call.model_extra or {})
        blocks.append(
            ToolUseBlock(
                id=encode_tool_id(call.id, thought),
                name=shorten_tool_name(call.function.name),
                input=_arguments(call.function.arguments, where),
            )
        )
    legacy_id = None
    if m.function_call is not None:
        legacy_id = f"toolu_legacy_{i}"
        where = f"messages[{i}].function_call.arguments"
        blocks.append(
            ToolUseBlock(
                id=legacy_id,
                name=shorten_tool_name(m.function_call.name),
                input=_arguments(m.function_call.arguments, where),
            )
        )
    return blocks, legacy_id


def _arguments(raw: str | None, param: str) -> dict[str, Any]:
    try:
        return parse_arguments(raw)
    except (ValueError, json.JSONDecodeError):
        raise InvalidRequest("arguments must be a JSON object encoded as a string", param=param) from None


def _strip_prefill(turns: list[tuple[Role, Any]]) -> None:
    """Anthropic rejects a final assistant turn whose text ends with whitespace."""
    while turns and turns[-1][0] == "assistant":
        blocks = turns[-1][1]
        while blocks and isinstance(blocks[-1], TextBlock):
            text = blocks[-1].text.rstrip()
            if text:
                blocks[-1] = TextBlock(text=text)
                return
            blocks.pop()
        if blocks:
            return
        turns.pop()


# --------------------------------------------------------------------------- tools


def _tools(req: ChatCompletionRequest) -> list[Tool]:
    tools: list[Tool] = []
    for j, tool in enumerate(req.tools or ()):
        if tool.type != "function" or tool.function is None:
            raise InvalidRequest(f"tool type {tool.type!r} is not supported", param=f"tools[{j}].type")
        tools.append(_tool(tool.function.name, tool.function.description, tool.function.parameters))
    for fn in req.functions or ():
        tools.append(_tool(fn.name, fn.description, fn.parameters))
    return tools


def _tool(name: str, description: str | None, parameters: dict[str, Any] | None) -> Tool:
    if parameters is None:
        schema = dict(EMPTY_SCHEMA)
    elif "type" not in parameters:
        schema = {"type": "object", **parameters}
    else:
        schema = parameters
    if description is None:
        return Tool(name=shorten_tool_name(name), input_schema=schema)
    return Tool(name=shorten_tool_name(name), description=description, input_schema=schema)


def _tool_choice(req: ChatCompletionRequest, tools: list[Tool]) -> tuple[ToolChoice | None, list[Tool]]:
    raw: Any = req.tool_choice if req.tool_choice is not None else req.function_call
    param = "tool_choice" if req.tool_choice is not None else "function_call"
    choice: ToolChoice | None = None
    if isinstance(raw, str):
        kind = {"none": "none", "auto": "auto", "required": "any"}.get(raw)
        if kind is None:
            raise InvalidRequest(f"unsupported {param} {raw!r}", param=param)
        choice = ToolChoice(type=kind)
    elif isinstance(raw, NamedToolChoice):
        if raw.type == "function" and raw.function is not None:
            choice = ToolChoice(type="tool", name=shorten_tool_name(raw.function.name))
        elif raw.type == "allowed_tools" and raw.allowed_tools is not None:
            choice, tools = _allowed_tools(raw.allowed_tools, tools)
        else:
            raise InvalidRequest(f"unsupported tool_choice type {raw.type!r}", param="tool_choice.type")
    elif raw is not None:  # legacy function_call {"name": ...}
        choice = ToolChoice(type="tool", name=shorten_tool_name(raw.name))
    if req.parallel_tool_calls is False and (choice is None or choice.type != "none"):
        choice = ToolChoice(
            type=choice.type if choice else "auto",
            disable_parallel_tool_use=True,
            **({"name": choice.name} if choice and choice.name else {}),
        )
    return choice, tools


def _allowed_tools(allowed: dict[str, Any], tools: list[Tool]) -> tuple[ToolChoice, list[Tool]]:
    """``allowed_tools`` restricts the tool list; ``mode`` says whether one must be called."""
    names = {
        shorten_tool_name(t["function"]["name"])
        for t in allowed.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and "name" in t["function"]
    }
    mode = allowed.get("mode", "auto")
    if mode not in ("auto", "required"):
        raise InvalidRequest(f"unsupported allowed_tools mode {mode!r}", param="tool_choice.allowed_tools.mode")
    return ToolChoice(type="any" if mode == "required" else "auto"), [t for t in tools if t.name in names]
