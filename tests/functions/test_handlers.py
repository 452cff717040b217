"""The deployed entry points, driven with real Lambda event payloads through Mangum.

Each event source the messages function can sit behind (HTTP API payload 2.0, REST API payload
1.0, function URL) must reach the same app and come back as a proper Lambda proxy response.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from lambda_harness import Handler, LambdaContext, header, load_function, make_event, response_json

import aimux_core

EVENT_KINDS = ["http-api-v2", "rest-api-v1", "function-url"]

HELLO = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]})


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_create_message(messages_handler: Handler, kind: str) -> None:
    response = messages_handler(make_event(kind, "POST", "/v1/messages", HELLO), LambdaContext())

    assert response["statusCode"] == 200, response.get("body")
    assert (header(response, "content-type") or "").startswith("application/json")
    message = response_json(response)
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["id"]
    assert isinstance(message["content"], list) and message["content"]
    assert message["stop_reason"]
    assert message["usage"]["output_tokens"] >= 0


def test_anthropic_prefixed_base_url(messages_handler: Handler) -> None:
    """``/anthropic/{proxy+}`` is routed to this function by the template; the app must serve it."""
    event = make_event("http-api-v2", "POST", "/anthropic/v1/messages", HELLO)
    response = messages_handler(event, LambdaContext())

    assert response["statusCode"] == 200, response.get("body")
    assert response_json(response)["type"] == "message"


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_list_models(messages_handler: Handler, kind: str) -> None:
    response = messages_handler(make_event(kind, "GET", "/v1/models"), LambdaContext())

    assert response["statusCode"] == 200, response.get("body")
    page = response_json(response)
    assert isinstance(page["data"], list) and page["data"]


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_malformed_json_is_an_anthropic_invalid_request(messages_handler: Handler, kind: str) -> None:
    event = make_event(kind, "POST", "/v1/messages", '{"model": "claude-sonnet-4-5", "messages": [')
    response = messages_handler(event, LambdaContext())

    assert response["statusCode"] == 400, response.get("body")
    body = response_json(response)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_admin_status(admin_handler: Handler) -> None:
    response = admin_handler(make_event("http-api-v2", "GET", "/admin/status"), LambdaContext())

    assert response["statusCode"] == 200, response.get("body")
    status = response_json(response)
    assert status["version"] == aimux_core.__version__
    assert isinstance(status["providers"], list) and status["providers"]


def test_handlers_are_independent_modules(messages_handler: Handler, admin_handler: Handler) -> None:
    """Both files are ``app.py``; each handler must wrap its own app, not whichever loaded first."""
    assert messages_handler is not admin_handler
    assert messages_handler.app is not admin_handler.app  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["http-api-v2", "function-url"])
def test_streamed_request_is_buffered_whole_through_mangum(messages_handler: Handler, kind: str) -> None:
    """Behind the HTTP API a stream still works, but arrives in one piece (Mangum buffers): why the
    function URL (run.sh, Lambda Web Adapter) is the endpoint for streaming clients."""
    body = json.dumps({**json.loads(HELLO), "stream": True})
    response = messages_handler(make_event(kind, "POST", "/v1/messages", body), LambdaContext())

    assert response["statusCode"] == 200, response.get("body")
    assert (header(response, "content-type") or "").startswith("text/event-stream")
    text = base64.b64decode(response["body"]).decode() if response.get("isBase64Encoded") else response["body"]
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop"


def test_admin_init_reads_no_provider_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The admin function's import builds no gateway: a provider key that cannot be read fails a request
    (500 naming the problem, never the key), not the container's init."""
    config = tmp_path / "aimux.yaml"
    config.write_text(
        "providers:\n  up:\n    preset: anthropic\n    api_key_env: AIMUX_TEST_MISSING_KEY\n"
        "models:\n  m:\n    provider: up\n    context_window: 200000\n    max_output: 4096\n"
        "routes:\n  default: [m]\n"
    )
    monkeypatch.setenv("AIMUX_CONFIG", str(config))
    monkeypatch.delenv("AIMUX_TEST_MISSING_KEY", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aimux-admin-test")
    handler = load_function("admin").handler  # would raise here if init built the gateway

    response = handler(make_event("http-api-v2", "GET", "/admin/status"), LambdaContext())
    assert response["statusCode"] == 500, response.get("body")
    assert "AIMUX_TEST_MISSING_KEY" in response_json(response)["detail"]
