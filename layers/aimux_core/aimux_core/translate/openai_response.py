"""Non-streaming answers between the canonical ``Message`` and OpenAI ``chat.completion``.

``message_to_chat_completion`` (OpenAI client, any upstream):
  text blocks → ``content`` (concatenated, ``null`` when there is none); ``tool_use`` →
  ``tool_calls`` (``arguments`` compact JSON, ``"{}"`` for empty input, never ``""``; names and
  ids restored to the client's originals, a Gemini thought signature carried in the id back in
  ``extra_content``); thinking → ``reasoning_content`` only on request;
  ``stop_reason`` → ``finish_reason`` per ``FINISH_REASONS``; usage → ``prompt_tokens`` = input +
  cache read + cache write, ``cached_tokens`` = cache read.

``chat_completion_to_message`` (OpenAI-compatible upstream, canonical answer):
  ``reasoning_content`` / ``reasoning`` / ``reasoning_details`` → one thinking block first;
  ``content`` (and ``refusal``) → text; ``tool_calls`` (and legacy ``function_call``) →
  ``tool_use`` with ids made valid (a Gemini ``extra_content.google.thought_signature`` is kept
  inside the id: ``tool_names``) and names restored (a call whose arguments were cut by
  ``length`` is dropped); ``finish_reason`` → ``stop_reason`` with
  ``stop``-but-tool-calls (Gemini) → ``tool_use``; usage → ``input_tokens`` = prompt - cached -
  cache write. The shared helpers here are reused by the stream translators.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, assert_never

from ..errors import UpstreamError
from ..wire.anthropic import (
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    Message,
    OtherBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from .tool_names import decode_tool_id, encode_tool_id, restore_tool_name, thought_signature_of, tool_name_map
from .upstream_errors import excerpt, malformed_answer
from .upstream_errors import upstream_error as http_upstream_error

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_VALID_ID = re.compile(r"[A-Za-z0-9_-]+")
EMPTY_ANSWER_FINISHES = frozenset({"stop", "length", "content_filter"})
"""An answer with no content is the model's honest answer only when the upstream says why it ended
(and, for a whole answer, reports its usage); otherwise it is an unusable one (``malformed_answer``)."""

# --------------------------------------------------------------------------- shared helpers


def finish_reason_for(stop_reason: str | None) -> str:
    """Anthropic ``stop_reason`` → OpenAI ``finish_reason`` (unknown or missing → ``stop``)."""
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def stop_reason_for(finish_reason: str | None, *, has_tool_use: bool, refused: bool = False) -> str:
    """OpenAI ``finish_reason`` → Anthropic ``stop_reason``.

    The content decides over the label: Gemini says ``stop`` after tool calls, and some servers
    say ``tool_calls`` without sending any.
    """
    if finish_reason == "length":
        return "max_tokens"
    if finish_reason == "content_filter" or refused:
        return "refusal"
    return "tool_use" if has_tool_use else "end_turn"


def completion_id(message_id: str) -> str:
    return message_id if message_id.startswith("chatcmpl-") else f"chatcmpl-{message_id}"


def message_id_from(upstream_id: Any) -> str:
    """Keep an upstream id only when it is safe on the Anthropic side; else a new ``msg_`` id (made only then)."""
    if isinstance(upstream_id, str) and _VALID_ID.fullmatch(upstream_id):
        return upstream_id
    return f"msg_{uuid.uuid4().hex}"


def dump_arguments(tool_input: dict[str, Any]) -> str:
    """Tool input → OpenAI ``arguments``: compact JSON, ``"{}"`` when empty."""
    if not tool_input:
        return "{}"
    return json.dumps(tool_input, ensure_ascii=False, separators=(",", ":"))


def parse_arguments(raw: Any) -> dict[str, Any]:
    """OpenAI ``arguments`` → tool input. ``""``/``None``/``null`` → ``{}``; ValueError otherwise."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        raise ValueError("arguments is neither a string nor an object")
    parsed = json.loads(raw)
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ValueError("arguments is not a JSON object")
    return parsed


