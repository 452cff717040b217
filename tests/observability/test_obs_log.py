"""The request log line: one JSON line with every field, the Lambda/LWA ids, levels, and the scrubber."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from aimux_core.accounting.record import RequestRecord
from aimux_core.accounting.request_log import lambda_ids, log_fields, log_request, scrub

FIELDS = {
    "request_id",
    "function_request_id",
    "correlation_id",
    "key_id",
    "surface",
    "client_model",
    "scenario",
    "route",
    "reason",
    "provider",
    "model",
    "attempts",
    "fallbacks",
    "status",
    "error_kind",
    "stream",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "breaker_open_seen",
    "rate_limited",
}
POWERTOOLS_KEYS = {"level", "location", "message", "timestamp", "service"}


def record(**overrides: object) -> RequestRecord:
    fields: dict = dict(
        request_id="req_log_1",
        surface="openai",
        status=200,
        latency_ms=431.26,
        key_id="key_7f3a",
        function_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        correlation_id="Yf0pVjQ2oAMEVXg=",
        client_model="gpt-4o",
        scenario="default",
        route="default",
        reason="model gpt-4o; default",
        provider="openai",
        model="gpt-4o-2024-08-06",
        attempts=1,
        input_tokens=12,
        output_tokens=34,
        cost_usd=0.000123,
    )
    fields.update(overrides)
    return RequestRecord(**fields)


def log_lines(out: str) -> list[dict]:
    return [doc for doc in map(json.loads, out.splitlines()) if doc.get("message") == "request"]


def test_one_json_line_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    log_request(record())
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    (line,) = log_lines(out)
    assert set(line) >= FIELDS | POWERTOOLS_KEYS
    assert set(line) - FIELDS - POWERTOOLS_KEYS <= {"xray_trace_id"}  # nothing else, no taskName noise
    assert line["level"] == "INFO" and line["service"] == "aimux"
    assert line["request_id"] == "req_log_1"
    assert line["function_request_id"] == "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    assert line["correlation_id"] == "Yf0pVjQ2oAMEVXg="
    assert (line["provider"], line["model"], line["client_model"]) == ("openai", "gpt-4o-2024-08-06", "gpt-4o")
    assert (line["latency_ms"], line["cost_usd"], line["status"], line["stream"]) == (431.3, 0.000123, 200, False)


def test_missing_values_are_null_not_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    log_request(RequestRecord(request_id="req_min", surface="anthropic", status=400, latency_ms=1.0))
    (line,) = log_lines(capsys.readouterr().out)
    assert set(line) >= FIELDS
    assert line["provider"] is None and line["ttft_ms"] is None and line["key_id"] is None


@pytest.mark.parametrize(
    ("overrides", "level"),
    [
        ({}, "INFO"),
        ({"status": 429, "rate_limited": True, "error_kind": "rate_limit_error"}, "WARNING"),
        ({"status": 529, "error_kind": "overloaded_error"}, "ERROR"),
        ({"status": 200, "stream": True, "error_kind": "api_error"}, "ERROR"),
    ],
)
def test_level_follows_the_outcome(overrides: dict, level: str, capsys: pytest.CaptureFixture[str]) -> None:
    log_request(record(**overrides))
    (line,) = log_lines(capsys.readouterr().out)
    assert line["level"] == level


def test_the_aimux_logger_tree_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """Unlike ``Logger(service="aimux")``, no handler on ``aimux``, no filter on the root handlers."""
    from aimux_core.accounting.request_log import request_logger

    log_request(record())
    assert log_lines(capsys.readouterr().out)
    assert request_logger().propagate is False  # the line is not repeated by the root handlers
    assert logging.getLogger("aimux").handlers == []
    for handler in logging.getLogger().handlers:
        assert not [f for f in handler.filters if type(f).__name__ == "SuppressFilter"]


def test_log_request_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from aimux_core.accounting import request_log

    monkeypatch.setattr(request_log, "log_fields", lambda _: 1 / 0)
    log_request(record())


# --------------------------------------------------------------------------- ids


class Context(SimpleNamespace):
    aws_request_id: str


def asgi_scope(headers: dict[str, str] | None = None, **extra: object) -> dict:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return {"type": "http", "headers": raw, **extra}


def test_ids_from_mangum_scope() -> None:
    scope = asgi_scope(
        **{
            "aws.context": Context(aws_request_id="c0ffee00-1111-2222-3333-444455556666"),
            "aws.event": {"requestContext": {"requestId": "JKf3hgW4oAMEbXA="}},
        }
    )
    assert lambda_ids(scope) == ("c0ffee00-1111-2222-3333-444455556666", "JKf3hgW4oAMEbXA=")


def test_ids_through_mangum() -> None:
    """The buffered path for real: an HTTP API v2 event through Mangum into a Starlette route."""
    from mangum import Mangum
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ids(request: Request) -> JSONResponse:
        return JSONResponse(list(lambda_ids(request.scope)))

    event = {
        "version": "2.0",
        "routeKey": "POST /ids",
        "rawPath": "/ids",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "id.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "http": {"method": "POST", "path": "/ids", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": "Yf0pVjQ2oAMEVXg=",
            "stage": "$default",
        },
        "body": "{}",
        "isBase64Encoded": False,
    }
    context = Context(aws_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd")
    handler = Mangum(Starlette(routes=[Route("/ids", ids, methods=["POST"])]), lifespan="off")
    response = handler(event, context)
    assert json.loads(response["body"]) == ["8476a536-e9f4-11e8-9739-2dfe598c3fcd", "Yf0pVjQ2oAMEVXg="]


def test_ids_from_lambda_web_adapter_headers() -> None:
    scope = asgi_scope(
        {
            "X-Amzn-Lambda-Context": json.dumps({"request_id": "5b1b8b30-aaaa-bbbb-cccc-0123456789ab", "deadline": 1}),
            "x-amzn-request-context": json.dumps({"requestId": "a1b2c3d4-url-id", "http": {"sourceIp": "1.2.3.4"}}),
        }
    )
    assert lambda_ids(scope) == ("5b1b8b30-aaaa-bbbb-cccc-0123456789ab", "a1b2c3d4-url-id")


def test_ids_fallback_header_and_absence() -> None:
    assert lambda_ids(asgi_scope({"x-amzn-request-id": "proxy-req-1"})) == (None, "proxy-req-1")
    assert lambda_ids(asgi_scope()) == (None, None)


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps(["request_id"]),
        json.dumps({"request_id": 42}),
        json.dumps({"request_id": 'has spaces and "quotes"'}),
        json.dumps({"request_id": "x" * 500}),
        json.dumps({"request_id": "ok", "pad": "y" * 20_000}),  # oversized header: not parsed
    ],
)
def test_spoofed_or_broken_context_headers_are_ignored(value: str) -> None:
    assert lambda_ids(asgi_scope({"x-amzn-lambda-context": value})) == (None, None)


# --------------------------------------------------------------------------- scrubber


@pytest.mark.parametrize(
    "secret",
    [
        "sk-" "ant-api03-AbCdEf012345_-xyz",
        "sk-proj-0123456789abcdef",
        "sk-or-v1-0123456789abcdef",
        "amx-live-9f8e7d6c5b4a",
        "amx-0123456789",
        "AKIA" "IOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPLE",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    ],
)
def test_scrub_removes_key_shapes(secret: str) -> None:
    text = f"model {secret}; other"
    assert secret not in scrub(text)
    assert scrub(text).startswith("model [redacted]")


@pytest.mark.parametrize("benign", ["task-force-123456", "claude-sonnet-4-5", "desk-2024-01-01", "gpt-4o-mini"])
def test_scrub_keeps_ordinary_names(benign: str) -> None:
    assert scrub(benign) == benign


def test_every_string_field_is_scrubbed() -> None:
    key = "sk-" "ant-api03-LEAKED0000000000"
    fields = log_fields(record(key_id=key, client_model=key, reason=f"model {key}", request_id=f"req {key}"))
    assert key not in json.dumps(fields)
    assert fields["key_id"] == "[redacted]"
