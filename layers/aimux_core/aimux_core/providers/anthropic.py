"""The ``anthropic`` dialect: first-party Anthropic and the Anthropic-compatible endpoints
(Z.AI GLM, MiniMax, Moonshot Kimi, DeepSeek), as a near pass-through of the canonical model.

What the request side handles (``build_body`` / ``build_headers``, pure functions):

- ``model`` becomes the upstream id, ``stream`` is set for the call kind, ``preset.strip_fields``
  are removed and ``max_tokens`` is clamped to ``preset.max_tokens_cap`` (an ``enabled`` thinking
  budget is kept below it, as the API requires);
- thinking blocks are filtered by ``prepare_thinking`` for the preset's reasoning policy: genuine
  signatures reach ``signed`` upstreams byte-exact, aimux-signed reasoning goes back unsigned to
  ``echo`` upstreams, nothing foreign reaches Anthropic;
- image blocks (also inside ``tool_result``) fail with a 400 naming the block when the preset
  cannot take images: never silently dropped;
- ``role: "system"`` turns inside ``messages`` (Claude Code sends them): first-party Anthropic
  takes them as they are; for compatible endpoints, which document no such role, their text is
  appended to the top-level ``system`` (order kept) and the user/assistant turns around them that
  end up adjacent are merged;
- tool ids: answers' ids outside ``[a-zA-Z0-9_-]`` (Kimi's ``functions.Bash:0``) reach the client
  re-encoded by ``encode_tool_id`` (valid for every upstream), and compatible endpoints get their
  original ids back in the history (``restore_tool_ids``);
- a request without cache breakpoints of its own gets them where they pay off (``prompt_cache``:
  tools, system, the conversation), per the route's and the preset's ``prompt_caching``;
- with ``anthropic-version: 2026-10-21`` the sampling fields (``temperature``/``top_p``/``top_k``)
  are dropped: that version rejects them;
- headers: the key per ``preset.auth`` (never logged, never in an error), ``anthropic-version``
  (the client's, else ``2023-06-01``), ``anthropic-beta`` filtered by ``preset.beta_policy``,
  ``preset.extra_headers``; streams ask for ``accept-encoding: identity`` because the transport
  reads raw body bytes;
- a beta flag and the body fields it turns on travel together (``betas``): the fields of a flag the
  client sent but this upstream does not get are stripped (``context_management``,
  ``output_config.effort``...), unless the preset lists the flag in ``native_betas``.

The response side: non-streaming answers are validated once into a ``Message`` (a 200 carrying an
error object raises it; one that breaks the schema raises ``malformed_answer``, a retryable upstream
fault); streams go through ``anthropic_stream.StreamNormaliser`` (its docstring
lists the stream quirks). Either way ``model`` is the client's name and ``echo`` upstreams'
reasoning gets an aimux signature.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing, suppress
from functools import cached_property
from typing import Any

from ..errors import InvalidRequest, UpstreamError
from ..presets import ProviderPreset
from ..translate.provenance_key import ensure_provenance_key
from ..translate.thinking import prepare_thinking, sign_reasoning
from ..translate.tool_names import ID_PREFIX, SIGNED_ID_PREFIX, decode_tool_id, encode_tool_id, unsigned_tool_id
from ..translate.upstream_errors import PARSE_FAULTS, malformed_answer
from ..wire.anthropic import (
    EventStream,
    Message,
    MessagesRequest,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from ..wire.json_bytes import compact_json
from ..wire.sse import SSEParser
from .anthropic_relay import relayed_stream
from .anthropic_stream import StreamNormaliser, complete_usage, error_from_payload
from .base import UpstreamCall
from .betas import forwarded_betas, strip_unforwarded_fields
from .http_adapter import HttpAdapter, auth_headers
from .prompt_cache import CacheSettings, mark_body, settings_for_call

DEFAULT_VERSION = "2023-06-01"
VERSION_2026_10_21 = "2026-10-21"
FIRST_PARTY_PRESETS = frozenset({"anthropic"})
_DRAIN_SECONDS = 0.5
_SAMPLING_FIELDS = ("temperature", "top_p", "top_k")
ID_PREFIXES = (ID_PREFIX, SIGNED_ID_PREFIX)
# What count_tokens does not take (generation settings); everything else is forwarded.
_NOT_COUNTED = ("max_tokens", "stream", "stop_sequences", "metadata", "service_tier", *_SAMPLING_FIELDS)


def is_first_party(preset: ProviderPreset) -> bool:
    return preset.name in FIRST_PARTY_PRESETS


# --------------------------------------------------------------------------- request


def build_body(
    request: MessagesRequest,
    model: str,
    preset: ProviderPreset,
    *,
    provider: str,
    stream: bool,
    version: str,
    betas: Iterable[str] = (),
    cache: CacheSettings | None = None,
) -> dict[str, Any]:
    """The JSON body for the upstream (one dump of the canonical request, then dict edits);
    ``betas`` are the client's ``anthropic-beta`` flags (their fields follow them); ``cache``: place
    prompt-cache breakpoints when the request has none (``prompt_cache``)."""
    prepared = prepare_thinking(request, preset.reasoning)
    body = prepared.dump()
    plan = cache.plan(prepared) if cache is not None else None
    if plan is not None:
        mark_body(body, plan)
    if betas:
        strip_unforwarded_fields(body, betas, forwarded_betas(preset, betas), preset.native_betas)
    body["model"] = model
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    for name in preset.strip_fields:
        body.pop(name, None)
    if version == VERSION_2026_10_21:
        for name in _SAMPLING_FIELDS:
            body.pop(name, None)
    cap = preset.max_tokens_cap
    if cap is not None and body.get("max_tokens", 0) > cap:
        body["max_tokens"] = cap
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and (thinking.get("budget_tokens") or 0) >= cap:
            thinking["budget_tokens"] = cap - 1
    if not preset.supports_images:
        reject_images(body["messages"], provider)
    if not is_first_party(preset):
        fold_system_turns(body)
        restore_tool_ids(body["messages"], decode_tool_id)
    else:
        restore_tool_ids(body["messages"], unsigned_tool_id)
    return body


def restore_tool_ids(messages: list[dict[str, Any]], restore: Callable[[str], str]) -> None:
    """Rewrite the tool ids aimux re-encoded for the client (``encode_tool_id``): compatible
    endpoints get their own ids back (``functions.Bash:0``, ``decode_tool_id``); first-party Anthropic
    keeps the valid form without a Gemini thought signature (``unsigned_tool_id``)."""
    for turn in messages:
        content = turn.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            key = "id" if block.get("type") == "tool_use" else "tool_use_id"
            value = block.get(key)
            if isinstance(value, str) and value.startswith(ID_PREFIXES):
                block[key] = restore(value)


def reject_images(messages: list[dict[str, Any]], provider: str) -> None:
    """``InvalidRequest`` naming the first image block (tool results included)."""
    for m, turn in enumerate(messages):
        content = turn.get("content")
        if not isinstance(content, list):
            continue
        for b, block in enumerate(content):
            kind = block.get("type")
            if kind == "image":
                _no_images(f"messages.{m}.content.{b}", provider)
            nested = block.get("content") if kind == "tool_result" else None
            if isinstance(nested, list):
                for n, inner in enumerate(nested):
                    if inner.get("type") == "image":
                        _no_images(f"messages.{m}.content.{b}.content.{n}", provider)


def _no_images(path: str, provider: str) -> None:
    raise InvalidRequest(f"{path}: image content is not supported by provider {provider!r}", param=path)


def fold_system_turns(body: dict[str, Any]) -> None:
    """Move ``system``-role turns into the top-level ``system`` (for endpoints without that role)."""
    messages = body["messages"]
    if not any(turn.get("role") == "system" for turn in messages):
        return
    folded: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    after_system = False
    for turn in messages:
        if turn.get("role") == "system":
            folded.extend(_text_blocks(turn.get("content")))
            after_system = True
        elif after_system and kept and kept[-1]["role"] == turn["role"]:
            kept[-1] = {**kept[-1], "content": [*_blocks(kept[-1]["content"]), *_blocks(turn["content"])]}
        else:
            kept.append(turn)
            after_system = False
    body["messages"] = kept
    if folded:
        system = body.get("system")
        body["system"] = [*_text_blocks(system), *folded] if system else folded


def _blocks(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _text_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [block for block in content or () if block.get("type") == "text" and block.get("text")]


def build_headers(
    preset: ProviderPreset, api_key: str | None, version: str, betas: Iterable[str], *, stream: bool
) -> dict[str, str]:
    headers = dict(preset.extra_headers)
    headers["content-type"] = "application/json"
    headers["anthropic-version"] = version
    if stream:
        headers["accept"] = "text/event-stream"
        headers["accept-encoding"] = "identity"  # the transport yields raw bytes: no gzip to undo
    else:
        headers["accept"] = "application/json"
    flags = forwarded_betas(preset, betas)
    if flags:
        headers["anthropic-beta"] = ",".join(flags)
    headers.update(auth_headers(preset.auth, api_key))
    return headers


# --------------------------------------------------------------------------- response


def parse_message(body: bytes, provider: str, client_model: str, *, sign_thinking: bool) -> Message:
    """A non-streaming answer as a ``Message`` with the client's model name (validated once)."""
    try:
        message = Message.model_validate_json(body)
    except PARSE_FAULTS as exc:  # ValidationError, or a TypeError from a block whose type is not a string
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("type") == "error":
            raise error_from_payload(provider, payload, midstream=False) from None
        raise malformed_answer(provider, "answered with a malformed message", exc) from None
    message.model = client_model
    if "usage" not in message.model_fields_set:
        message.usage = Usage()
    complete_usage(message.usage)
    for block in message.content:
        if isinstance(block, ToolUseBlock):
            block.id = encode_tool_id(block.id)
        elif sign_thinking and isinstance(block, ThinkingBlock):
            block.signature = sign_reasoning(provider, block.thinking)
    return message


