"""Planted secrets: requests carry API keys and a secret prompt; none of it may reach stdout, stderr or logs.

A small Starlette app stands in for the surfaces and wires observability the way the surfaces do:
timer at arrival, gateway call, record from ``Served`` + usage, ``publish``, cost header. Requests
carry an ``sk-ant-`` key, an ``amx-`` key, an AWS key id and a secret prompt; one caller even passes
the raw key as ``key_id`` (the scrubber's case). Everything written at the file-descriptor level
(``capfd``) and every log record (``caplog``, all loggers, DEBUG) is scanned.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from aimux_core.accounting.metrics import Emission, metrics_snapshot
from aimux_core.accounting.record import RequestTimer, StreamTally, cost_header
from aimux_core.accounting.request_log import lambda_ids
from aimux_core.assembly import default_gateway
from aimux_core.errors import AimuxError, RateLimited
from aimux_core.providers.base import RequestContext
from aimux_core.routing.select import RequestMeta
from aimux_core.settings import Settings
from aimux_core.surfaces.recording import publish, record_failed, record_served
from aimux_core.wire.anthropic import MessagesRequest

ANTHROPIC_KEY = "sk-" "ant-api03-PLANTED0secret0anthropic0key0XYZ"
AIMUX_KEY = "amx-live-PLANTED0secret0aimux0key0123"
AWS_KEY_ID = "AKIA" "PLANTEDSECRET123"
PROMPT = "PLANTED-SECRET-PROMPT: the launch code is 0000-TANGO"
SECRETS = (ANTHROPIC_KEY, AIMUX_KEY, AWS_KEY_ID, "PLANTED0secret", "PLANTED-SECRET-PROMPT", "TANGO")


EMF = Emission(emf=True)  # as on Lambda


def key_id_of(key: str | None) -> str | None:
    return None if key is None else "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]


async def messages(request: Request) -> Response:
    timer = RequestTimer()
    gateway = request.app.state.gateway
    key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    careless = request.headers.get("x-test-careless") == "1"  # a caller that logs the key itself as the id
    key_id = key if careless else key_id_of(key)
    body = MessagesRequest.model_validate_json(await request.body())
    common = dict(request_id="req_secret", surface="anthropic", key_id=key_id, client_model=body.model)
    ids = lambda_ids(request.scope)
    try:
        if request.headers.get("x-test-limit") == "1":
            raise RateLimited("key rate limit exceeded")
        context = RequestContext(request_id="req_secret", api_key=key)
        if body.wants_stream:
            opened = await gateway.open_stream(body, context, RequestMeta())
            tally = StreamTally(timer)

            async def encode():  # type: ignore[no-untyped-def]
                try:
                    async for event in opened.events:
                        tally.observe(event)
                        yield f"event: {event.type}\ndata: {event.dump_json()}\n\n"
                finally:
                    publish(
                        record_served(
                            **common, served=opened.served, timer=timer, tokens=tally.tokens, stream=True, ids=ids
                        ),
                        EMF,
                    )

            return StreamingResponse(encode(), media_type="text/event-stream")
        message, served = await gateway.create(body, context, RequestMeta())
        record = record_served(**common, served=served, timer=timer, usage=message.usage, cost_usd=0.000321, ids=ids)
        publish(record, EMF)
        return Response(message.dump_json(), media_type="application/json", headers=cost_header(record))
    except AimuxError as error:
        publish(record_failed(**common, error=error, timer=timer, ids=ids), EMF)
        return JSONResponse({"type": "error", "error": {"type": error.kind}}, status_code=error.status)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("AIMUX_EMF", "1")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    app = Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
    app.state.gateway = default_gateway(Settings.from_env())
    return TestClient(app)


def body(stream: bool = False, model: str = "claude-sonnet-4-5") -> str:
    return json.dumps(
        {
            "model": model,
            "max_tokens": 200,
            "stream": stream,
            "system": f"system secret: {PROMPT}",
            "messages": [{"role": "user", "content": PROMPT}],
        }
    )


def test_no_planted_secret_reaches_any_output(
    client: TestClient, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lwa = {
        "x-amzn-lambda-context": json.dumps({"request_id": "5b1b8b30-aaaa-bbbb-cccc-0123456789ab"}),
        "x-amzn-request-context": json.dumps({"requestId": "url-req-1", "authorizer": {"key": AIMUX_KEY}}),
    }
    calls = [
        ({"x-api-key": ANTHROPIC_KEY, **lwa}, body()),
        ({"authorization": f"Bearer {AIMUX_KEY}"}, body(stream=True)),
        ({"x-api-key": AIMUX_KEY, "x-test-limit": "1"}, body()),
        ({"x-api-key": ANTHROPIC_KEY, "x-test-careless": "1"}, body()),
        ({"x-api-key": AIMUX_KEY, "x-test-careless": "1", "x-test-limit": "1"}, body()),
        ({"x-api-key": ANTHROPIC_KEY}, body(model=f"mock/{AWS_KEY_ID}")),  # a key smuggled into the model name
    ]
    statuses = []
    for headers, payload in calls:
        response = client.post("/v1/messages", content=payload, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429, 200, 429, 200]
    admin_view = json.dumps(metrics_snapshot(EMF))

    captured = capfd.readouterr()
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    everything = "\n".join((captured.out, captured.err, logs, admin_view))
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("message") == "request"]
    emf_lines = [line for line in lines if "_aws" in line]
    assert len(request_lines) == len(calls) and len(emf_lines) == len(calls)  # the scan saw real output
    assert request_lines[0]["function_request_id"] == "5b1b8b30-aaaa-bbbb-cccc-0123456789ab"
    assert request_lines[0]["key_id"] == key_id_of(ANTHROPIC_KEY)
    assert [line["key_id"] for line in request_lines[3:5]] == ["[redacted]", "[redacted]"]
    for secret in SECRETS:
        assert secret not in everything, f"{secret!r} leaked"
