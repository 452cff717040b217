"""``aimux serve`` caps the request head: 431 past 64 KiB of headers or a 16 KiB line, memory flat.

Before, a 30 MB header was buffered whole (the server's peak RSS grew by about 60 MB) and the request
was then served: the 10 MB body cap was sidestepped. The server under test is the real command in its
own process, so its RSS is its own; the requests go over raw loopback sockets, as an attacker's would.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable, Iterator

import httpx
import pytest
import uvicorn

from aimux_core.assembly import build_mock_gateway, local_app
from support.error_shapes import anthropic_error, openai_error
from support.serve_process import ServeProcess, aimux_serve
from support.server import free_port

pytestmark = pytest.mark.timeout(120)

BODY = json.dumps({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture(scope="module")
def served() -> Iterator[ServeProcess]:
    with aimux_serve() as process:
        yield process


def raw_exchange(port: int, head: bytes, *, stream: Iterable[bytes] = (), tail: bytes = b"") -> bytes:
    """Send ``head``, then ``stream`` chunks while the server reads, then ``tail``; return all it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            for chunk in stream:
                sock.sendall(chunk)
            sock.sendall(tail)
        except OSError:
            pass  # the server stopped reading and closed: its answer is still there to read
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
    return answer


def as_response(raw: bytes) -> httpx.Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines]
    return httpx.Response(int(status_line.split(" ")[1]), headers=headers, content=body)


def request_head(path: str = "/v1/messages", extra: bytes = b"", length: int = len(BODY)) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nanthropic-version: 2023-06-01\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n"
    ).encode() + extra


def test_a_30_mb_header_is_431_and_the_server_does_not_grow(served: ServeProcess) -> None:
    assert httpx.post(f"{served.url}/v1/messages", content=BODY, headers={"anthropic-version": "2023-06-01"},
                      timeout=10).status_code == 200  # fmt: skip
    peak = served.peak_rss_mb()
    chunks = (b"a" * 65536 for _ in range(30 * 16))  # 30 MB of one header value
    raw = raw_exchange(served.port, request_head(extra=b"x-big: "), stream=chunks, tail=b"\r\n\r\n" + BODY)
    answer = as_response(raw)
    message = anthropic_error(answer, 431, "request_too_large")
    assert "64 KiB" in message and answer.headers["connection"] == "close"
    assert served.peak_rss_mb() - peak < 16, (peak, served.peak_rss_mb())
    assert served.alive() and httpx.get(f"{served.url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/messages", b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 1000) for i in range(80))),  # 80 KiB in all
        ("/v1/messages", b"x-one: " + b"v" * (17 * 1024) + b"\r\n"),  # one 17 KiB line
        ("/v1/messages?q=" + "a" * (17 * 1024), b""),  # a 17 KiB request line
        ("/v1/chat/completions?q=" + "a" * (17 * 1024), b""),
    ],
    ids=["total", "header line", "request line", "request line, OpenAI path"],
)
def test_heads_over_a_cap_are_431_in_the_dialect_of_the_path(served: ServeProcess, path: str, extra: bytes) -> None:
    answer = as_response(raw_exchange(served.port, request_head(path, extra) + b"\r\n" + BODY))
    if "chat/completions" in path:
        assert openai_error(answer, 431)["code"] == "request_too_large"
    else:
        anthropic_error(answer, 431, "request_too_large")


def test_heads_under_the_caps_and_large_bodies_are_served(served: ServeProcess) -> None:
    headers = {f"x-h{i}": "v" * 2000 for i in range(20)}  # 40 KiB of headers, 2 KiB lines
    answer = httpx.post(f"{served.url}/v1/messages", content=BODY, headers={"anthropic-version": "2023-06-01",
                        **headers}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    # two requests on one connection, the first with a 1 MiB body: body bytes never count as head bytes
    big = json.dumps({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x" * 2**20}]}).encode()
    raw = raw_exchange(served.port, request_head(length=len(big)) + b"\r\n" + big
                       + request_head(extra=b"connection: close\r\n") + b"\r\n" + BODY)  # fmt: skip
    assert raw.count(b"HTTP/1.1 200 OK") == 2, raw[:300]


def test_the_h11_protocol_answers_431_too() -> None:
    from aimux_core.surfaces.header_limits import MAX_HEADER_BYTES, HeaderLimitedH11Protocol

    port = free_port()
    config = uvicorn.Config(
        local_app(build_mock_gateway()), host="127.0.0.1", port=port, log_level="warning", lifespan="off",
        http=HeaderLimitedH11Protocol, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
        too_big = as_response(raw_exchange(port, request_head(extra=b"x-big: " + b"v" * 100_000 + b"\r\n") + b"\r\n"))
        anthropic_error(too_big, 431, "request_too_large")
        fine = as_response(raw_exchange(port, request_head(extra=b"connection: close\r\n") + b"\r\n" + BODY))
        assert fine.status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
