"""Behaviour shared by every fake upstream: the script queue, the request log, and playing a
scripted item (reply or fault) onto the wire.

Each dialect subclass only renders: a :class:`~fakes.script.Reply` into a JSON body or a list of
stream frames, an HTTP error into its error shape, a mid-stream error into its error event.
Faults are applied here, uniformly, on top of those renderings, so "reset after 3 events" means
the same thing for SSE and for AWS event-stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, ClassVar, Self

from fakes import sse
from fakes.httpserver import LoopbackHTTPServer, RecordedRequest, Response
from fakes.prompt_cache import CacheBlock, PromptCacheModel, TooManyBreakpoints
from fakes.script import CREDENTIAL, Fault, FaultKind, Item, Quirk, Reply, ReplyQueue

Endpoint = Callable[[RecordedRequest, Response], Awaitable[None]]
Renderer = Callable[[Reply, RecordedRequest, bool], "Rendered"]


@dataclass
class Rendered:
    """A response ready to send: one body (``streaming=False``) or stream frames (chunked)."""

    status: int
    headers: dict[str, str]
    frames: list[bytes]
    streaming: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def all_headers(self) -> dict[str, str]:
        return {**self.headers, **self.extra_headers}


class FakeUpstream(ABC):
    """A scripted provider on a free loopback port. Use as a context manager (or the pytest
    fixtures in :mod:`fakes.fixtures`); ``enqueue`` replies/faults; read ``requests``."""

    dialect: ClassVar[str] = ""
    supported_quirks: ClassVar[frozenset[Quirk]] = frozenset()
    invalid_request_type: ClassVar[str] = "invalid_request_error"  # the dialect's 400 error type

    def __init__(self, *, default: Reply | None = None, strict: bool = True,
                 prompt_cache: PromptCacheModel | None = None) -> None:
        self.queue = ReplyQueue(default or Reply())
        self.strict = strict  # reject requests the real API would reject (missing fields/headers)
        # Bill input like Anthropic's prompt cache: each answer's usage comes from the request's prefixes
        self.prompt_cache = prompt_cache
        self.requests: list[RecordedRequest] = []
        self._server = LoopbackHTTPServer(self._handle)
        self._ids = itertools.count(1)

    # -- public API ---------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``, no path."""
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def port(self) -> int:
        return self._server.port

    @property
    @abstractmethod
    def base_url(self) -> str:
        """The base URL in the convention of this dialect's official client."""

    @property
    def default(self) -> Reply:
        """The reply served when the queue is empty."""
        return self.queue.default

    @default.setter
    def default(self, reply: Reply) -> None:
        self._check(reply)
        self.queue.default = reply

    def outage(self, fault: Fault, seconds: float) -> Self:
        """Answer every model request with ``fault`` for the next ``seconds``, then recover (the
        script queue and the default reply resume): an upstream overloaded for a while."""
        self._check(fault)
        self.queue.outage(fault, seconds)
        return self

    def recover(self) -> Self:
        """End an ``outage`` now."""
        self.queue.outage(Fault.http(500), 0.0)
        return self

    def enqueue(self, *items: Item) -> Self:
        """Script the next responses, first in first out."""
        for item in items:
            self._check(item)
        self.queue.push(items)
        return self

    @property
    def last_request(self) -> RecordedRequest:
        assert self.requests, f"the fake {self.dialect} upstream received no request"
        return self.requests[-1]

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def go_offline(self) -> None:
        """Refuse connections (and drop open ones) until :meth:`go_online`."""
        self._server.go_offline()

    def go_online(self) -> None:
        self._server.go_online()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of crashes inside the fake (a bug in a script or in the fake)."""
        return self._server.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            raise AssertionError(f"fake {self.dialect} upstream crashed:\n" + "\n".join(self.errors))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- for subclasses -------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        """Deterministic ids per fake (``msg_fake0001``...), easy to assert on."""
        return f"{prefix}fake{next(self._ids):04d}"

    @abstractmethod
    def route(self, request: RecordedRequest) -> Endpoint | None:
        """The endpoint for this request, or None for a 404."""

    @abstractmethod
    def render_reply(self, reply: Reply, request: RecordedRequest, streaming: bool) -> Rendered: ...

    @abstractmethod
    def render_error(self, status: int, error_type: str | None, message: str | None) -> Rendered:
        """An HTTP error in this dialect's shape, type/message defaulted from the status."""

    @abstractmethod
    def stream_error_frames(self, fault: Fault, reply: Reply) -> list[bytes]:
        """The frames that report ``fault`` inside a 200 stream."""

    @abstractmethod
    def malformed_frame(self, reply: Reply) -> bytes:
        """One stream frame whose JSON is broken."""

    def cache_blocks(self, request: RecordedRequest) -> list[CacheBlock]:
        """The request's prompt in cache order (dialects whose upstream has a prompt cache override this)."""
        raise NotImplementedError(f"the fake {self.dialect} upstream has no prompt cache")

    def cache_model(self, request: RecordedRequest) -> str:
        """The model a request's cache entries belong to."""
        body = request.json
        return str(body.get("model")) if isinstance(body, dict) else ""

    def cached_renderer(self) -> Renderer | None:
        """The renderer that bills input through ``prompt_cache`` (None without one)."""
        return self._render_cached if self.prompt_cache is not None else None

    def _render_cached(self, reply: Reply, request: RecordedRequest, streaming: bool) -> Rendered:
        """``reply`` with its input usage billed by the prompt cache (which the answer updates)."""
        assert self.prompt_cache is not None
        try:
            billed = self.prompt_cache.account(self.cache_blocks(request), scope=credential_of(request),
                                               model=self.cache_model(request))
        except TooManyBreakpoints as exc:
            return self.render_error(400, self.invalid_request_type, str(exc))
        usage = replace(reply.usage, input_tokens=billed.input_tokens,
                        cache_read_input_tokens=billed.cache_read_input_tokens,
                        cache_creation_input_tokens=billed.cache_creation_input_tokens)
        return self.render_reply(replace(reply, usage=usage), request, streaming)

    def stream_error_status(self, fault: Fault) -> int:
        """The HTTP status a non-streamed request gets for a stream-error fault."""
        return fault.status or 500

    def reshape_stream_frame(self, frame: bytes, edit: Callable[[Any], Any]) -> bytes:
        """One stream frame with its JSON payload passed through ``edit`` (SSE here; Bedrock overrides)."""
        return sse.reshape(frame, edit)

    async def play(self, request: RecordedRequest, response: Response, *, streaming: bool,
                   queue: ReplyQueue | None = None, renderer: Renderer | None = None) -> None:
        """Pop the next scripted item (from ``queue``, default the main one) and send it,
        rendered by ``renderer`` (default :meth:`render_reply`)."""
        queue = queue if queue is not None else self.queue
        item = _with_credential(queue.pop(), credential_of(request))
        render = renderer or self.render_reply
        if isinstance(item, Reply):
            await self.emit(response, render(item, request, streaming), item)
            return
        await self._play_fault(request, response, item, streaming, render, queue.default)

    async def emit(self, response: Response, rendered: Rendered, reply: Reply | None,
                   cut: Fault | None = None) -> None:
        """Send ``rendered``, interrupted by ``cut`` after ``cut.after_events`` events."""
        delay = reply.chunk_delay if reply else 0.0
        if reply is not None and reply.delay and rendered.status < 400:
            await asyncio.sleep(reply.delay)
        if not rendered.streaming:
            await _emit_body(response, rendered, cut)
            return
        await response.send_head(rendered.status, rendered.all_headers, content_length=None)
        frames = rendered.frames
        stop_at = len(frames) if cut is None or cut.after_events is None else min(cut.after_events, len(frames))
        await _write_frames(response, frames[:stop_at], delay, first=True)
        if cut is None:
            await response.end_chunked()
            return
        kind = cut.kind
        if kind is FaultKind.RESET:
            await response.reset()
        elif kind is FaultKind.DISCONNECT:
            await response.close()
        else:
            if kind is FaultKind.STALL:
                await asyncio.sleep(cut.seconds)
                await _write_frames(response, frames[stop_at:], delay, first=stop_at == 0)
            elif kind is FaultKind.MALFORMED_JSON:
                await response.write_chunk(self.malformed_frame(reply or self.default))
            elif kind is FaultKind.STREAM_ERROR:
                for frame in self.stream_error_frames(cut, reply or self.default):
                    await response.write_chunk(frame)
            await response.end_chunked()

    # -- internals ------------------------------------------------------------------------------

    async def _handle(self, request: RecordedRequest, response: Response) -> None:
        self.requests.append(request)
        endpoint = self.route(request)
        if endpoint is None:
            await self.emit(response, self.render_error(404, None, f"no route for {request.method} {request.path}"),
                            None)
            return
        await endpoint(request, response)

    async def _play_fault(self, request: RecordedRequest, response: Response, fault: Fault, streaming: bool,
                          render: Renderer, fallback: Reply) -> None:
        kind = fault.kind
        reply = fault.reply or fallback
        if kind is FaultKind.HTTP_ERROR or (kind is FaultKind.STREAM_ERROR and not streaming):
            status = fault.status if kind is FaultKind.HTTP_ERROR else self.stream_error_status(fault)
            rendered = self.render_error(status, fault.error_type, fault.message)
            if fault.body is not None:
                rendered.frames = [fault.body]
            rendered.extra_headers.update(fault.headers)
            await self.emit(response, rendered, None)
            return
        if kind is FaultKind.RESHAPE:
            assert fault.edit is not None
            rendered = render(reply, request, streaming)
            if rendered.streaming:
                rendered.frames = [self.reshape_stream_frame(frame, fault.edit) for frame in rendered.frames]
            else:
                rendered.frames = [json.dumps(fault.edit(json.loads(frame))).encode() for frame in rendered.frames]
            await self.emit(response, rendered, reply)
            return
        if fault.after_events is None and kind is FaultKind.RESET:
            await response.reset()
            return
        if fault.after_events is None and kind is FaultKind.DISCONNECT:
            await response.close()
            return
        if fault.after_events is None and kind is FaultKind.STALL:
            await asyncio.sleep(fault.seconds)
            await self.emit(response, render(reply, request, streaming), reply)
            return
        cut = fault
        if fault.after_events is None:  # malformed JSON right away
            cut = replace(fault, after_events=0)
        await self.emit(response, render(reply, request, streaming), reply, cut)

    def _check(self, item: Item) -> None:
        reply = item if isinstance(item, Reply) else item.reply
        if reply is None:
            return
        unsupported = reply.quirks - self.supported_quirks
        if unsupported:
            names = ", ".join(sorted(unsupported))
            raise ValueError(f"the fake {self.dialect} upstream does not support quirk(s): {names}")


