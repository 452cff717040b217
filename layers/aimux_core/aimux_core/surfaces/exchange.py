"""One client request from arrival to its log line: ids, timing, the caller's key, accounting.

Both surfaces (Anthropic and OpenAI) serve a request the same way around their dialect-specific
middle; this object holds that shared bookkeeping so each surface stays a thin translation:

- ``authenticate`` checks the virtual key (``AIMUX_AUTH``; none when off) and keeps its id, never
  the key, for the log line and spend. Surfaces call it first, before the body is read: an
  anonymous caller gets its 401 without ever reaching the parser (as Anthropic and OpenAI answer);
  ``admit_model`` then checks the parsed body's model against the key's allow-list (no round trip);
- ``answered`` / ``stream_finished`` settle the cost (spend and token windows are written in the
  background), publish the metrics and the log line, and give the headers that carry the cost and
  the caller's rate-limit windows;
- ``failed`` publishes the record of a request that got an error answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from starlette.requests import Request

from ..accounting.record import (
    RequestTimer,
    StreamTally,
    cost_header,
    publish,
    record_failed,
    record_served,
)
from ..accounting.request_log import lambda_ids
from ..wire.anthropic import Usage
from .http import api_key_of, new_request_id

if TYPE_CHECKING:
    from ..errors import AimuxError
    from ..gateway import Gateway, Served
    from ..keys.record import ApiKeyRecord
    from ..keys.ring import KeyRing

Surface = Literal["anthropic", "openai"]


def _keys_of(request: Request) -> KeyRing | None:
    """The app's key ring (None: auth off), built on first use when the app asked for one lazily."""
    state = request.app.state
    keys: KeyRing | None = getattr(state, "keys", None)
    if keys is None and getattr(state, "build_keys", None) is not None:
        keys = state.keys = state.build_keys()
    return keys


async def authenticate(request: Request) -> ApiKeyRecord | None:
    """The caller's key record, None when auth is off; 401/403 (529 on a store outage) as ``AimuxError``s.

    Reads headers only (one key lookup at most, none while cached): every client route calls it
    before touching the body.
    """
    keys = _keys_of(request)
    if keys is None:
        return None
    from ..keys.ring import authenticate_request

    return await authenticate_request(keys, api_key_of(request))


class Exchange:
    """``request`` None: work off the request path (a batch request, an async job) that is still
    settled, counted and logged exactly like a live answer; it names its own ``request_id``."""

    def __init__(self, request: Request | None, surface: Surface, *, request_id: str | None = None) -> None:
        self.request = request
        self.surface: Surface = surface
        self.request_id = request_id or new_request_id()
        self.timer = RequestTimer()
        self.key: ApiKeyRecord | None = None
        self.client_model: str | None = None
        self._ids = lambda_ids(request.scope) if request is not None else (None, None)

    async def authenticate(self) -> ApiKeyRecord | None:
        """The caller's key record (None when auth is off), kept for the log line and spend; see ``authenticate``."""
        assert self.request is not None
        self.key = await authenticate(self.request)
        return self.key

    def admit_model(self, model: str) -> None:
        """403 unless the caller's key may use ``model`` (its allow-list; nothing to check when auth is off)."""
        if self.key is not None:
            from ..keys.ring import check_model

            check_model(self.key, model)

    def answered(self, gateway: Gateway, served: Served, usage: Usage) -> dict[str, str]:
        """Settle and publish a complete answer; the headers for the cost and rate-limit windows."""
        cost = gateway.settle(served, usage)
        record = record_served(
            **self._common(), served=served, timer=self.timer, usage=usage, cost_usd=cost
        )
        publish(record)
        return {**self._ratelimit_headers(served), **cost_header(record)}

    def started_stream(self, served: Served) -> dict[str, str]:
        """Headers for a stream (its cost is known only at the end, so it has no cost header)."""
        return self._ratelimit_headers(served)

    def stream_finished(self, gateway: Gateway, served: Served, tally: StreamTally) -> None:
        """Settle what the stream used (also when it broke or the client left) and publish its record."""
        counts = tally.tokens
        usage = Usage(
            input_tokens=counts.input,
            output_tokens=counts.output,
            cache_read_input_tokens=counts.cache_read,
            cache_creation_input_tokens=counts.cache_write,
        )
        cost = gateway.settle(served, usage)
        publish(
            record_served(
                **self._common(), served=served, timer=self.timer, tokens=counts, cost_usd=cost,
                stream=True, error_kind=tally.error_kind,
            )
        )

    def failed(self, error: AimuxError) -> None:
        """Publish the record of an error answer; a refusal by aimux's own limits gets the window headers."""
        from ..state.ratelimit import RateLimitExceeded

        if isinstance(error, RateLimitExceeded):
            from ..accounting.ratelimit_headers import ratelimit_headers

            error.headers.update(ratelimit_headers(self.surface, error.decision))
        publish(record_failed(**self._common(), error=error, timer=self.timer))

    def _common(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "surface": self.surface,
            "ids": self._ids,
            "key_id": self.key.id if self.key is not None else None,
            "client_model": self.client_model,
        }

    def _ratelimit_headers(self, served: Served) -> dict[str, str]:
        decision = served.admitted.rate
        if decision is None:
            return {}
        from ..accounting.ratelimit_headers import ratelimit_headers

        return ratelimit_headers(self.surface, decision)
