"""CPU cost of CORS on the client API (``surfaces/cors.py``), in µs per request through the ASGI app.

Why: CORS sits in front of every client request once ``AIMUX_CORS_ORIGINS`` is set. This drives the real
client app (``create_messages_app``) in-process with ASGI calls to ``GET /healthz`` (the cheapest route,
so what is added stands out), in four cases: no origins configured (no middleware at all), origins
configured and a request without ``Origin`` (server-to-server SDK calls), an allowed ``Origin`` (the
headers are added), and a preflight (answered by the middleware). The cases are measured alternately
in the same rounds, best of ``--rounds``, so a shared machine's load hits them alike.

Run: ``.venv/bin/python bench/bench_cors.py [--number N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from aimux_core.assembly import build_mock_gateway
from aimux_core.settings import Settings
from aimux_core.surfaces.app import create_messages_app

ORIGIN = b"https://app.example.com"


def scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": "/healthz", "raw_path": b"/healthz", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench"), (b"accept", b"*/*"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip


async def per_request_us(app: Any, request_scope: dict[str, Any], number: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    start = time.process_time()
    for _ in range(number):
        await app(dict(request_scope), receive, send)
    return (time.process_time() - start) / number * 1e6


async def main(number: int, rounds: int) -> None:
    gateway = build_mock_gateway()
    plain = create_messages_app(gateway)
    with_cors = create_messages_app(gateway, settings=Settings(cors_origins=(ORIGIN.decode(),)))
    cases = {
        "no origins configured (no middleware)": (plain, scope("GET", [])),
        "origins configured, request without Origin": (with_cors, scope("GET", [])),
        "origins configured, allowed Origin": (with_cors, scope("GET", [(b"origin", ORIGIN)])),
        "preflight (OPTIONS) answered": (with_cors, scope("OPTIONS", [
            (b"origin", ORIGIN), (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"content-type, x-api-key, anthropic-version")])),
    }  # fmt: skip
    best = dict.fromkeys(cases, float("inf"))
    for app, request_scope in cases.values():
        await per_request_us(app, request_scope, 200)  # warm up
    for _ in range(rounds):
        for name, (app, request_scope) in cases.items():
            best[name] = min(best[name], await per_request_us(app, request_scope, number))
    base = best["no origins configured (no middleware)"]
    print(f"GET /healthz through the client app, CPU µs per request (best of {rounds} rounds of {number}):")
    for name, value in best.items():
        print(f"  {name:45s} {value:7.1f} µs  ({value - base:+.1f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.number, args.rounds))
