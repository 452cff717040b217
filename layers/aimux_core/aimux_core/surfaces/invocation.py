"""On Lambda, a request's state writes finish inside its own invocation.

The gateway writes breaker outcomes, token settlements and spend in the background so that a client
never waits for them. On a server that is free; on Lambda it is not: the invocation ends with the
response, and the execution environment may then be frozen (the writes resume at the next request,
late) or reclaimed (they never happen: a counter silently dropped). So on Lambda this middleware
holds back the *end* of each response until the gateway's pending writes are done:

- a JSON answer's single body message waits for them (the writes were started while it was built,
  so the wait is what is left of one DynamoDB round trip, not a new one);
- a stream's closing empty body message waits for them, after the client already has every event,
  ``message_stop`` / ``[DONE]`` included;
- under Mangum (buffered function) the app returns only after that last message, so the handler
  returns after the writes too.

The wait is bounded (``DRAIN_SECONDS``; the store's own timeouts end each write sooner) and a failed
write was already handled by the state-failure policy, so the response always ends.
Elsewhere (``aimux serve``, tests) nothing is wrapped (``Settings.finishes_writes_in_request``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from ..gateway import Gateway

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


class FinishWritesInRequest:
    """ASGI middleware: the last body message of each HTTP response waits for the gateway's writes."""

    def __init__(self, app: ASGIApp, gateway: Callable[[], Gateway | None]) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_after_writes(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._drain()
            await send(message)

        await self.app(scope, receive, send_after_writes)

    async def _drain(self) -> None:
        gateway = self.gateway()
        if gateway is None:
            return
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await gateway.drain()
        except TimeoutError:
            log.error("state writes still pending after %.0f s: the response ends without them", DRAIN_SECONDS)