def call_thought_signature(call: dict[str, Any]) -> str | None:
    """Gemini's ``extra_content.google.thought_signature`` on an OpenAI tool call (or fragment)."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def signature_extra_content(tool_id: str) -> dict[str, Any] | None:
    """The ``extra_content`` to put on an OpenAI tool call whose canonical id carries a thought signature."""
    signature = thought_signature_of(tool_id)
    return {"google": {"thought_signature": signature}} if signature else None


def reasoning_text(obj: dict[str, Any]) -> str:
    """The reasoning a provider put on a message or delta, or ``""``.

    OpenRouter sends the same text as ``reasoning`` and ``reasoning_details``, so the first
    non-empty source wins instead of concatenating them.
    """
    text = obj.get("reasoning_content") or obj.get("reasoning")
    if isinstance(text, str) and text:
        return text
    details = obj.get("reasoning_details")
    if not details or not isinstance(details, list):
        return ""
    parts = []
    for item in details:
        if isinstance(item, dict):
            piece = item.get("text") or item.get("summary")
            if isinstance(piece, str):
                parts.append(piece)
    return "".join(parts)


def chat_usage(usage: Usage | dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage → OpenAI usage (``prompt_tokens`` includes cache reads and writes)."""
    data = usage.dump() if isinstance(usage, Usage) else usage
    cache_read = data.get("cache_read_input_tokens") or 0
    prompt = (data.get("input_tokens") or 0) + cache_read + (data.get("cache_creation_input_tokens") or 0)
    completion = data.get("output_tokens") or 0
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
    details = data.get("output_tokens_details")
    if isinstance(details, dict) and details.get("thinking_tokens") is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return out


