"""One JSON log line per request, in Powertools' log format, with no prompt text and no keys.

The line is built only from a ``RequestRecord`` (which has no field for content or keys), and every
string in it goes through ``scrub`` in case a caller put a key where an id belongs.

Why not ``Logger(service="aimux")``: a Powertools ``Logger`` *is* the stdlib logger named after its
service, so it would attach its handler to the whole ``aimux.*`` tree (turning every module's log into
JSON on stdout, pinning their level to INFO) and add a filter to the root handlers that hides
``aimux.*`` records from them (``aimux serve``'s console). Instead the line goes through Powertools'
own formatter (``LambdaPowertoolsFormatter``: same keys, ``level``/``location``/``message``/
``timestamp``/``service``/``xray_trace_id``) on a private logger, ``aimux.requests``, that does not
propagate. Nothing is bound on the logger per request (no ``append_keys``/``set_correlation_id``,
which are shared state, the same trap as a shared ``Metrics``): every field travels in ``extra``.

Request ids in the line:
- ``request_id``: aimux's own id, the one the client sees in ``request-id`` and quotes.
- ``function_request_id``: Lambda's request id. Buffered path (Mangum): ``scope["aws.context"]
  .aws_request_id``. Streaming path (Lambda Web Adapter): ``request_id`` in the JSON header
  ``x-amzn-lambda-context``.
- ``correlation_id``: the API Gateway / function URL request id. Mangum: ``scope["aws.event"]
  ["requestContext"]["requestId"]``; LWA: ``requestId`` in the JSON header ``x-amzn-request-context``;
  otherwise an ``x-amzn-request-id`` header if a proxy set one.
Headers can be sent by a client too (LWA forwards client headers), so these ids are for correlation
only and are accepted only when they look like ids (``_ID``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .metrics import service_name

if TYPE_CHECKING:
    from .record import RequestRecord

LOGGER_NAME = "aimux.requests"
MESSAGE = "request"
_SECRET = re.compile(
    r"(?<![A-Za-z0-9])(?:sk|amx)-[A-Za-z0-9_\-]{6,}"  # Anthropic/OpenAI (sk-ant-…, sk-proj-…) and aimux keys
    r"|(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"
)
_ID = re.compile(r"[A-Za-z0-9._:=+/\-]{1,128}")
_MAX_CONTEXT_HEADER = 16_384
_NULL = object()  # a field with no value: kept (as JSON null) where Powertools would drop a None
_logger: logging.Logger | None = None


def scrub(text: str) -> str:
    """``text`` with anything shaped like an API key, AWS key id or bearer token replaced."""
    return _SECRET.sub("[redacted]", text)


# --------------------------------------------------------------------------- ids


def lambda_ids(scope: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(Lambda request id, API Gateway/function URL request id) of an ASGI request; None where unknown."""
    function_id = _valid(getattr(scope.get("aws.context"), "aws_request_id", None))
    event = scope.get("aws.event")
    edge_id = None
    if isinstance(event, Mapping):
        context = event.get("requestContext")
        edge_id = _valid(context.get("requestId")) if isinstance(context, Mapping) else None
    if function_id and edge_id:
        return function_id, edge_id
    headers = _headers(scope)
    function_id = function_id or _valid(_json_field(headers.get(b"x-amzn-lambda-context"), "request_id"))
    edge_id = (
        edge_id
        or _valid(_json_field(headers.get(b"x-amzn-request-context"), "requestId"))
        or _valid(_text(headers.get(b"x-amzn-request-id")))
    )
    return function_id, edge_id


def _headers(scope: Mapping[str, Any]) -> dict[bytes, bytes]:
    wanted = (b"x-amzn-lambda-context", b"x-amzn-request-context", b"x-amzn-request-id")
    found: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        lowered = bytes(name).lower()
        if lowered in wanted and lowered not in found:
            found[lowered] = bytes(value)
    return found


def _json_field(raw: bytes | None, field: str) -> Any:
    if not raw or len(raw) > _MAX_CONTEXT_HEADER:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value.get(field) if isinstance(value, dict) else None


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw else None


def _valid(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


# --------------------------------------------------------------------------- the line


def log_fields(record: RequestRecord) -> dict[str, Any]:
    """The request's fields for the log line, scrubbed, in a stable order; missing values are null."""
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "function_request_id": record.function_request_id,
        "correlation_id": record.correlation_id,
        "key_id": record.key_id,
        "surface": record.surface,
        "client_model": record.client_model,
        "scenario": record.scenario,
        "route": record.route,
        "reason": record.reason,
        "provider": record.provider,
        "model": record.model,
        "attempts": record.attempts,
        "fallbacks": record.fallbacks,
        "status": record.status,
        "error_kind": record.error_kind,
        "stream": record.stream,
        "latency_ms": round(record.latency_ms, 1),
        "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 1),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cache_read_tokens": record.cache_read_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "cost_usd": round(record.cost_usd, 9),
        "breaker_open_seen": record.breaker_open_seen,
        "rate_limited": record.rate_limited,
    }
    return {name: scrub(value) if isinstance(value, str) else value for name, value in fields.items()}


def log_request(record: RequestRecord) -> None:
    """Write the request's one log line (INFO; WARNING for 4xx; ERROR for errors). Never raises."""
    try:
        fields = {name: _NULL if value is None else value for name, value in log_fields(record).items()}
        level = logging.ERROR if record.is_error else logging.WARNING if record.status >= 400 else logging.INFO
        request_logger().log(level, MESSAGE, extra=fields)
    except Exception:
        logging.getLogger("aimux.metrics").warning("request log line not written", exc_info=True)


def request_logger() -> logging.Logger:
    """The private ``aimux.requests`` logger with Powertools' JSON formatter (built on first use)."""
    global _logger
    if _logger is None:
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        logger = logging.getLogger(LOGGER_NAME)
        handler = logging.StreamHandler(_CurrentStdout())
        handler.setFormatter(LambdaPowertoolsFormatter(service=service_name(), json_default=_json_default, utc=True))
        handler.addFilter(_without_task_name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _logger = logger
    return _logger


def _without_task_name(record: logging.LogRecord) -> bool:
    """Python 3.12+ records carry the asyncio task's name, which the formatter would print as noise."""
    record.__dict__.pop("taskName", None)
    return True


def _json_default(value: Any) -> Any:
    return None if value is _NULL else str(value)


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is now, so redirected or captured stdout receives the line."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()