def credential_of(request: RecordedRequest) -> str:
    """The credential a request carried: ``x-api-key``, a bearer token, or a SigV4 access key id."""
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    authorization = request.headers.get("authorization", "")
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    if "Credential=" in rest:
        return rest.split("Credential=", 1)[1].split("/", 1)[0]
    return authorization


def _with_credential(item: Item, credential: str) -> Item:
    """``item`` with ``{credential}`` in its message, header values and body replaced (see ``Fault``)."""
    def fill(text: str) -> str:
        return text.replace(CREDENTIAL, credential)

    headers = {name: fill(value) for name, value in item.headers.items()}
    if isinstance(item, Reply):
        return replace(item, headers=headers) if headers != item.headers else item
    body = item.body.replace(CREDENTIAL.encode(), credential.encode()) if item.body is not None else None
    message = fill(item.message) if item.message is not None else None
    return replace(item, headers=headers, body=body, message=message)


async def _write_frames(response: Response, frames: list[bytes], delay: float, *, first: bool) -> None:
    for index, frame in enumerate(frames):
        if delay and (index or not first):
            await asyncio.sleep(delay)
        await response.write_chunk(frame)


async def _emit_body(response: Response, rendered: Rendered, cut: Fault | None) -> None:
    body = rendered.frames[0] if rendered.frames else b""
    if cut is None:
        await response.send(rendered.status, rendered.all_headers, body)
        return
    half = body[: len(body) // 2]
    if cut.kind in (FaultKind.TRUNCATE, FaultKind.MALFORMED_JSON):
        await response.send(rendered.status, rendered.all_headers, half)
        return
    await response.send_head(rendered.status, rendered.all_headers, content_length=len(body))
    await response.write_raw(half)
    if cut.kind is FaultKind.RESET:
        await response.reset()
    elif cut.kind is FaultKind.DISCONNECT:
        await response.close()
    else:  # stall mid-body, then the rest
        await asyncio.sleep(cut.seconds)
        await response.write_raw(body[len(half):])
        response.complete = True
