"""The one interface every upstream adapter implements.

Contract of a ``Provider``:

- ``create(call)`` returns the complete canonical ``Message`` for ``call.request``.
- ``stream(call)`` returns an async iterator of canonical stream events that follows the Messages
  streaming grammar exactly: one ``message_start`` (with the real input token count), blocks
  strictly one at a time with indexes 0..n, ``message_delta`` with the stop reason and cumulative
  usage, ``message_stop`` last. ``ping`` may appear anywhere.
- Failures raise an ``aimux_core.errors.AimuxError`` (``UpstreamError`` for upstream faults), either
  before the first event or mid-stream; a provider never yields an ``error`` event itself and never
  ends a truncated answer with a clean ``message_stop``.
- Closing the iterator early (``aclose``; a client that went away) cancels the upstream request.
- ``call.model`` is the upstream model id; the response's ``model`` is the one the client asked for
  (``call.request.model``), because clients such as Claude Code compare it.
- ``call.request.max_tokens`` is already at most the target model's configured ``max_output``
  (``routing.dispatch.upstream_call``), whatever the client asked for (Claude Code asks for 128000, and
  most models reject ``max_tokens`` above their output limit); adapters add their preset's cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..wire.anthropic import EventStream, Message, MessagesRequest

if TYPE_CHECKING:
    from ..presets import CacheTtl, PromptCaching
    from ..translate.openai_stream_encode import ChunkForm


@dataclass(slots=True)
class RequestContext:
    """What the surface learned from the HTTP request, beyond the body."""

    request_id: str
    api_key: str | None = None
    anthropic_version: str | None = None
    betas: list[str] = field(default_factory=list)
    session_id: str | None = None
    key: Any = None  # the caller's ``ApiKeyRecord`` (None when auth is off); never the key itself
    project: Any = None  # the ``Project`` whose limits apply to the key's requests (None: none)
    # The serving route's prompt-caching settings, set by the gateway once the request is routed
    # (None: the route has no opinion; ``providers/prompt_cache.py`` combines them with the provider's).
    prompt_caching: PromptCaching | None = None
    prompt_cache_ttl: CacheTtl | None = None
    # The gateway's input-token estimate of the routed request: ``estimate_input_tokens`` of the request
    # every attempt is given (None: not routed by the gateway, the adapter estimates it itself).
    input_estimate: int | None = None
    # The surface writes ``wire.raw_frames.RawFrames`` as they are (an Anthropic client that gets every
    # event the upstream sends): a same-dialect adapter may then relay frames instead of events.
    raw_frames: bool = False
    # The chat surface's chunk form, set for an OpenAI client's stream it writes ``RawFrames`` of as they
    # are: an OpenAI-dialect adapter may then write its plain text chunks itself (``openai_relay.py``).
    chat_form: ChunkForm | None = None


@dataclass(slots=True)
class UpstreamCall:
    """One attempt against one provider: the canonical request and the upstream model to use."""

    request: MessagesRequest
    model: str
    context: RequestContext
    cache_min_tokens: int | None = None  # the catalog's minimum cacheable prompt length for this model


def with_max_tokens(request: MessagesRequest, limit: int) -> MessagesRequest:
    """A copy of ``request`` with ``max_tokens = limit``; an ``enabled`` thinking budget stays below
    it (Anthropic requires ``budget_tokens < max_tokens``)."""
    update: dict[str, Any] = {"max_tokens": limit}
    thinking = request.thinking
    if thinking is not None and thinking.budget_tokens is not None and thinking.budget_tokens >= limit:
        update["thinking"] = thinking.model_copy(update={"budget_tokens": max(limit - 1, 0)})
    return request.model_copy(update=update)


class Provider(Protocol):
    """An upstream that answers canonical requests (see the module docstring for the contract)."""

    name: str

    async def create(self, call: UpstreamCall) -> Message: ...

    def stream(self, call: UpstreamCall) -> EventStream: ...
