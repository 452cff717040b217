"""CORS as a browser does it: a page on one origin calls the gateway on another (a different port) with
the headers the SDKs send, so Chromium sends a real preflight first; an origin not configured is blocked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.settings import Settings
from support.server import free_port, serve

CALL = """async (url) => {
  try {
    const answer = await fetch(url + "/v1/messages", {
      method: "POST",
      headers: {"content-type": "application/json", "x-api-key": "unused", "anthropic-version": "2023-06-01",
                "anthropic-dangerous-direct-browser-access": "true"},
      body: JSON.stringify({model: "claude-sonnet-4-5", max_tokens: 20, messages: [{role: "user", content: "hi"}]}),
    });
    const body = await answer.json();
    return {status: answer.status, provider: answer.headers.get("x-aimux-provider"), type: body.type};
  } catch (error) {
    return {blocked: String(error)};
  }
}"""


@dataclass
class Recorder:
    """ASGI wrapper that notes each request's method and path (the browser's preflights included)."""

    app: ASGIApp
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


async def _home(request: Any) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>a browser client</title><p>client")


@pytest.fixture(scope="module")
def origins() -> Iterator[tuple[str, str, str, Recorder]]:
    """An allowed page origin, another page origin, and the gateway allowing only the first."""
    allowed_port = free_port()
    allowed = f"http://127.0.0.1:{allowed_port}"
    gateway = Recorder(local_app(build_mock_gateway(), settings=Settings.from_env({"AIMUX_CORS_ORIGINS": allowed})))
    site = Starlette(routes=[Route("/", _home)])
    with serve(site, port=allowed_port) as allowed_url, serve(site) as other_url, serve(gateway) as gateway_url:
        yield allowed_url, other_url, gateway_url, gateway


def test_a_configured_origin_calls_the_gateway_after_a_real_preflight(
    page: Any, origins: tuple[str, str, str, Recorder]
) -> None:
    allowed, _, gateway_url, gateway = origins
    page.goto(allowed + "/")
    result = page.evaluate(CALL, gateway_url)
    assert result == {"status": 200, "provider": "mock", "type": "message"}  # x-aimux-provider readable: exposed
    assert gateway.seen[:2] == [("OPTIONS", "/v1/messages"), ("POST", "/v1/messages")]


def test_another_origin_is_blocked_by_the_browser(page: Any, origins: tuple[str, str, str, Recorder]) -> None:
    _, other, gateway_url, gateway = origins
    before = len(gateway.seen)
    page.goto(other + "/")
    result = page.evaluate(CALL, gateway_url)
    assert "blocked" in result and "Failed to fetch" in result["blocked"]
    assert gateway.seen[before:] == [("OPTIONS", "/v1/messages")]  # refused at the preflight: no POST sent
