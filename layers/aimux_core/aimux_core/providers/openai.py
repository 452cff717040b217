"""The ``openai`` dialect: any Chat Completions upstream (``POST {base}/chat/completions``) behind one adapter.

OpenAI, OpenRouter, Cerebras, Groq, Gemini, DeepSeek's OpenAI API, Ollama, vLLM or any base URL: what
differs between them is data in the preset (``ProviderPreset.chat``, ``schema_profile``, ``reasoning``,
``supports_images``, ``extra_headers``), never a branch here on the provider's name.

Contract, and the reasons behind the parts that are not obvious:

- The request is the canonical one mapped by ``translate.openai_upstream.messages_to_chat``, with
  ``max_tokens`` clamped to the smallest limit known for the model (Claude Code asks for up to 128k;
  most models 400 above their output limit) and tool schemas cleaned per ``schema_profile`` (Gemini and
  Cerebras 400 on keywords Claude Code always sends). Reasoning of earlier turns goes back only to
  ``echo`` upstreams, which 400 without it; Gemini tool calls carry their thought signatures.
- Images sent to an upstream that cannot see them are a 400 naming the block, never dropped: the model
  would answer about a picture it never saw.
- ``prompt_cache_key`` from the session (``prompt_cache``) when the preset takes one (OpenAI) and the
  route's and provider's ``prompt_caching`` allow it, so a session's turns reach the upstream machine
  that holds its cached prefix.
- Streams always ask for usage (``stream_options.include_usage``, unless the preset says the upstream
  rejects it) and for ``accept-encoding: identity`` (the transport yields the raw body).
- The answer is canonical: reasoning becomes a thinking block signed by aimux so it can be echoed later;
  shortened tool names are restored. An error object in a 200 body is that upstream error; a body that
  breaks the schema is ``malformed_answer``, a retryable fault; a stream that ends before its
  ``finish_reason`` or carries an error chunk raises, so a broken stream never ends in a clean
  ``message_stop``. Closing the stream closes the upstream response.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import httpx

from ..accounting.tokens import estimate_input_tokens
from ..errors import InvalidRequest
from ..presets import ProviderPreset
from ..translate.client_thinking import thinking_enabled
from ..translate.openai_response import chat_completion_to_message, upstream_error
from ..translate.openai_stream_decode import ChatChunkDecoder
from ..translate.openai_upstream import messages_to_chat
from ..translate.provenance_key import ensure_provenance_key
from ..translate.thinking import prepare_thinking, sign_reasoning
from ..translate.upstream_errors import PARSE_FAULTS, excerpt, malformed_answer
from ..wire.anthropic import EventStream, ImageBlock, Message, MessagesRequest, StreamEvent, ToolResultBlock
from ..wire.json_bytes import compact_json
from ..wire.sse import aiter_sse
from .base import UpstreamCall
from .http_adapter import DEFAULT_TIMEOUTS, HttpAdapter, auth_headers
from .openai_relay import AnthropicPieces, ChatPieces, ChunkRelay, PieceFrames, relayed_events
from .prompt_cache import prompt_cache_key, wants_cache_key
from .schema_cleaning import clean_schema
from .transport import Timeouts

_GEMINI_SKIP = {"google": {"thought_signature": "skip_thought_signature_validator"}}
_HEAD_BYTES = 65_536  # kept while no event has arrived, to explain a body that is not a stream


class OpenAIProvider(HttpAdapter):
    """A Chat Completions upstream as a ``Provider`` (see ``providers.base`` for the contract)."""

    def __init__(
        self,
        name: str,
        preset: ProviderPreset,
        api_key: str | None,
        *,
        base_url: str | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        client: httpx.AsyncClient | None = None,
        max_tokens_limit: int | None = None,
        model_limits: Mapping[str, int] | None = None,
    ) -> None:
        """``name`` is the configured provider name (errors, signatures); ``base_url`` overrides the
        preset's (self-hosted servers); ``max_tokens_limit`` caps every model's output and
        ``model_limits`` the output of individual upstream model ids (the catalog's ``max_output``)."""
        super().__init__(name, preset, api_key, base_url=base_url, timeouts=timeouts, client=client)
        self.url = self.base_url + "/chat/completions"
        limits = [n for n in (preset.chat.max_tokens_limit, preset.max_tokens_cap, max_tokens_limit) if n]
        chat = preset.chat
        if preset.reasoning == "echo" and chat.reasoning_echo_field is None:
            # a configured ``reasoning: echo`` (Kimi, GLM over this dialect): the field they all read
            chat = replace(chat, reasoning_echo_field="reasoning_content")
        self.options = replace(chat, max_tokens_limit=min(limits)) if limits else chat
        self._model_options = {
            model: replace(self.options, max_tokens_limit=min(limit, self.options.max_tokens_limit or limit))
            for model, limit in (model_limits or {}).items()
            if limit
        }
        self._sign = partial(sign_reasoning, name)  # reasoning from this dialect always comes unsigned
        headers = {"content-type": "application/json", **auth_headers(preset.auth, api_key), **preset.extra_headers}
        self._json_headers = {**headers, "accept": "application/json"}
        # identity: HttpTransport streams raw body bytes, so a gzip-compressed event stream would be unreadable
        self._sse_headers = {**headers, "accept": "text/event-stream", "accept-encoding": "identity"}

    @property
    def headers(self) -> dict[str, str]:
        """Headers of a JSON call, the key included (``jobs/native/openai.py`` sends them, never logs them)."""
        return dict(self._json_headers)

    def parse_answer(self, data: dict[str, Any], client_model: str, tool_names: list[str]) -> Message:
        """A ``chat.completion`` of this upstream (a batch output line's body) as canonical, as ``create`` does."""
        try:
            return chat_completion_to_message(
                data, model=client_model, tool_names=tool_names, provider=self.name, signer=self._sign
            )
        except PARSE_FAULTS as exc:
            raise malformed_answer(self.name, "answered with a malformed chat.completion", exc) from None

    # ------------------------------------------------------------------ Provider

    async def create(self, call: UpstreamCall) -> Message:
        await ensure_provenance_key()  # any reasoning in the answer gets an aimux signature
        body, names = self.build_body(call.request, call.model, stream=False, cache_key=self._cache_key(call))
        reply = await self._transport.post(self.url, self._json_headers, body, output_tokens=call.request.max_tokens)
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise malformed_answer(self.name, f"returned a body that is not a JSON object: {excerpt(reply.body)}")
        try:
            return chat_completion_to_message(
                data, model=call.request.model, tool_names=names, provider=self.name, signer=self._sign
            )
        except PARSE_FAULTS as exc:  # a part of the wrong type somewhere in the answer
            raise malformed_answer(self.name, "answered with a malformed chat.completion", exc) from None

    async def stream(self, call: UpstreamCall) -> EventStream:
        await ensure_provenance_key()
        body, names = self.build_body(call.request, call.model, stream=True, cache_key=self._cache_key(call))
        decoder = ChatChunkDecoder(
            model=call.request.model,
            input_tokens=_input_estimate(call),
            provider=self.name,
            tool_names=names,
            signer=self._sign,
        )
        reader = _Reader(decoder, self._chunk, self.name)
        raw = self._transport.stream(self.url, self._sse_headers, body)
        head = bytearray()
        tapped = _tap(raw, head)
        pieces = self._pieces(call)
        relayed = None
        if pieces is not None:  # openai_relay.py: plain text chunks written in the client's form without events
            relayed = relayed_events(tapped, ChunkRelay(reader, pieces))
        events = aiter_sse(tapped)
        try:
            if relayed is not None:
                async for event in relayed:
                    yield event
            else:
                async for sse in events:
                    for event in reader.feed(sse.data):
                        yield event
                    if reader.ended:
                        break
            if not reader.ended and not reader.seen and head.strip():
                self._raise_not_a_stream(bytes(head))
            try:
                closing = decoder.finish()
            except PARSE_FAULTS as exc:  # e.g. a usage object of the wrong shape, read only at the end
                raise malformed_answer(self.name, "sent a malformed chat.completion.chunk", exc) from None
            for event in closing:
                yield event
        finally:
            if relayed is not None:
                await relayed.aclose()
            await events.aclose()
            await tapped.aclose()
            await raw.aclose()

    def _pieces(self, call: UpstreamCall) -> PieceFrames | None:
        """How this stream's plain pieces may be relayed (``openai_relay.py``); None: every chunk an event."""
        form = call.context.chat_form
        if form is not None:  # an OpenAI client
            # thinking stays events when the gateway keeps it for an echo provider's tool loop (reasoning.py)
            return ChatPieces(form, thinking=not (self.preset.reasoning == "echo" and call.request.tools))
        if call.context.raw_frames:  # an Anthropic client
            return AnthropicPieces(hides_thinking=not thinking_enabled(call.request))
        return None

    # ------------------------------------------------------------------ request

    def _cache_key(self, call: UpstreamCall) -> str | None:
        """The ``prompt_cache_key`` of this attempt, when the preset takes one (``prompt_cache``)."""
        return prompt_cache_key(call.request, call.context) if wants_cache_key(call, self.preset) else None

    def build_body(
        self, request: MessagesRequest, model: str, *, stream: bool, cache_key: str | None = None
    ) -> tuple[bytes, list[str]]:
        """The upstream request body as bytes, and the canonical tool names (to undo shortening)."""
        if not self.preset.supports_images:
            self._refuse_images(request)
        request = prepare_thinking(request, self.preset.reasoning)
        stripped = {f: None for f in self.preset.strip_fields if getattr(request, f, None) is not None}
        if stripped:
            request = request.model_copy(update=stripped)
        options = self._model_options.get(model, self.options)
        body = messages_to_chat(request, model=model, options=options)
        body.pop("stream_options", None)
        if stream:
            body["stream"] = True
            if options.stream_usage:
                body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream", None)
        field = options.max_tokens_field
        if body.get(field) == 0:
            body[field] = 1
        profile = self.preset.schema_profile
        if profile != "none":
            for tool in body.get("tools") or ():
                function = tool["function"]
                if isinstance(function.get("parameters"), dict):
                    function["parameters"] = clean_schema(function["parameters"], profile)
            fmt = body.get("response_format")
            if fmt and fmt.get("type") == "json_schema" and isinstance(fmt["json_schema"].get("schema"), dict):
                fmt["json_schema"]["schema"] = clean_schema(fmt["json_schema"]["schema"], profile)
        if profile == "gemini":
            _skip_thought_signatures(body["messages"])
        if cache_key is not None:
            body["prompt_cache_key"] = cache_key
        names = [tool.name for tool in request.tools or ()]
        return compact_json(body), names

    def _refuse_images(self, request: MessagesRequest) -> None:
        """A 400 naming the first image block: this upstream cannot see images."""
        for i, turn in enumerate(request.messages):
            if isinstance(turn.content, str):
                continue
            for j, block in enumerate(turn.content):
                where = None
                if isinstance(block, ImageBlock):
                    where = f"messages[{i}].content[{j}]"
                elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                    for k, item in enumerate(block.content):
                        if isinstance(item, ImageBlock):
                            where = f"messages[{i}].content[{j}].content[{k}]"
                            break
                if where is not None:
                    raise InvalidRequest(
                        f"{where}: provider {self.name!r} does not accept images; remove the image block "
                        "or route this request to a model that supports vision",
                        param=where,
                    )

    # ------------------------------------------------------------------ response

    def _chunk(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            raise malformed_answer(self.name, f"sent a stream event that is not a JSON object: {excerpt(data)}")
        return chunk

    def _raise_not_a_stream(self, head: bytes) -> None:
        """A 200 body without a single SSE event: an error object, or something else entirely."""
        try:
            data = json.loads(head)
        except ValueError:
            data = None
        if isinstance(data, dict) and (data.get("error") or data.get("object") == "error"):
            raise upstream_error(data, self.name)
        raise malformed_answer(self.name, f"answered a streaming request without an event stream: {excerpt(head)}")


def _input_estimate(call: UpstreamCall) -> int:
    """The request's input-token estimate: the gateway's when it routed the call (the same request), else made here."""
    estimate = call.context.input_estimate
    return estimate_input_tokens(call.request) if estimate is None else estimate


def _skip_thought_signatures(messages: list[dict[str, Any]]) -> None:
    """Gemini 3 400s on a replayed tool call without its ``thought_signature``: a call that did not
    come from Gemini (no signature of its own) carries Google's documented opt-out sentinel."""
    for message in messages:
        for tool_call in message.get("tool_calls") or ():
            tool_call.setdefault("extra_content", _GEMINI_SKIP)


class _Reader:
    """The payloads of one upstream stream, in order, as events (both paths read every chunk they do
    not relay here): ``[DONE]`` ends it, anything but a JSON object or a chunk of the wrong shape is
    ``malformed_answer``. ``seen``: a payload came (else a body that is not a stream is explained)."""

    __slots__ = ("decoder", "ended", "parse", "provider", "seen")

    def __init__(self, decoder: ChatChunkDecoder, parse: Callable[[str], dict[str, Any]], provider: str) -> None:
        self.decoder = decoder
        self.parse = parse
        self.provider = provider
        self.ended = False
        self.seen = False

    def feed(self, data: str, parsed: dict[str, Any] | None = None) -> list[StreamEvent]:
        """The events of one ``data:`` payload; ``parsed``: its JSON object, when the caller read it already."""
        if not data:
            return []
        if data == "[DONE]":
            self.ended = True
            return []
        self.seen = True
        try:
            return self.decoder.feed(self.parse(data) if parsed is None else parsed)
        except PARSE_FAULTS as exc:  # a part of the wrong type somewhere in the chunk
            raise malformed_answer(self.provider, "sent a malformed chat.completion.chunk", exc) from None


async def _tap(chunks: AsyncIterator[bytes], head: bytearray) -> AsyncGenerator[bytes, None]:
    """Pass ``chunks`` through, keeping the first ``_HEAD_BYTES`` in ``head``."""
    async for chunk in chunks:
        if len(head) < _HEAD_BYTES:
            head += chunk[: _HEAD_BYTES - len(head)]
        yield chunk
