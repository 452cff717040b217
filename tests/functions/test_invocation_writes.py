"""On Lambda a request's spend and token writes end inside its own invocation (``surfaces/invocation.py``).

The gateway settles spend and token windows in the background. Through Mangum, the handler returns when
the app does; a write still pending then waits in the frozen event loop until the next invocation, or is
lost with the container. These tests drive the buffered path as Lambda does (a Mangum handler called with
an HTTP API event) on a store whose counter writes take a few turns of the event loop, as a DynamoDB round
trip would, and look at the store as soon as the handler has returned.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from lambda_harness import LambdaContext, make_event, response_json
from mangum import Mangum

from aimux_core.assembly import build_gateway
from aimux_core.config.schema import AimuxConfig
from aimux_core.keys import KeyRing, create_key
from aimux_core.limits.spend import SpendLedger
from aimux_core.settings import Settings
from aimux_core.state import Item, MemoryStore, SystemClock
from aimux_core.surfaces.app import create_messages_app

FLAG = "AIMUX_FINISH_WRITES_IN_REQUEST"

CONFIG = AimuxConfig.model_validate(
    {
        "providers": {"mock": {"preset": "mock"}},
        "models": {"priced": {"provider": "mock", "context_window": 200_000, "max_output": 4096,
                              "price": {"input": 3000, "output": 15000}}},
        "routes": {"default": ["priced"]},
    }
)  # fmt: skip


class SlowCounterStore(MemoryStore):
    """Counter ``ADD``s yield to the event loop a few times first, like a network round trip."""

    async def add(self, pk: str, sk: str, deltas: Mapping[str, int | float], **options: Any) -> Item:
        for _ in range(5):
            await asyncio.sleep(0)
        return await super().add(pk, sk, deltas, **options)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The loop Mangum runs each invocation on (it uses the thread's current loop), kept across invocations."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def _invoke_once(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """One priced request through a Mangum handler: its response, and the caller's spend right after."""
    store = SlowCounterStore(SystemClock())
    gateway = build_gateway(CONFIG, env={}, store=store)
    ring = KeyRing(store, SystemClock())
    plaintext, record = loop.run_until_complete(create_key(ring, name="lambda"))
    handler = Mangum(create_messages_app(gateway, ring, settings=Settings.from_env()), lifespan="off")
    body = json.dumps({"model": "priced", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
    event = make_event("http-api-v2", "POST", "/v1/messages", body)
    event["headers"]["x-api-key"] = plaintext
    response = handler(event, LambdaContext())
    ledger = SpendLedger(store, SystemClock())
    totals = loop.run_until_complete(_totals_without_running_pending_tasks(ledger, record.id))
    return {**response, "spend": totals}


async def _totals_without_running_pending_tasks(ledger: SpendLedger, key_id: str) -> Any:
    # MemoryStore reads do not yield, so nothing left pending by the invocation gets to run before this read.
    return await ledger.totals(key_id)


def test_on_lambda_the_spend_is_written_before_the_handler_returns(
    monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aimux-messages")
    monkeypatch.delenv(FLAG, raising=False)
    response = _invoke_once(loop)
    assert response["statusCode"] == 200, response.get("body")
    assert response_json(response)["usage"]["output_tokens"] > 0
    assert response["spend"].day_micro > 0  # written inside the invocation


def test_without_it_the_write_is_left_for_a_later_invocation(
    monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop
) -> None:
    """The failure the middleware exists for (and proof that the test above can fail)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aimux-messages")
    monkeypatch.setenv(FLAG, "0")
    response = _invoke_once(loop)
    assert response["statusCode"] == 200, response.get("body")
    assert response["spend"].day_micro == 0  # still pending when the handler returned


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, False), ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, True), ({"AWS_LAMBDA_FUNCTION_NAME": "f", FLAG: "0"}, False),
     ({FLAG: "1"}, True), ({FLAG: "off"}, False)],
)  # fmt: skip
def test_on_by_default_only_on_lambda(env: dict[str, str], expected: bool) -> None:
    assert Settings.from_env(env).finishes_writes_in_request is expected


def test_a_stream_ends_after_its_writes_and_every_event_was_sent_before(
    monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop
) -> None:
    """The streaming function (uvicorn behind the Lambda Web Adapter): the invocation ends with the body."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aimux-messages-stream")
    monkeypatch.delenv(FLAG, raising=False)
    store = SlowCounterStore(SystemClock())
    ring = KeyRing(store, SystemClock())
    app = create_messages_app(build_gateway(CONFIG, env={}, store=store), ring, settings=Settings.from_env())
    ledger = SpendLedger(store, SystemClock())
    plaintext, record = loop.run_until_complete(create_key(ring, name="stream"))
    body = json.dumps({"model": "priced", "max_tokens": 16, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()  # fmt: skip
    seen: list[tuple[bytes, int]] = []  # (body chunk, spend when it was sent)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            seen.append((message.get("body", b""), (await ledger.totals(record.id)).day_micro))

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/messages", "raw_path": b"/v1/messages",
             "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", b"application/json"), (b"x-api-key", plaintext.encode())]}  # fmt: skip
    loop.run_until_complete(app(scope, receive, send))
    events = b"".join(chunk for chunk, _ in seen)
    assert b"event: message_stop" in events
    last_chunk, spend_at_end = seen[-1]
    assert last_chunk == b"" and spend_at_end > 0  # the closing message waited for the spend write
    assert all(spend == 0 for chunk, spend in seen if b"message_stop" in chunk)  # events were not held back
