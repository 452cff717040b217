"""The request log line: one JSON line with every field, the Lambda/LWA ids, levels, and the scrubber."""

from __future__ import annotations

import inspect
import io
import json
import logging
import time
import warnings
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from aimux_core.accounting import request_log
from aimux_core.accounting.record import RequestRecord
from aimux_core.accounting.request_log import lambda_ids, log_fields, log_request, request_logger
from support.records import emission_from_env, request_record

FIELDS = {
    "request_id",
    "function_request_id",
    "correlation_id",
    "key_id",
    "project",
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
    "cache",
    "cache_reason",
    "dedup",
    "cache_saved_usd",
    "cache_savings_usd",
    "tokens_removed",
}
POWERTOOLS_KEYS = {"level", "location", "message", "timestamp", "service"}


def record(**overrides: object) -> RequestRecord:
    return request_record(**overrides)


def log_lines(out: str) -> list[dict]:
    return [doc for doc in map(json.loads, out.splitlines()) if doc.get("message") == "request"]


def test_one_json_line_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    log_request(record(), emission_from_env())
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
    log_request(
        RequestRecord(request_id="req_min", surface="anthropic", status=400, latency_ms=1.0), emission_from_env()
    )
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
    log_request(record(**overrides), emission_from_env())
    (line,) = log_lines(capsys.readouterr().out)
    assert line["level"] == level


def test_the_aimux_logger_tree_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """Unlike ``Logger(service="aimux")``, no handler on ``aimux``, no filter on the root handlers."""
    from aimux_core.accounting.request_log import request_logger

    log_request(record(), emission_from_env())
    assert log_lines(capsys.readouterr().out)
    assert request_logger().propagate is False  # the line is not repeated by the root handlers
    assert logging.getLogger("aimux").handlers == []
    for handler in logging.getLogger().handlers:
        assert not [f for f in handler.filters if type(f).__name__ == "SuppressFilter"]


def test_log_request_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_log, "log_fields", lambda _: 1 / 0)
    log_request(record(), emission_from_env())


# --------------------------------------------------------------------------- same line as Powertools' formatter

NOW = 1_763_812_345.0427  # a fixed clock for both renderings: 2025-11-22 11:52:25,042+0000
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
_NULL = object()


def powertools_line(rec: RequestRecord, created: float) -> str:
    """The line as the previous implementation made it: ``logger.log(level, "request", extra=fields)`` from
    ``log_request`` through ``LambdaPowertoolsFormatter(service=..., json_default=..., utc=True)``, None
    fields passed as a sentinel the ``json_default`` turns into null (Powertools drops None keys), and
    ``taskName`` removed by a filter. The ``LogRecord`` is made by ``Logger.makeRecord``, as ``Logger.log``
    does, with the function and line of the call in ``log_request`` that now writes the line: so
    ``location`` must come out equal too."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    formatter = LambdaPowertoolsFormatter(
        service=emission_from_env().service,
        json_default=lambda value: None if value is _NULL else str(value),
        utc=True,
    )
    level = logging.ERROR if rec.is_error else logging.WARNING if rec.status >= 400 else logging.INFO
    fields = {name: _NULL if value is None else value for name, value in log_fields(rec).items()}
    log_record = logging.getLogger(request_log.LOGGER_NAME).makeRecord(
        request_log.LOGGER_NAME,
        level,
        request_log.__file__,
        write_call_line(),
        request_log.MESSAGE,
        (),
        None,
        func="log_request",
        extra=fields,
    )
    log_record.created = created
    log_record.msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord computes it
    log_record.__dict__.pop("taskName", None)
    return formatter.format(log_record) + "\n"


def write_call_line() -> int:
    """The line number of ``writer.write(...)`` in ``log_request``."""
    source, first = inspect.getsourcelines(log_request)
    (offset,) = [i for i, text in enumerate(source) if "writer.write(" in text]
    return first + offset


def new_line(rec: RequestRecord, created: float, monkeypatch: pytest.MonkeyPatch) -> str:
    """The line ``log_request`` writes now, with its clock at ``created``."""
    clock = SimpleNamespace(time=lambda: created, strftime=time.strftime, gmtime=time.gmtime)
    with monkeypatch.context() as patch:
        patch.setattr(request_log, "time", clock)
        patch.setattr("sys.stdout", out := io.StringIO())
        log_request(rec, emission_from_env())
    return out.getvalue()


@pytest.mark.parametrize(
    "rec",
    [
        record(),
        RequestRecord(request_id="req_min", surface="anthropic", status=400, latency_ms=1.0),  # nulls; WARNING
        record(status=529, error_kind="overloaded_error", stream=True, ttft_ms=88.04, fallbacks=2, attempts=3),
        record(reason="modèle «gpt-4o» — ünïcode, \"quotes\", \\ and \n", client_model="sk-" "proj-LEAKED00000"),
        record(status=429, rate_limited=True, error_kind="rate_limit_error", breaker_open_seen=True, cost_usd=0.0),
    ],
    ids=["full", "minimal", "error", "escaping-and-scrubbing", "rate-limited"],
)
@pytest.mark.parametrize("trace", [TRACE, None], ids=["xray", "no-xray"])
def test_same_text_as_powertools_formatter(
    rec: RequestRecord, trace: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte for byte the line the previous implementation wrote: same keys, order, values, nulls, ``location``,
    and (on the same clock) ``timestamp``."""
    if trace:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    else:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    ours = new_line(rec, NOW, monkeypatch)
    assert ours == powertools_line(rec, NOW)
    parsed = json.loads(ours)
    assert list(parsed)[:5] == ["level", "location", "message", "timestamp", "service"]
    assert parsed["location"] == f"log_request:{write_call_line()}"
    assert parsed["timestamp"] == "2025-11-22 11:52:25,042+0000"
    assert parsed.get("xray_trace_id") == ("1-5759e988-bd862e3fe1be46a994272793" if trace else None)