def anthropic_usage(usage: dict[str, Any]) -> dict[str, int]:
    """OpenAI usage → Anthropic usage fields (``input_tokens`` excludes cached and cache-write)."""
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens")
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek
    written = details.get("cache_write_tokens")
    if written is None:
        written = details.get("cache_creation_tokens")
    cached, written = cached or 0, written or 0
    prompt = usage.get("prompt_tokens") or 0
    return {
        "input_tokens": max(0, prompt - cached - written),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def upstream_error(body: dict[str, Any], provider: str) -> UpstreamError:
    """An error an OpenAI-compatible upstream put in a body or a chunk → ``UpstreamError``.

    Shapes: ``{"error": {"message", "type", "code"}}`` (OpenAI; OpenRouter puts the HTTP status in
    ``code``), ``{"error": "text"}`` and ``{"object": "error", "message", "code"}`` (vLLM). A numeric
    code maps like the same HTTP status would (``translate.upstream_errors``, which also redacts
    anything that looks like a credential); otherwise it is a retryable ``api_error``.
    """
    raw = body.get("error")
    err = raw if isinstance(raw, dict) else body
    code = err.get("code")
    text = json.dumps(body, ensure_ascii=False, default=str)
    if isinstance(code, int) and 400 <= code < 600:
        return http_upstream_error(provider, code, {}, text)
    return UpstreamError(f"upstream {provider} reported an error: {excerpt(text)}", provider=provider)


# --------------------------------------------------------------------------- canonical → OpenAI


def assistant_parts(
    blocks: Iterable[ContentBlock], tool_name: Callable[[str], str], *, signatures: bool, reasoning: bool
) -> tuple[str, list[dict[str, Any]], str]:
    """An assistant turn's text, ``tool_calls`` and reasoning text in Chat Completions terms.

    ``tool_name`` maps each canonical tool name (shortened for an upstream, or restored for a client);
    ``signatures``: a call whose id carries a Gemini thought signature gets ``extra_content``;
    ``reasoning``: thinking text is kept. Other blocks have no place in an assistant message.
    """
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        match block:
            case TextBlock():
                texts.append(block.text)
            case ToolUseBlock():
                call: dict[str, Any] = {
                    "id": decode_tool_id(block.id),
                    "type": "function",
                    "function": {"name": tool_name(block.name), "arguments": dump_arguments(block.input)},
                }
                extra = signature_extra_content(block.id) if signatures else None
                if extra is not None:
                    call["extra_content"] = extra
                calls.append(call)
            case ThinkingBlock():
                if reasoning:
                    thoughts.append(block.thinking)
            case ImageBlock() | DocumentBlock() | RedactedThinkingBlock() | ToolResultBlock() | OtherBlock():
                pass
            case _:
                assert_never(block)
    return "".join(texts), calls, "".join(thoughts)


def message_to_chat_completion(
    msg: Message,
    *,
    model: str,
    created: int,
    include_reasoning: bool = False,
    tool_names: Iterable[str] = (),
) -> dict[str, Any]:
    """A canonical answer as the ``chat.completion`` object an OpenAI client expects.

    ``tool_names`` are the tool names the client sent; shortened names are mapped back.
    """
    names = tool_name_map(tool_names)
    text, calls, thoughts = assistant_parts(
        msg.content, lambda name: restore_tool_name(name, names), signatures=True, reasoning=include_reasoning
    )
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = thoughts
    message["annotations"] = []
    finish = finish_reason_for(msg.stop_reason)
    if finish == "tool_calls" and not calls:
        finish = "stop"
    return {
        "id": completion_id(msg.id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": chat_usage(msg.usage),
    }


# --------------------------------------------------------------------------- OpenAI → canonical


def chat_completion_to_message(
    data: dict[str, Any],
    *,
    model: str,
    tool_names: Iterable[str] = (),
    provider: str = "openai",
    signer: Callable[[str], str] | None = None,
    message_id: str | None = None,
) -> Message:
    """An upstream ``chat.completion`` body as the canonical ``Message``.

    ``model`` is the name the client asked for (Claude Code compares it); ``tool_names`` are
    the canonical tool names of the request, so shortened names come back whole; ``signer``
    mints the thinking signature (aimux-namespaced: ``thinking.sign_reasoning``), else the signature stays ``""``.
    Raises the upstream's ``UpstreamError`` for an error body, and ``malformed_answer`` for one that
    breaks the schema (``choices`` not a list, a choice without a ``message`` object, content or
    tool calls of the wrong type, a tool call without a name, unparsable arguments, usage that is not
    an object) or holds nothing usable: no content and no tool calls are an honest empty answer only
    with a ``finish_reason`` of ``stop``/``length``/``content_filter`` and reported usage. Other
    wrong types deeper down raise ``TypeError``/``ValueError``, which the adapter reports the same way.
    """
    if data.get("error") or data.get("object") == "error":
        raise upstream_error(data, provider)
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise malformed_answer(provider, "answered without a choices list")
    if not choices or not isinstance(choices[0], dict):
        raise malformed_answer(provider, "answered without a choice")
    choice = choices[0]
    if choice.get("finish_reason") == "error":
        raise upstream_error(choice.get("error") or data, provider)
    msg = choice.get("message")
    if not isinstance(msg, dict):
        raise malformed_answer(provider, "answered a choice without a message object")
    names = tool_name_map(tool_names)
    mid = message_id or message_id_from(data.get("id"))
    content: list[Any] = []

    thought = reasoning_text(msg)
    if thought:
        content.append(ThinkingBlock(thinking=thought, signature=signer(thought) if signer else ""))
    text = msg.get("content")
    if isinstance(text, list):  # a few servers answer with content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    elif text is not None and not isinstance(text, str):
        raise malformed_answer(provider, f"answered message.content that is a {type(text).__name__}, not text")
    if text:
        content.append(TextBlock(text=text))
    refusal = msg.get("refusal")
    if refusal:
        content.append(TextBlock(text=refusal))

    raw_calls = msg.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise malformed_answer(provider, "answered message.tool_calls that is not a list")
    if msg.get("function_call"):
        raw_calls = [*raw_calls, {"function": msg["function_call"]}]
    cut = choice.get("finish_reason") == "length"
    for n, call in enumerate(raw_calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise malformed_answer(provider, f"answered tool call {n} without a function name")
        try:
            tool_input = parse_arguments(fn.get("arguments"))
        except ValueError as exc:
            if cut:  # a call cut by max_tokens cannot be represented: it is dropped, the stop stays max_tokens
                continue
            raise malformed_answer(provider, f"answered invalid tool arguments for call {n}: {exc}") from None
        call_id = call.get("id")
        content.append(
            ToolUseBlock(
                id=encode_tool_id(call_id or f"toolu_{mid}_{n}", call_thought_signature(call)),
                name=restore_tool_name(fn["name"], names),
                input=tool_input,
            )
        )

    usage = data.get("usage") or (data.get("x_groq") or {}).get("usage") or {}
    if not isinstance(usage, dict):
        raise malformed_answer(provider, "answered usage that is not an object")
    finish = choice.get("finish_reason")
    if not content and (finish not in EMPTY_ANSWER_FINISHES or not usage):
        raise malformed_answer(
            provider,
            f"answered nothing usable (no content, no tool calls, finish_reason {finish!r}"
            + ("" if usage else ", no usage")
            + ")",
        )
    stop = stop_reason_for(finish, has_tool_use=bool(raw_calls), refused=bool(refusal))
    return Message(
        id=mid,
        model=model,
        content=content,
        stop_reason=stop,
        stop_sequence=None,
        usage=Usage(**anthropic_usage(usage)),
    )
