"""One client request from arrival to its log line, the part both dialects share.

The Anthropic and OpenAI surfaces differ only in how they parse, translate and encode; ``serve`` runs
the rest around a surface's ``handle``: the ids and timer (``Exchange``), the error answer in the
caller's dialect for anything raised, and the record of every request, answered or not. Inside
``handle`` a surface calls:

- ``Exchange.authenticate`` first, before the body is read: an anonymous caller gets its 401 without
  reaching the parser (as Anthropic and OpenAI answer). Only the key's id is kept, never the key;
- ``Exchange.check_model`` once the body names a model (the key's allow-list; no round trip);
- ``Exchange.answer`` for a complete answer, or ``Exchange.stream`` for an event stream. Both settle
  the cost (spend and token windows are written in the background) and publish the record; a stream
  does so when it ends for any reason (done, failed, client gone). ``stream`` is the one entry of
  every streamed answer: the surface gives it a ``StreamEncoder`` for its dialect's frames.

Every record published is also counted fleet-wide (``accounting/counters.py``: usage, and error answers),
in the background, except a request whose key was refused: a caller without a valid key must not be
able to turn a flood of requests into a flood of writes (its log line and metrics still count it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import Response

from ..accounting.metrics import Emission
from ..accounting.record import RequestRecord, RequestTimer, StreamTally, Surface, cost_header
from ..accounting.request_log import lambda_ids
from ..errors import AimuxError
from ..wire.anthropic import EventStream, StreamEvent, Usage
from .coalesce import coalesced
from .http import (
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    api_key_of,
    gateway_of,
    json_response,
    new_request_id,
    served_headers,
    unexpected_error,
)
from .recording import publish, record_failed, record_served
from .sse_response import SseResponse

if TYPE_CHECKING:
    from ..accounting.record import RequestRecord
    from ..gateway import Gateway, Served
    from ..keys.record import ApiKeyRecord
    from ..keys.ring import KeyRing
    from ..limits.project import Project
    from ..limits.windows import RateDecision
    from ..providers.base import RequestContext

ErrorResponse = Callable[[AimuxError, str], Response]


class StreamEncoder(Protocol):
    """A dialect's SSE frames for one stream (``messages._AnthropicFrames``, ``chat._ChatFrames``)."""

    def frames(self, event: StreamEvent) -> Iterable[bytes]:
        """The frames of one canonical event (none, one or several)."""
        ...

    def closing(self) -> Iterable[bytes]:
        """The frames after the last event of a stream that ended well."""
        ...

    def error_frame(self, error: AimuxError) -> bytes:
        """The frame that ends a stream that failed after its headers were sent."""
        ...


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
    from ..keys.ring import authenticate_request  # the ring's module loads with the ring, when auth is on

    return await authenticate_request(keys, api_key_of(request))


async def serve(
    request: Request, surface: Surface, handle: Callable[[Exchange], Awaitable[Response]], error: ErrorResponse
) -> Response:
    """``handle``'s response, or ``error``'s for whatever it raised (a 500 quoting the request id for a
    bug); the record of a refused or failed request is published here."""
    exchange = Exchange(request, surface)
    try:
        return await handle(exchange)
    except AimuxError as failure:
        exchange.failed(failure)
        return error(failure, exchange.request_id)
    except Exception as exc:
        bug = unexpected_error(exc, exchange.request_id)
        exchange.failed(bug)
        return error(bug, exchange.request_id)


def off_path_exchanges(emission: Emission) -> Callable[[Surface, str], Exchange]:
    """Exchanges for work off the request path (``jobs/``: batch requests, async jobs; ``jobs.ledger.Ledgers``),
    publishing with ``emission``."""

    def exchange(surface: Surface, request_id: str) -> Exchange:
        return Exchange(None, surface, request_id=request_id, emission=emission)

    return exchange


