"""The gateway service: one canonical request in, one canonical answer (or event stream) out.

Surfaces translate the caller's dialect to a canonical ``MessagesRequest`` and hand it here;
this object resolves the target, calls the provider and reports which target served. It holds
no per-request state, so one instance serves every request of a process (and every invocation
of a warm Lambda container).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from .errors import InternalError, NotFound
from .providers.base import Provider, RequestContext, UpstreamCall
from .routing.catalog import MOCK_MODEL, Catalog
from .routing.router import Router, Target
from .wire.anthropic import Message, MessagesRequest, StreamEvent


@dataclass(slots=True)
class OpenStream:
    """A stream whose first event already arrived: failures before it were raised, not streamed."""

    events: AsyncIterator[StreamEvent]
    target: Target


class Gateway:
    def __init__(self, providers: Mapping[str, Provider], router: Router) -> None:
        self.providers = dict(providers)
        self.router = router

    @property
    def catalog(self) -> Catalog:
        return self.router.catalog

    def resolve(self, request: MessagesRequest) -> Target:
        return self.router.resolve(request.model)

    def _provider(self, target: Target) -> Provider:
        provider = self.providers.get(target.provider)
        if provider is None:
            raise NotFound(f"model: provider {target.provider!r} is not configured", param="model")
        return provider

    async def create(self, request: MessagesRequest, context: RequestContext) -> tuple[Message, Target]:
        target = self.resolve(request)
        call = UpstreamCall(request=request, model=target.model, context=context)
        message = await self._provider(target).create(call)
        return message, target

    async def open_stream(self, request: MessagesRequest, context: RequestContext) -> OpenStream:
        """Start the upstream stream and wait for its first event.

        Waiting for the first event means a provider that fails at once produces a proper HTTP
        error status instead of a 200 followed by an error event.
        """
        target = self.resolve(request)
        call = UpstreamCall(request=request, model=target.model, context=context)
        upstream = self._provider(target).stream(call)
        try:
            first = await anext(upstream)
        except StopAsyncIteration:
            raise InternalError(f"provider {target.provider!r} returned an empty stream") from None
        except BaseException:
            await upstream.aclose()  # type: ignore[attr-defined]
            raise
        return OpenStream(_prepend(first, upstream), target)


async def _prepend(first: StreamEvent, rest: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        await rest.aclose()  # type: ignore[attr-defined]


def build_default_gateway() -> Gateway:
    """The local gateway with no provider configured: every model name is served by the mock."""
    from .providers.mock import MockProvider

    catalog = Catalog([MOCK_MODEL])
    return Gateway({"mock": MockProvider()}, Router(catalog, MOCK_MODEL.id))