def test_same_indented_text_under_powertools_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    """``POWERTOOLS_DEV`` made the formatter indent its JSON; the writer reads it once, when built, likewise."""
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    monkeypatch.setattr(request_log, "_writer", None)  # rebuilt under POWERTOOLS_DEV; the usual one comes back
    logger = logging.getLogger(request_log.LOGGER_NAME)
    handlers = logger.handlers
    try:
        ours = new_line(record(), NOW, monkeypatch)
    finally:
        logger.handlers = handlers  # within the test, so pytest's capture handler is removed from this list
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools warns that POWERTOOLS_DEV increases verbosity
        theirs = powertools_line(record(), NOW)
    assert ours == theirs
    assert ours.count("\n") > 20


def test_real_timestamp_is_powertools_default_format(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a fixed clock: ``%Y-%m-%d %H:%M:%S,<ms>+0000``, UTC, now."""
    before = datetime.now(UTC)
    log_request(record(), emission_from_env())
    (line,) = log_lines(capsys.readouterr().out)
    stamp = datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z")
    assert line["timestamp"][-8:-5].isdigit() and line["timestamp"][-9] == ","  # milliseconds, 3 digits
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= stamp <= datetime.now(UTC)


def test_timestamp_milliseconds_truncate_like_log_record() -> None:
    assert request_log._timestamp(NOW) == "2025-11-22 11:52:25,042+0000"
    assert request_log._timestamp(1_763_812_345.9999) == "2025-11-22 11:52:25,999+0000"
    assert request_log._timestamp(1_763_812_346.0) == "2025-11-22 11:52:26,000+0000"  # the cached second moves


def test_levels_still_turn_the_line_on_and_off(capsys: pytest.CaptureFixture[str]) -> None:
    """The ``aimux.requests`` logger still decides: its own level and ``logging.disable`` silence it; the
    root level (``AIMUX_LOG_LEVEL`` via ``basicConfig``) does not, since the logger has its own INFO."""
    logger = request_logger()
    root = logging.getLogger()
    root_level = root.level
    try:
        root.setLevel(logging.ERROR)
        log_request(record(), emission_from_env())
        assert len(log_lines(capsys.readouterr().out)) == 1
        logger.setLevel(logging.ERROR)
        log_request(record(), emission_from_env())
        log_request(record(status=529, error_kind="overloaded_error"), emission_from_env())
        assert [line["level"] for line in log_lines(capsys.readouterr().out)] == ["ERROR"]
        logger.setLevel(logging.INFO)
        logging.disable(logging.CRITICAL)
        log_request(record(status=529, error_kind="overloaded_error"), emission_from_env())
        assert log_lines(capsys.readouterr().out) == []
    finally:
        logging.disable(logging.NOTSET)
        logger.setLevel(logging.INFO)
        root.setLevel(root_level)


def test_the_line_goes_through_the_handlers_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written to the ``aimux.requests`` handler's stream (the current stdout), one write and a flush."""
    calls: list[Any] = []

    class Stream:
        def write(self, text: str) -> int:
            calls.append(text)
            return len(text)

        def flush(self) -> None:
            calls.append("flush")

    handler = request_log._line_writer().handler
    # pytest's log capture adds its own handlers to non-propagating loggers; the line skips those
    assert [h for h in request_logger().handlers if type(h) is logging.StreamHandler] == [handler]
    monkeypatch.setattr(handler, "stream", Stream())
    log_request(record(), emission_from_env())
    assert len(calls) == 2 and calls[1] == "flush"
    assert calls[0].endswith("}\n") and json.loads(calls[0])["request_id"] == "req_log_1"


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


# --------------------------------------------------------------------------- redaction (rules: tests/security)


def test_every_string_field_is_scrubbed() -> None:
    key = "sk-" "ant-api03-LEAKED0000000000"
    fields = log_fields(record(key_id=key, client_model=key, reason=f"model {key}", request_id=f"req {key}"))
    assert key not in json.dumps(fields)
    assert fields["key_id"] == "[redacted]"