class Exchange:
    """``request`` None: work off the request path (a batch request, an async job) that is still
    settled, counted and logged exactly like a live answer; it names its own ``request_id`` and the
    process's ``emission`` (where metrics go)."""

    def __init__(
        self,
        request: Request | None,
        surface: Surface,
        *,
        request_id: str | None = None,
        emission: Emission | None = None,
    ) -> None:
        self.request = request
        self.surface: Surface = surface
        self.request_id = request_id or new_request_id()
        self.timer = RequestTimer()
        self.key: ApiKeyRecord | None = None
        self.project: Project | None = None
        self.client_model: str | None = None
        self._ids = lambda_ids(request.scope) if request is not None else (None, None)
        app_emission = getattr(request.app.state, "emission", None) if request is not None else None
        self._emission: Emission = emission or app_emission or Emission()

    @property
    def http(self) -> Request:
        """The HTTP request being served (the surfaces' exchanges always have one)."""
        assert self.request is not None, "an exchange off the request path has no HTTP request"
        return self.request

    async def authenticate(self) -> ApiKeyRecord | None:
        """The caller's key record (None when auth is off), kept for the log line and spend, and its
        project's limits (from the ring's directory: no read once warm); see ``authenticate``."""
        self.key = await authenticate(self.http)
        if self.key is not None and self.key.project:
            from ..keys.ring import project_of  # with the ring: only when auth is on

            keys = _keys_of(self.http)
            self.project = await project_of(keys, self.key) if keys is not None else None
        return self.key

    def bind(self, context: RequestContext) -> None:
        """Put the caller's key and project on the request's context, for admission."""
        context.key = self.key
        context.project = self.project

    def check_model(self, model: str) -> None:
        """403 unless the caller's key may use ``model`` (its allow-list; nothing to check when auth is off)."""
        if self.key is not None:
            from ..keys.ring import check_model  # with the ring: only when auth is on

            check_model(self.key, model)

    def answer(self, gateway: Gateway, served: Served, usage: Usage, body: str | bytes | dict[str, object]) -> Response:
        """The JSON answer: settled, published, with the headers of the target, the cost and the rate windows."""
        record = self.settled(gateway, served, usage)
        headers = {**served_headers(self.request_id, served), **self._ratelimit_headers(served), **cost_header(record)}
        return json_response(body, 200, headers)

    def settled(self, gateway: Gateway, served: Served, usage: Usage) -> RequestRecord:
        """Settle a complete answer's cost and publish its record (``answer``; work off the request path,
        which renders its own answer)."""
        cost = gateway.settle(served, usage)
        record = record_served(
            request_id=self.request_id,
            surface=self.surface,
            served=served,
            timer=self.timer,
            usage=usage,
            cost_usd=cost,
            key_id=self._key_id,
            project=self._project,
            client_model=self.client_model,
            ids=self._ids,
        )
        publish(record, self._emission)
        self._count(gateway, record)
        return record

    def stream(self, gateway: Gateway, served: Served, events: EventStream, encoder: StreamEncoder) -> Response:
        """The SSE answer of ``events`` in ``encoder``'s dialect; settled and published when it ends.

        Its cost is known only at the end, so it has no cost header. Frames ready together leave in one
        send (``coalesce.py``); the body is cancelled when the client leaves (``sse_response.py``).
        """
        headers = {**SSE_HEADERS, **served_headers(self.request_id, served), **self._ratelimit_headers(served)}
        tally = StreamTally(self.timer)
        body = self._encode(events, encoder, tally, lambda: self._stream_finished(gateway, served, tally))
        return SseResponse(coalesced(body), media_type=SSE_MEDIA_TYPE, headers=headers)

    def failed(self, error: AimuxError) -> None:
        """Publish the record of an error answer; a refusal by aimux's own limits gets the window headers."""
        from ..limits.windows import RateLimitExceeded  # refusals are rare: the module loads with the limiter

        if isinstance(error, RateLimitExceeded):
            from ..limits.headers import ratelimit_headers  # as above: only for refused keys

            error.headers.update(ratelimit_headers(self.surface, error.decision))
        record = record_failed(
            request_id=self.request_id,
            surface=self.surface,
            error=error,
            timer=self.timer,
            key_id=self._key_id,
            project=self._project,
            client_model=self.client_model,
            ids=self._ids,
        )
        publish(record, self._emission)
        # Counted unless the key was refused (see the module docstring). Work off the request path (no HTTP
        # request, no app to find the gateway in) is not: its failures stay with its job or batch (jobs/).
        if self.request is not None and (self.key is not None or _keys_of(self.request) is None):
            self._count(self._gateway(), record, error.message)

    async def _encode(
        self, events: EventStream, encoder: StreamEncoder, tally: StreamTally, finished: Callable[[], None]
    ) -> AsyncIterator[bytes]:
        """Frames of every event, then the closing ones; a failure mid-stream ends it with one error frame
        (one that is aimux's own fault quotes the request id of the response's headers)."""
        try:
            async for event in events:
                tally.observe(event)
                for frame in encoder.frames(event):
                    yield frame
            for frame in encoder.closing():
                yield frame
        except AimuxError as error:
            tally.fail(error.kind)
            yield encoder.error_frame(error)
        except Exception as exc:
            tally.fail("api_error")
            yield encoder.error_frame(unexpected_error(exc, self.request_id))
        finally:
            await events.aclose()
            finished()

    def _stream_finished(self, gateway: Gateway, served: Served, tally: StreamTally) -> None:
        """Settle what the stream used (also when it broke or the client left) and publish its record."""
        counts = tally.tokens
        usage = Usage(
            input_tokens=counts.input,
            output_tokens=counts.output,
            cache_read_input_tokens=counts.cache_read,
            cache_creation_input_tokens=counts.cache_write,
        )
        cost = gateway.settle(served, usage)
        record = record_served(
            request_id=self.request_id,
            surface=self.surface,
            served=served,
            timer=self.timer,
            tokens=counts,
            cost_usd=cost,
            stream=True,
            error_kind=tally.error_kind,
            key_id=self._key_id,
            project=self._project,
            client_model=self.client_model,
            ids=self._ids,
        )
        publish(record, self._emission)
        self._count(gateway, record)

    @property
    def _key_id(self) -> str | None:
        return self.key.id if self.key is not None else None

    @property
    def _project(self) -> str | None:
        """The project the caller's key names (its usage is counted under it, also once the project is gone)."""
        return self.key.project if self.key is not None else None

    def _gateway(self) -> Gateway | None:
        """The app's gateway for counting a failure (built now if this request failed before needing it)."""
        try:
            return gateway_of(self.http)
        except Exception:  # the gateway cannot be built (bad configuration): nothing to count with
            return None

    @staticmethod
    def _count(gateway: Gateway | None, record: RequestRecord, message: str | None = None) -> None:
        counters = gateway.counters if gateway is not None else None
        if counters is not None:
            counters.count(record, message=message)

    def _ratelimit_headers(self, served: Served) -> dict[str, str]:
        decision: RateDecision | None = served.admitted.rate
        if decision is None:
            return {}
        from ..limits.headers import ratelimit_headers  # only for keys with limits

        return ratelimit_headers(self.surface, decision)
