"""Canonical Messages request → Bedrock Converse arguments: pure functions, no boto3.

``converse_request`` returns the keyword arguments of ``converse``/``converse_stream``; the way back
(responses, stream events, errors) is ``bedrock_response``. Mapping and Converse quirks:

- ``system`` str/blocks and ``system`` turns inside ``messages`` → ``system[{text}]`` in order, with a
  ``cachePoint`` after every block that had ``cache_control``. Empty texts are dropped everywhere
  (Bedrock rejects empty text blocks).
- turns: consecutive same-role turns are merged (Converse requires alternation); a turn left empty is
  dropped. text → ``{text}``; image base64 → ``{image{format, source{bytes}}}`` (raw bytes; boto3
  encodes them); URL/file images and documents → 400 naming the block (Converse has no URL source);
  document base64 (PDF, office, csv…) / text / content sources → ``{document{format, name,
  source{bytes}}}`` (names sanitised to Bedrock's alphabet and made unique); tool_use → ``toolUse``;
  tool_result → ``toolResult`` (``is_error`` → ``status: "error"``, and an empty error gets a
  placeholder text: Bedrock rejects empty error results); thinking →
  ``reasoningContent.reasoningText{text, signature}``; redacted_thinking →
  ``reasoningContent.redactedContent`` (base64-decoded bytes). Blocks with no Converse form (server
  tool blocks, unknown types) are dropped. A block's ``cache_control`` → a ``cachePoint`` after it;
  top-level ``cache_control`` → a ``cachePoint`` at the end of the last turn.
- ``max_tokens`` → ``inferenceConfig.maxTokens`` (0, Anthropic's cache pre-warm, becomes Converse's
  minimum 1); ``temperature``/``top_p``/``stop_sequences`` → ``temperature``/``topP``/
  ``stopSequences``, and with stop sequences ``/stop_sequence`` is requested back.
- tools with an ``input_schema`` → ``toolConfig.tools[toolSpec]`` (names shortened reversibly to
  Bedrock's 64-char alphabet; ``response_tool_names`` gives the reverse map); schema-less
  (server / Anthropic-defined) tools are dropped. ``tool_choice`` auto/any/tool → the same keys;
  ``none`` → no ``toolConfig`` unless the history holds tool blocks: Converse then requires one, so the
  tools are kept and a stub spec is added for every referenced tool missing from ``tools``.
  ``disable_parallel_tool_use`` has no Converse equivalent.
- ``top_k``, ``thinking``, ``output_config`` and the filtered betas (``anthropic_beta``) →
  ``additionalModelRequestFields`` (the model-native body: no boto3 upgrade needed for new fields).
  ``metadata.user_id`` → ``requestMetadata.user_id`` when it fits Bedrock's alphabet, else dropped.
  ``service_tier``, ``container``, ``context_management``, ``mcp_servers`` are dropped.
- Newer optional keys (``cachePoint.ttl``, ``toolSpec.strict``) are sent only when they change
  something, so an older botocore (the Lambda runtime's) does not reject the request.
- Automatic prompt caching (``cache``, a ``prompt_cache.CachePlan`` made from this request): a
  ``cachePoint`` after the last ``toolSpec`` of the request's tools, after the last system block
  (``system`` turns included) and after the content of each planned turn (merged turns keep the
  point where the planned turn ended).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from typing import Any, assert_never

from ..errors import InvalidRequest
from ..translate.tool_names import shorten_tool_name, tool_name_map, unsigned_tool_id
from ..wire.anthropic import (
    CacheControl,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    ImageSource,
    MessagesRequest,
    OtherBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .prompt_cache import CachePlan

log = logging.getLogger(__name__)

IMAGE_FORMATS = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/html": "html",
    "text/markdown": "md",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
EMPTY_ERROR_RESULT = "(the tool reported an error without details)"
STUB_TOOL_DESCRIPTION = "Not available in this request. Do not call it."
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}")
_DOC_NAME_BAD = re.compile(r"[^a-zA-Z0-9\s\-()\[\]]+")

# --------------------------------------------------------------------------- request


def converse_request(
    request: MessagesRequest, model_id: str, *, betas: Iterable[str] = (), cache: CachePlan | None = None
) -> dict[str, Any]:
    """The ``converse``/``converse_stream`` keyword arguments; ``InvalidRequest`` for what Converse cannot take."""
    builder = _RequestBuilder(cache)
    system = builder.system(request.system)
    turns: list[dict[str, Any]] = []
    marked = cache.messages if cache is not None else ()
    for i, turn in enumerate(request.messages):
        if turn.role == "system":
            system.extend(builder.system(turn.content, path=f"messages[{i}].content"))
            continue
        content = builder.content(turn.content, f"messages[{i}]")
        if not content:
            continue
        if i in marked and "cachePoint" not in content[-1]:
            content.append(builder.planned_point())
        if turns and turns[-1]["role"] == turn.role:
            turns[-1]["content"].extend(content)
        else:
            turns.append({"role": turn.role, "content": content})
    if cache is not None and cache.system and system and "cachePoint" not in system[-1]:
        system.append(builder.planned_point())
    if request.cache_control is not None and turns and "cachePoint" not in turns[-1]["content"][-1]:
        turns[-1]["content"].append(_cache_point(request.cache_control))  # automatic caching: the whole prompt

    kwargs: dict[str, Any] = {"modelId": model_id, "messages": turns}
    if system:
        kwargs["system"] = system
    inference: dict[str, Any] = {"maxTokens": max(1, request.max_tokens)}
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop_sequences:
        inference["stopSequences"] = list(request.stop_sequences)
        kwargs["additionalModelResponseFieldPaths"] = ["/stop_sequence"]
    kwargs["inferenceConfig"] = inference
    tool_config = builder.tool_config(request)
    if tool_config is not None:
        kwargs["toolConfig"] = tool_config
    extra: dict[str, Any] = {}
    if request.top_k is not None:
        extra["top_k"] = request.top_k
    if request.thinking is not None:
        extra["thinking"] = request.thinking.dump()
    if request.output_config is not None and (output := request.output_config.dump()):
        extra["output_config"] = output
    if beta_list := list(dict.fromkeys(betas)):
        extra["anthropic_beta"] = beta_list
    if extra:
        kwargs["additionalModelRequestFields"] = extra
    user_id = request.metadata.user_id if request.metadata is not None else None
    if user_id and _METADATA_VALUE.fullmatch(user_id):
        kwargs["requestMetadata"] = {"user_id": user_id}
    return kwargs


def response_tool_names(request: MessagesRequest) -> dict[str, str]:
    """``{Bedrock name: original}`` for the tool names ``converse_request`` shortened."""
    names = [tool.name for tool in request.tools or ()]
    for turn in request.messages:
        if not isinstance(turn.content, str):
            names.extend(block.name for block in turn.content if isinstance(block, ToolUseBlock))
    return tool_name_map(names)


def _cache_point(cache_control: CacheControl) -> dict[str, Any]:
    point: dict[str, Any] = {"type": "default"}
    if cache_control.ttl == "1h":  # 5m is the default; omit it for older botocore releases
        point["ttl"] = "1h"
    return {"cachePoint": point}


def _b64(data: str | None, path: str) -> bytes:
    try:
        return base64.b64decode("".join((data or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{path}: data is not valid base64", param=path) from None


class _RequestBuilder:
    """Maps blocks while remembering what the tool configuration needs to know about the history."""

    def __init__(self, cache: CachePlan | None = None) -> None:
        self.has_tool_blocks = False
        self.used_tools: list[str] = []
        self._doc_names: set[str] = set()
        self._cache = cache

    def planned_point(self) -> dict[str, Any]:
        """A ``cachePoint`` of the automatic plan (its TTL)."""
        assert self._cache is not None
        return _cache_point(CacheControl(ttl=self._cache.ttl if self._cache.ttl == "1h" else None))

    def system(self, system: Any, path: str = "system") -> list[dict[str, Any]]:
        if system is None:
            return []
        if isinstance(system, str):
            return [{"text": system}] if system else []
        out: list[dict[str, Any]] = []
        for j, block in enumerate(system):
            if not isinstance(block, TextBlock):
                raise InvalidRequest(f"{path}[{j}]: only text blocks can be system content", param=f"{path}[{j}]")
            if block.text:
                out.append({"text": block.text})
            if block.cache_control is not None and out:
                out.append(_cache_point(block.cache_control))
        return out

    def content(self, content: str | list[ContentBlock], path: str) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"text": content}] if content else []
        out: list[dict[str, Any]] = []
        for j, block in enumerate(content):
            mapped = self.block(block, f"{path}.content[{j}]")
            if mapped is not None:
                out.append(mapped)
                cache_control = getattr(block, "cache_control", None)
                if isinstance(cache_control, CacheControl):
                    out.append(_cache_point(cache_control))
        return out

    def block(self, block: ContentBlock, path: str) -> dict[str, Any] | None:
        match block:
            case TextBlock():
                return {"text": block.text} if block.text else None
            case ImageBlock():
                return {"image": self.image(block.source, path)}
            case DocumentBlock():
                return {"document": self.document(block, path)}
            case ToolUseBlock():
                self.has_tool_blocks = True
                name = shorten_tool_name(block.name)
                self.used_tools.append(name)
                return {"toolUse": {"toolUseId": unsigned_tool_id(block.id), "name": name, "input": block.input}}
            case ToolResultBlock():
                self.has_tool_blocks = True
                return {"toolResult": self.tool_result(block, path)}
            case ThinkingBlock():
                text: dict[str, Any] = {"text": block.thinking}
                if block.signature:
                    text["signature"] = block.signature
                return {"reasoningContent": {"reasoningText": text}}
            case RedactedThinkingBlock():
                return {"reasoningContent": {"redactedContent": _b64(block.data, f"{path}.data")}}
            case OtherBlock():
                log.debug("bedrock: dropping %s block at %s (no Converse equivalent)", block.type, path)
                return None
            case _:
                assert_never(block)

    def image(self, source: ImageSource, path: str) -> dict[str, Any]:
        if source.type != "base64":
            raise InvalidRequest(
                f"{path}: {source.type} image sources cannot be sent to Bedrock (Converse takes only inline "
                "bytes); send the image as base64",
                param=f"{path}.source",
            )
        image_format = IMAGE_FORMATS.get((source.media_type or "").lower())
        if image_format is None:
            raise InvalidRequest(f"{path}: unsupported image media_type {source.media_type!r}", param=f"{path}.source")
        return {"format": image_format, "source": {"bytes": _b64(source.data, f"{path}.source.data")}}

    def document(self, block: Any, path: str) -> dict[str, Any]:
        source = block.source
        kind = source.get("type")
        if kind == "base64":
            doc_format = DOCUMENT_FORMATS.get(str(source.get("media_type", "")).lower())
            if doc_format is None:
                raise InvalidRequest(f"{path}: unsupported document media_type", param=f"{path}.source")
            raw = _b64(source.get("data"), f"{path}.source.data")
        elif kind == "text":
            doc_format, raw = "txt", str(source.get("data") or "").encode()
        elif kind == "content":
            parts = source.get("content")
            texts = (
                [parts] if isinstance(parts, str) else [p.get("text", "") for p in parts or () if isinstance(p, dict)]
            )
            doc_format, raw = "txt", "\n\n".join(t for t in texts if t).encode()
        else:
            raise InvalidRequest(
                f"{path}: {kind} document sources cannot be sent to Bedrock; send the document inline",
                param=f"{path}.source",
            )
        document: dict[str, Any] = {"format": doc_format, "name": self._doc_name(block.title), "source": {"bytes": raw}}
        if block.context:
            document["context"] = block.context
        citations = (block.model_extra or {}).get("citations")
        if isinstance(citations, dict) and citations.get("enabled"):
            document["citations"] = {"enabled": True}
        return document

    def _doc_name(self, title: str | None) -> str:
        """Bedrock allows letters, digits, single spaces, hyphens, parentheses and brackets; names must differ."""
        stem = " ".join(_DOC_NAME_BAD.sub(" ", title or "").split())[:180] or "document"
        name, n = stem, 1
        while name in self._doc_names:
            n += 1
            name = f"{stem} ({n})"
        self._doc_names.add(name)
        return name

    def tool_result(self, block: Any, path: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if isinstance(block.content, str):
            content = [{"text": block.content}] if block.content else []
        elif block.content:
            for k, part in enumerate(block.content):
                sub = f"{path}.content[{k}]"
                if part.type == "text" and part.text:
                    content.append({"text": part.text})
                elif part.type == "image":
                    content.append({"image": self.image(part.source, sub)})
                elif part.type == "document":
                    content.append({"document": self.document(part, sub)})
        result: dict[str, Any] = {"toolUseId": unsigned_tool_id(block.tool_use_id), "content": content}
        if block.is_error:
            result["status"] = "error"
            if not content:  # "content field ... cannot be empty when status value is error"
                result["content"] = [{"text": EMPTY_ERROR_RESULT}]
        return result

    def tool_config(self, request: MessagesRequest) -> dict[str, Any] | None:
        choice = request.tool_choice
        choose_none = choice is not None and choice.type == "none"
        if choose_none and not self.has_tool_blocks:
            return None
        tools: list[dict[str, Any]] = []
        names: set[str] = set()
        for tool in request.tools or ():
            if tool.input_schema is None:  # server / Anthropic-defined tools have no Converse form
                continue
            spec: dict[str, Any] = {"name": shorten_tool_name(tool.name), "inputSchema": {"json": tool.input_schema}}
            if tool.description:
                spec["description"] = tool.description
            if tool.strict:
                spec["strict"] = True
            names.add(spec["name"])
            tools.append({"toolSpec": spec})
            if tool.cache_control is not None:
                tools.append(_cache_point(tool.cache_control))
        if self._cache is not None and self._cache.tools and tools and "cachePoint" not in tools[-1]:
            tools.append(self.planned_point())
        if self.has_tool_blocks:  # Converse requires a toolConfig covering the history's tool blocks
            for name in dict.fromkeys(self.used_tools):
                if name not in names:
                    names.add(name)
                    tools.append({"toolSpec": _stub_spec(name)})
            if not names:
                names.add("aimux_no_tools")
                tools.append({"toolSpec": _stub_spec("aimux_no_tools")})
        if not names:
            return None
        config: dict[str, Any] = {"tools": tools}
        if choice is not None and not choose_none:
            if choice.type == "auto":
                config["toolChoice"] = {"auto": {}}
            elif choice.type == "any":
                config["toolChoice"] = {"any": {}}
            elif choice.type == "tool":
                name = shorten_tool_name(choice.name or "")
                if name not in names:
                    raise InvalidRequest(
                        f"tool_choice names tool {choice.name!r}, which is not a tool Bedrock can be given",
                        param="tool_choice.name",
                    )
                config["toolChoice"] = {"tool": {"name": name}}
        return config


def _stub_spec(name: str) -> dict[str, Any]:
    return {"name": name, "description": STUB_TOOL_DESCRIPTION, "inputSchema": {"json": {"type": "object"}}}
