"""Serve an ASGI app with uvicorn on a free loopback port, in a background thread.

Tests then talk to it over real HTTP with the official SDKs, exactly as clients do. When the server stops,
the upstream session its loop opened (``providers/aiohttp_session.py``: one per loop) is closed on that
loop, so its pooled connections are not left for the garbage collector to report at exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        finally:
            await _close_upstream_session()


async def _close_upstream_session() -> None:
    """Close the app's upstream session when it is this loop's (a later server's loop makes its own)."""
    from aimux_core.providers.aiohttp_session import close_shared_session

    await close_shared_session()


@contextmanager
def serve(app: ASGIApp, *, startup_timeout: float = 10.0, port: int | None = None) -> Iterator[str]:
    """Yield the base URL of ``app`` served on 127.0.0.1 (on ``port``, default a free one); stop it on exit."""
    port = port or free_port()
    # proxy_headers off, as ``aimux serve`` runs: the peer address is the caller (surfaces/admin_access.py).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off", proxy_headers=False
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
