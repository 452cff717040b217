"""The issue's floor: uvicorn + a bare ASGI app + aiohttp, doing the least an honest gateway must.

Why a second kind of floor: ``passthrough_floor.py`` never parses JSON, so it is the bound for a
proxy that looks at nothing. A gateway must at least read the body, swap the client's model for the
upstream's, and read the usage of the answer (it bills it). This app does exactly that and nothing
else, with no framework between uvicorn and the handler:

- JSON body parsed with ``json.loads``, ``model`` replaced (``upstream_scenarios``' mapping), dumped;
- forwarded with the auth and version headers to the same path on ``AIMUX_FLOOR_UPSTREAM`` over one
  ``aiohttp.ClientSession`` (configured like aimux's shared client);
- a JSON answer read whole, its ``usage`` parsed, the bytes returned unchanged;
- a stream relayed one upstream read → one ``send``, each read that carries a ``"usage"`` parsed
  (the ``data:`` lines of it) so the floor pays for the accounting a gateway cannot skip.

Factory: ``uvicorn passthrough_floor:create_bare_aiohttp_app --factory`` (registered there as
``bare-aiohttp``, which ``bench_floor_ratio.py`` uses as the reference).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from upstream_scenarios import ANTHROPIC_MODEL, OPENAI_MODEL, UPSTREAM_ANTHROPIC_MODEL, UPSTREAM_OPENAI_MODEL

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODELS = {ANTHROPIC_MODEL: UPSTREAM_ANTHROPIC_MODEL, OPENAI_MODEL: UPSTREAM_OPENAI_MODEL}
FORWARDED = frozenset((b"x-api-key", b"authorization", b"anthropic-version", b"anthropic-beta", b"accept"))
JSON_HEADERS = {"content-type": "application/json"}


def usage_of_sse(chunk: bytes) -> list[object]:
    """The ``usage`` objects of the ``data:`` lines of one read that mentions usage."""
    found: list[object] = []
    for line in chunk.split(b"\n"):
        if line.startswith(b"data:") and b'"usage"' in line:
            try:
                event = json.loads(line[5:])
            except ValueError:  # a line cut by the read boundary: a real gateway would buffer it
                continue
            usage = event.get("usage") or event.get("message", {}).get("usage")
            if usage is not None:
                found.append(usage)
    return found


async def serve_lifespan(state: dict[str, Any], receive: Receive, send: Send) -> None:
    """A floor's lifespan: ``state["session"]``, one ``aiohttp.ClientSession`` configured like aimux's shared
    client, opened at start-up (aiohttp binds it to the loop) and closed at shutdown."""
    import aiohttp

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
            state["session"] = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False
            )
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["session"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def answer_healthz(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def answered_by_floor(state: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> bool:
    """Lifespan and ``/healthz``, the same for every floor: True when the scope was one of them (and is done)."""
    if scope["type"] == "lifespan":
        await serve_lifespan(state, receive, send)
        return True
    if scope["path"] == "/healthz":
        await answer_healthz(send)
        return True
    return False


def forwarded_headers(scope: Scope) -> dict[str, str]:
    """The auth and version headers a floor forwards, plus its JSON content type."""
    return {k.decode(): v.decode() for k, v in scope["headers"] if k in FORWARDED} | JSON_HEADERS


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def create_bare_aiohttp_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI callable; the session is opened on lifespan start (aiohttp binds it to the loop)."""
    import aiohttp

    base = os.environ["AIMUX_FLOOR_UPSTREAM"].rstrip("/")
    state: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if await answered_by_floor(state, scope, receive, send):
            return
        request = json.loads(await read_body(receive))
        request["model"] = MODELS.get(request.get("model"), request.get("model"))
        headers = forwarded_headers(scope)
        session: aiohttp.ClientSession = state["session"]
        forwarded = json.dumps(request, separators=(",", ":")).encode()  # compact, as the fake looks for it
        async with session.post(base + scope["path"], data=forwarded, headers=headers) as answer:
            content_type = answer.headers.get("content-type", "application/json").encode()
            if content_type.startswith(b"text/event-stream"):
                await send({"type": "http.response.start", "status": answer.status,
                            "headers": [(b"content-type", content_type)]})  # fmt: skip
                async for chunk in answer.content.iter_any():
                    if b'"usage"' in chunk:
                        usage_of_sse(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return
            data = await answer.read()
            json.loads(data).get("usage")
            await send({"type": "http.response.start", "status": answer.status, "headers": [
                (b"content-type", content_type), (b"content-length", str(len(data)).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": data})

    return app
