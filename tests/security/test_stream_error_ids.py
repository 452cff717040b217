"""A failure of aimux's own after a stream began: the error event quotes the request's real id.

The id is the one in the response's ``request-id`` / ``x-request-id`` header and in the server's log line
of the traceback, so a user can report it and an operator can find it (it used to be the word "stream").
The fault is a provider that breaks the ``Provider`` contract (raises a plain exception mid-stream), which
is what a bug anywhere between the upstream and the encoder looks like to the surface.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from aimux_core.assembly import local_app
from aimux_core.gateway import Gateway
from aimux_core.providers.base import UpstreamCall
from aimux_core.providers.mock import MockProvider
from aimux_core.routing.catalog import MOCK_MODEL, Catalog
from aimux_core.routing.table import table_for_catalog
from aimux_core.wire.anthropic import ContentBlockDeltaEvent, Message, StreamEvent
from aimux_core.wire.sse import SSEParser
from support.server import serve


class BreaksAfterFirstDelta:
    """The mock's answer, then a ``RuntimeError`` (not an ``AimuxError``) after the first text delta."""

    name = "mock"

    def __init__(self) -> None:
        self.inner = MockProvider()

    async def create(self, call: UpstreamCall) -> Message:
        return await self.inner.create(call)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[StreamEvent]:
        async for event in self.inner.stream(call):
            yield event
            if isinstance(event, ContentBlockDeltaEvent):
                raise RuntimeError("simulated bug after the first delta")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    table = table_for_catalog(Catalog([MOCK_MODEL]), MOCK_MODEL.id)
    with serve(local_app(Gateway({"mock": BreaksAfterFirstDelta()}, table))) as base:  # type: ignore[dict-item]
        yield base


def last_event(raw: str) -> dict[str, Any]:
    parser = SSEParser()
    events = [*parser.feed(raw.encode()), *parser.finish()]
    return json.loads(events[-1].data)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("path", "body", "header"),
    [
        ("/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
                          "messages": [{"role": "user", "content": "Say hello in a few words"}]}, "request-id"),
        ("/v1/chat/completions", {"model": "gpt-4o", "stream": True,
                                  "messages": [{"role": "user", "content": "Say hello in a few words"}]},
         "x-request-id"),
    ],
    ids=["anthropic", "openai"],
)
def test_the_error_event_quotes_the_request_id(
    url: str, path: str, body: dict[str, Any], header: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="aimux.surfaces"),
        httpx.Client(timeout=10) as http,
        http.stream("POST", url + path, json=body) as response,
    ):
        assert response.status_code == 200
        request_id = response.headers[header]
        raw = response.read().decode()
    error = last_event(raw)["error"]
    assert request_id.startswith("req_")
    assert error["message"] == f"internal error; quote request id {request_id} when reporting it"
    assert f"unexpected error serving {request_id}" in caplog.text  # the operator finds the traceback by it
