"""``providers/transport.py`` over real loopback HTTP, on both of its paths, fault by fault.

Each test runs on the httpx path (an explicit ``httpx.AsyncClient``, as shipped by ``transport.new_client``)
and on the default path (aiohttp without httpx, ``aiohttp_session``), and expects one literal outcome: the
same ``UpstreamError`` status, kind and message, the same reply, for the same upstream behaviour. The
upstream is ``fakes.httpserver.LoopbackHTTPServer`` with a handler per fault, writing the raw bytes.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest

import aimux_core
from aimux_core.errors import UpstreamError
from aimux_core.providers import transport
from aimux_core.providers.transport import HttpTransport, Timeouts
from fakes.httpserver import LoopbackHTTPServer, RecordedRequest, Response

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

TIMEOUTS = Timeouts(connect=2, first_byte=0.4, idle=0.4, total=20, min_output_rate=None)
BODY = b'{"model":"m","max_tokens":8}'
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}
BIG_HEADER = "v" * 40_000  # one header line over aiohttp's 8190-byte default


class Upstream:
    """A loopback server whose handler is chosen per test; ``closed`` is set when the handler sees the
    client's side of a streamed connection go away."""

    def __init__(self) -> None:
        self.handler: Callable[[RecordedRequest, Response], Awaitable[None]] | None = None
        self.requests: list[RecordedRequest] = []
        self.closed = threading.Event()
        self.server = LoopbackHTTPServer(self._handle)

    async def _handle(self, request: RecordedRequest, response: Response) -> None:
        self.requests.append(request)
        assert self.handler is not None
        await self.handler(request, response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1/messages"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    fake = Upstream()
    fake.server.start()
    try:
        yield fake
    finally:
        fake.server.stop()
    assert not fake.server.errors, fake.server.errors


@pytest.fixture(params=["httpx", "aiohttp"])
async def path(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[Timeouts], HttpTransport]]:
    """Builds an ``HttpTransport`` on the path under test."""
    if request.param == "httpx":
        async with transport.new_client() as client:
            yield lambda t: HttpTransport("p", t, client)
        return
    transport.use_backend("aiohttp")

    def native(t: Timeouts) -> HttpTransport:
        built = HttpTransport("p", t)
        assert built._native_calls() is not None  # really the aiohttp path
        return built

    try:
        yield native
    finally:
        await transport.close_shared_client()


Path = Callable[[Timeouts], HttpTransport]


async def read_stream(upstream: HttpTransport, url: str) -> bytes:
    return b"".join([chunk async for chunk in upstream.stream(url, JSON, BODY)])


async def failure(call: Awaitable[object]) -> tuple[int, str, str]:
    with pytest.raises(UpstreamError) as caught:
        await call
    return caught.value.status, caught.value.kind, caught.value.message


# ------------------------------------------------------------------ answers