# --------------------------------------------------------------------------- provider


class AnthropicProvider(HttpAdapter):
    """A ``Provider`` for one Anthropic-dialect upstream (see the module docstring)."""

    @cached_property
    def _messages_url(self) -> str:
        return f"{self.base_url}/v1/messages"

    @cached_property
    def _count_tokens_url(self) -> str:
        return f"{self.base_url}/v1/messages/count_tokens"

    @cached_property
    def _relays_frames(self) -> bool:
        """First-party Anthropic without aimux signatures: its stream needs no normalisation after the
        first content, so an Anthropic client may get its frames as they came (``anthropic_relay.py``)."""
        return is_first_party(self.preset) and not self._sign_thinking

    @cached_property
    def _sign_thinking(self) -> bool:
        """Echo reasoning: aimux signs the upstream's thinking in answers and verifies it in history."""
        return self.preset.reasoning == "echo"

    def batch_body(self, call: UpstreamCall) -> dict[str, Any]:
        """The ``params`` one request of a Message Batch carries to this upstream (as ``create`` would send it)."""
        version = call.context.anthropic_version or DEFAULT_VERSION
        return build_body(
            call.request,
            call.model,
            self.preset,
            provider=self.name,
            stream=False,
            version=version,
            betas=call.context.betas,
        )

    def batch_headers(self, version: str | None = None, betas: Iterable[str] = ()) -> dict[str, str]:
        """Headers of the Message Batches calls, the key included (``jobs/native/anthropic.py`` sends them,
        never logs them)."""
        return build_headers(self.preset, self._api_key, version or DEFAULT_VERSION, betas, stream=False)

    def parse_answer(self, body: bytes, client_model: str) -> Message:
        """A message of this upstream (a batch result's ``message``) as canonical, as ``create`` parses it."""
        return parse_message(body, self.name, client_model, sign_thinking=self._sign_thinking)

    def _request(self, call: UpstreamCall, *, stream: bool) -> tuple[bytes, dict[str, str]]:
        version = call.context.anthropic_version or DEFAULT_VERSION
        body = build_body(
            call.request,
            call.model,
            self.preset,
            provider=self.name,
            stream=stream,
            version=version,
            betas=call.context.betas,
            cache=settings_for_call(call, self.preset),
        )
        headers = build_headers(self.preset, self._api_key, version, call.context.betas, stream=stream)
        return _encode(body), headers

    async def create(self, call: UpstreamCall) -> Message:
        if self._sign_thinking:  # echo reasoning: aimux signs answers and verifies history
            await ensure_provenance_key()
        body, headers = self._request(call, stream=False)
        reply = await self._transport.post(self._messages_url, headers, body, output_tokens=call.request.max_tokens)
        return parse_message(reply.body, self.name, call.request.model, sign_thinking=self._sign_thinking)

    async def stream(self, call: UpstreamCall) -> EventStream:
        if self._sign_thinking:
            await ensure_provenance_key()
        body, headers = self._request(call, stream=True)
        normaliser = StreamNormaliser(self.name, call.request.model, self._sign_thinking)
        parser = SSEParser()
        # aclosing: closing this generator early (client gone) closes the upstream response now.
        async with aclosing(self._transport.stream(self._messages_url, headers, body)) as chunks:
            if call.context.raw_frames and self._relays_frames:  # anthropic_relay.py: bytes after first content
                hides_thinking = call.request.thinking is None or call.request.thinking.type == "disabled"
                async for event in relayed_stream(chunks, normaliser, hides_thinking=hides_thinking):
                    yield event
                await _drain(chunks)
                return
            async for chunk in chunks:
                for sse in parser.feed(chunk):
                    for event in normaliser.feed_sse(sse):
                        yield event
                if normaliser.done:
                    await _drain(chunks)
                    return
            for sse in parser.finish():
                for event in normaliser.feed_sse(sse):
                    yield event
        normaliser.finish()

    async def count_tokens(self, call: UpstreamCall) -> int | None:
        """The upstream's own count (``POST /v1/messages/count_tokens``) when the preset says it has
        one (``preset.count_tokens``: first-party Anthropic), else ``None`` (keep the local estimate).

        ``call.request`` is the count request in a message's shape; its body gets the same treatment as a
        message (reasoning filter, stripped fields, betas with their fields), less what is not counted.
        Raises ``UpstreamError`` when the upstream fails or answers without a count.
        """
        if not self.preset.count_tokens:
            return None
        if self._sign_thinking:
            await ensure_provenance_key()
        body = prepare_thinking(call.request, self.preset.reasoning).dump()
        body["model"] = call.model
        for name in (*_NOT_COUNTED, *self.preset.strip_fields):
            body.pop(name, None)
        if call.context.betas:
            forwarded = forwarded_betas(self.preset, call.context.betas)
            strip_unforwarded_fields(body, call.context.betas, forwarded, self.preset.native_betas)
        version = call.context.anthropic_version or DEFAULT_VERSION
        headers = build_headers(self.preset, self._api_key, version, call.context.betas, stream=False)
        reply = await self._transport.post(self._count_tokens_url, headers, _encode(body))
        try:
            count = json.loads(reply.body)["input_tokens"]
        except (ValueError, KeyError, TypeError):
            count = None
        if not isinstance(count, int):
            raise malformed_answer(self.name, "answered count_tokens without an input_tokens count")
        return count


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows ``message_stop`` (normally only the end of the body), briefly, so the
    connection returns to the pool instead of being closed with unread bytes."""
    with suppress(TimeoutError, UpstreamError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in chunks:
                pass


def _encode(body: dict[str, Any]) -> bytes:
    return compact_json(body)