async def test_json_answer_with_case_insensitive_headers(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send(200, {**JSON, "X-Request-Id": "req_1", "x-big": BIG_HEADER}, b'{"ok":true}')

    upstream.handler = handler
    reply = await path(TIMEOUTS).post(upstream.url, {**JSON, "x-api-key": "k"}, BODY)
    assert (reply.status, reply.body) == (200, b'{"ok":true}')
    assert reply.headers["x-request-id"] == reply.headers["X-Request-ID"] == "req_1"
    assert reply.headers.get("x-big") == BIG_HEADER  # a 40 KB header line is accepted
    sent = upstream.requests[0]
    assert (sent.method, sent.path, sent.body, sent.headers["x-api-key"]) == ("POST", "/v1/messages", BODY, "k")
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"] == f"aimux/{aimux_core.__version__}"  # on both paths


async def test_a_gzip_answer_is_decoded(path: Path, upstream: Upstream) -> None:
    payload = json.dumps({"text": "x" * 5000}).encode()

    async def handler(request: RecordedRequest, response: Response) -> None:
        assert "gzip" in request.headers.get("accept-encoding", "")
        await response.send(200, {**JSON, "content-encoding": "gzip"}, gzip.compress(payload))

    upstream.handler = handler
    assert (await path(TIMEOUTS).post(upstream.url, JSON, BODY)).body == payload


async def test_a_stream_asks_for_identity_and_yields_the_bytes(path: Path, upstream: Upstream) -> None:
    events = [b"event: ping\ndata: {}\n\n", b"event: done\ndata: {}\n\n"]

    async def handler(request: RecordedRequest, response: Response) -> None:
        assert request.headers["accept-encoding"] == "identity"
        await response.send_head(200, SSE, content_length=None)
        for event in events:
            await response.write_chunk(event)
        await response.end_chunked()

    upstream.handler = handler
    assert await read_stream(path(TIMEOUTS), upstream.url) == b"".join(events)


async def test_connections_are_reused_and_cookies_are_not_kept(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send(200, {**JSON, "set-cookie": "session=abc; Path=/"}, b"{}")

    upstream.handler = handler
    calls = path(TIMEOUTS)
    await calls.post(upstream.url, JSON, BODY)
    await calls.post(upstream.url, JSON, BODY)
    first, second = upstream.requests
    assert first.peer == second.peer  # one keep-alive connection
    assert "cookie" not in second.headers


# ------------------------------------------------------------------ HTTP errors


@pytest.mark.parametrize("streaming", [False, True])
async def test_an_error_answer_keeps_its_status_body_and_headers(
    path: Path, upstream: Upstream, streaming: bool
) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down please"}}
        await response.send(429, {**JSON, "Retry-After": "7"}, json.dumps(error).encode())

    upstream.handler = handler
    calls = path(TIMEOUTS)
    with pytest.raises(UpstreamError) as caught:
        await (read_stream(calls, upstream.url) if streaming else calls.post(upstream.url, JSON, BODY))
    error = caught.value
    assert (error.status, error.kind, error.upstream_status) == (429, "rate_limit_error", 429)
    assert error.message == "upstream p answered 429: slow down please"
    assert error.retry_after == 7 and error.retryable


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_server_error_with_a_text_body(path: Path, upstream: Upstream, streaming: bool) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send(503, {"content-type": "text/plain"}, b"upstream overloaded, try later")

    upstream.handler = handler
    calls = path(TIMEOUTS)
    call = read_stream(calls, upstream.url) if streaming else calls.post(upstream.url, JSON, BODY)
    assert await failure(call) == (529, "overloaded_error", "upstream p answered 503: upstream overloaded, try later")


# ------------------------------------------------------------------ transport faults


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_refused_connection(path: Path, closed_port: int, streaming: bool) -> None:
    calls = path(TIMEOUTS)
    url = f"http://127.0.0.1:{closed_port}/v1/messages"
    call = read_stream(calls, url) if streaming else calls.post(url, JSON, BODY)
    assert await failure(call) == (500, "api_error", "upstream p: connection failed")


async def test_reset_mid_body(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send_head(200, JSON, content_length=1000)
        await response.write_raw(b'{"partial":')
        await response.reset()

    upstream.handler = handler
    status, kind, message = await failure(path(TIMEOUTS).post(upstream.url, JSON, BODY))
    assert (status, kind, message) == (500, "api_error", "upstream p: connection broken (ReadError)")


async def test_reset_mid_stream(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send_head(200, SSE, content_length=None)
        await response.write_chunk(b"event: ping\ndata: {}\n\n")
        await response.reset()

    upstream.handler = handler
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in path(TIMEOUTS).stream(upstream.url, JSON, BODY):
            received.append(chunk)

    status, kind, message = await failure(consume())
    assert received == [b"event: ping\ndata: {}\n\n"]
    assert (status, kind, message) == (500, "api_error", "upstream p: connection broken (ReadError)")


async def test_closed_mid_body(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send_head(200, JSON, content_length=1000)
        await response.write_raw(b'{"partial":')
        await response.close()

    upstream.handler = handler
    status, kind, message = await failure(path(TIMEOUTS).post(upstream.url, JSON, BODY))
    assert (status, kind, message) == (500, "api_error", "upstream p: connection broken (RemoteProtocolError)")


async def test_closed_before_the_status_line(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.close()

    upstream.handler = handler
    status, kind, message = await failure(path(TIMEOUTS).post(upstream.url, JSON, BODY))
    assert (status, kind, message) == (500, "api_error", "upstream p: connection broken (RemoteProtocolError)")


async def stall(request: RecordedRequest, response: Response) -> None:
    await asyncio.sleep(3)


@pytest.mark.parametrize(
    ("streaming", "message"),
    [(False, "upstream p: no answer headers within 0.4s"), (True, "upstream p: no first byte within 0.4s")],
)
async def test_stalled_headers(path: Path, upstream: Upstream, streaming: bool, message: str) -> None:
    upstream.handler = stall
    calls = path(Timeouts(connect=2, first_byte=0.4, idle=5, total=20, min_output_rate=None))
    call = read_stream(calls, upstream.url) if streaming else calls.post(upstream.url, JSON, BODY)
    assert await failure(call) == (504, "timeout_error", message)


async def test_headers_wait_grows_with_the_answer_it_may_generate(path: Path, upstream: Upstream) -> None:
    async def slow(request: RecordedRequest, response: Response) -> None:
        await asyncio.sleep(0.8)
        await response.send(200, JSON, b"{}")

    upstream.handler = slow
    calls = path(Timeouts(connect=2, first_byte=0.4, idle=5, total=20, min_output_rate=10))
    assert (await calls.post(upstream.url, JSON, BODY, output_tokens=20)).body == b"{}"  # waits 0.4 + 2 s


@pytest.mark.parametrize("streaming", [False, True])
async def test_stalled_body(path: Path, upstream: Upstream, streaming: bool) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send_head(200, SSE if streaming else JSON, content_length=None)
        await response.write_chunk(b"event: ping\ndata: {}\n\n" if streaming else b'{"partial":')
        await asyncio.sleep(3)

    upstream.handler = handler
    calls = path(Timeouts(connect=2, first_byte=5, idle=0.4, total=20, min_output_rate=None))
    call = read_stream(calls, upstream.url) if streaming else calls.post(upstream.url, JSON, BODY)
    assert await failure(call) == (504, "timeout_error", "upstream p: no data for 0.4s")


async def trickle(request: RecordedRequest, response: Response) -> None:
    """A body that never stops: one chunk every 0.1 s (within any idle timeout here)."""
    await response.send_head(200, SSE, content_length=None)
    for _ in range(200):
        await response.write_chunk(b"event: ping\ndata: {}\n\n")
        await asyncio.sleep(0.1)
    await response.end_chunked()


@pytest.mark.parametrize(
    ("streaming", "message"),
    [(False, "upstream p: no complete answer within 0.8s"),
     (True, "upstream p: stream exceeded the 0.8s total deadline")],
)  # fmt: skip
async def test_total_deadline(path: Path, upstream: Upstream, streaming: bool, message: str) -> None:
    upstream.handler = trickle
    calls = path(Timeouts(connect=2, first_byte=5, idle=2, total=0.8, min_output_rate=None))
    call = read_stream(calls, upstream.url) if streaming else calls.post(upstream.url, JSON, BODY)
    assert await failure(call) == (504, "timeout_error", message)


async def test_closing_a_stream_closes_the_upstream_connection(path: Path, upstream: Upstream) -> None:
    async def handler(request: RecordedRequest, response: Response) -> None:
        await response.send_head(200, SSE, content_length=None)
        try:
            for _ in range(200):  # 20 s if nobody hangs up
                await response.write_chunk(b"event: ping\ndata: {}\n\n")
                await asyncio.sleep(0.1)
        except ConnectionError:
            upstream.closed.set()
            raise
        await response.end_chunked()

    upstream.handler = handler
    chunks = path(TIMEOUTS).stream(upstream.url, JSON, BODY)
    assert await anext(chunks) == b"event: ping\ndata: {}\n\n"
    await chunks.aclose()  # what a client's disconnect does to the adapter's iterator
    assert await asyncio.to_thread(upstream.closed.wait, 5)  # the upstream saw the connection go


@pytest.mark.parametrize(
    ("backend", "proxy", "native"),
    [("aiohttp", None, True), ("httpx", None, False), ("aiohttp", "http://proxy:3128", False)],
)
async def test_which_path_a_call_takes(
    monkeypatch: pytest.MonkeyPatch, backend: transport.UpstreamTransport, proxy: str | None, native: bool
) -> None:
    """aiohttp unless ``AIMUX_UPSTREAM_TRANSPORT=httpx`` or a proxy in the environment (httpx honours it)."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    if proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy)
    transport.use_backend(backend)
    try:
        assert (HttpTransport("p", TIMEOUTS)._native_calls() is not None) is native
        async with httpx.AsyncClient() as client:
            assert HttpTransport("p", TIMEOUTS, client)._native_calls() is None  # an explicit client: httpx
    finally:
        transport.use_backend("aiohttp")
