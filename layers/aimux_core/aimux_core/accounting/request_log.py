"""One JSON log line per request, in Powertools' log format, with no prompt text and no keys.

The line is built only from a ``RequestRecord`` (which has no field for content or keys), and every
string in it goes through ``redaction.redact`` (known keys by value, the caller's key, key shapes) in
case a caller put a key where an id belongs.

The line is the one Powertools' ``LambdaPowertoolsFormatter`` (``utc=True``) makes of
``logger.log(level, "request", extra=fields)``: its keys ``level``/``location``/``message``/``timestamp``/
``service``, then the request's fields in a fixed order (missing values as null, not dropped), then
``xray_trace_id`` when ``_X_AMZN_TRACE_ID`` is set; compact JSON, or indented under ``POWERTOOLS_DEV``
(``Emission.pretty_logs``; the service name is ``Emission.service``, both the process's settings).
It is no longer made *by* that formatter: a ``LogRecord``, the formatter's generic key handling and the
JSON ``default`` hook for nulls cost several times what building the dict and one ``json`` encode do,
on every request. ``_LineWriter`` builds the dict itself and writes it with a newline to the stream of
its ``aimux.requests`` handler (the current ``sys.stdout``), under the handler's lock, and flushes, as
``StreamHandler`` would; a test renders the same record both ways and requires the same text. As no
``LogRecord`` exists, other handlers added to ``aimux.requests`` (pytest's log capture attaches to
non-propagating loggers) do not see the line. Powertools is not imported.

Why not ``Logger(service="aimux")``: a Powertools ``Logger`` *is* the stdlib logger named after its
service, so it would attach its handler to the whole ``aimux.*`` tree (turning every module's log into
JSON on stdout, pinning their level to INFO) and add a filter to the root handlers that hides
``aimux.*`` records from them (``aimux serve``'s console). Instead the line goes to a private logger,
``aimux.requests``, at INFO, that does not propagate (so ``AIMUX_LOG_LEVEL`` does not silence it), and
whose ``isEnabledFor`` still decides whether a line is written: its own level, ``logging.disable`` and
``disabled`` turn it off as before. Nothing is bound per request (no ``append_keys``/
``set_correlation_id``, which are shared state, the same trap as a shared ``Metrics``): every field
comes from the record.

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
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..redaction import redact
from ..wire.json_bytes import compact_json
from .metrics import Emission

if TYPE_CHECKING:
    from .record import RequestRecord

LOGGER_NAME = "aimux.requests"
MESSAGE = "request"
_ID = re.compile(r"[A-Za-z0-9._:=+/\-]{1,128}")
_MAX_CONTEXT_HEADER = 16_384
XRAY_TRACE_ENV = "_X_AMZN_TRACE_ID"  # Powertools' constants.XRAY_TRACE_ID_ENV
_PRETTY_INDENT = 4  # Powertools' constants.PRETTY_INDENT
_writer: _LineWriter | None = None
_clock: tuple[int, str] = (-1, "")  # (a second, its "%Y-%m-%d %H:%M:%S" in UTC) for _timestamp


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
    """The request's fields for the log line, redacted, in a stable order; missing values are null."""
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "function_request_id": record.function_request_id,
        "correlation_id": record.correlation_id,
        "key_id": record.key_id,
        "project": record.project,
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
        "cache": record.cache,
        "cache_reason": record.cache_reason,
        "dedup": record.dedup,
        "cache_saved_usd": round(record.cache_saved_usd, 9),
        "cache_savings_usd": round(record.cache_savings_usd, 9),
        "tokens_removed": record.tokens_removed,
    }
    strings = [value for value in fields.values() if isinstance(value, str)]
    probe = "\x00".join(strings)  # one pass over all of them: no secret or key shape spans a NUL
    if redact(probe) == probe:
        return fields
    return {name: redact(value) if isinstance(value, str) else value for name, value in fields.items()}


def log_request(record: RequestRecord, emission: Emission = Emission()) -> None:
    """Write the request's one log line (INFO; WARNING for 4xx; ERROR for errors). Never raises."""
    try:
        level = logging.ERROR if record.is_error else logging.WARNING if record.status >= 400 else logging.INFO
        writer = _line_writer()
        if writer.logger.isEnabledFor(level):  # the logger's level, logging.disable(), logger.disabled
            writer.write(level, log_fields(record), emission)
    except Exception:
        logging.getLogger("aimux.metrics").warning("request log line not written", exc_info=True)


def request_logger() -> logging.Logger:
    """The private ``aimux.requests`` logger: INFO, not propagating, one handler on the current stdout."""
    return _line_writer().logger


def _line_writer() -> _LineWriter:
    """The process's one writer, built on first use (not at import: importing must stay cheap)."""
    global _writer
    if _writer is None:
        _writer = _LineWriter()
    return _writer


class _LineWriter:
    """Writes the line as Powertools' ``LambdaPowertoolsFormatter`` (``utc=True``) would format
    ``logger.log(level, MESSAGE, extra=fields)``, straight to the ``aimux.requests`` handler's stream.

    The service name and the indentation come with each line (``Emission``: the process's settings).
    The X-Ray trace id is read per line, as Powertools does: on Lambda the runtime sets
    ``_X_AMZN_TRACE_ID`` for each invocation.
    """

    __slots__ = ("compact", "handler", "logger", "pretty")

    def __init__(self) -> None:
        self.handler = logging.StreamHandler(_CurrentStdout())
        logger = logging.getLogger(LOGGER_NAME)
        logger.handlers = [self.handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self.logger = logger
        # Powertools' json.dumps arguments; default=str is its json_default (compact_json: the same text)
        self.compact = _compact_text
        self.pretty = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, default=str, indent=_PRETTY_INDENT
        ).encode

    def write(self, level: int, fields: Mapping[str, Any], emission: Emission) -> None:
        """One line: Powertools' keys, then ``fields`` in order (None as null), then the trace id if any.

        ``location`` is the caller's ``function:line``, what ``%(funcName)s:%(lineno)d`` gives for a
        logging call made there.
        """
        caller = sys._getframe(1)
        line = {
            "level": logging.getLevelName(level),
            "location": f"{caller.f_code.co_name}:{caller.f_lineno}",
            "message": MESSAGE,
            "timestamp": _timestamp(time.time()),
            "service": emission.service,
            **fields,
        }
        trace = os.environ.get(XRAY_TRACE_ENV)
        if trace:
            line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "")
        text = (self.pretty if emission.pretty_logs else self.compact)(line) + "\n"
        handler = self.handler
        handler.acquire()  # what StreamHandler.handle holds: lines from two threads never interleave
        try:
            stream = handler.stream
            stream.write(text)
            stream.flush()  # as StreamHandler.emit does: the line is out before Lambda freezes the process
        finally:
            handler.release()


def _compact_text(line: Mapping[str, Any]) -> str:
    return compact_json(line, fallback=str).decode()


def _timestamp(now: float) -> str:
    """``now`` as Powertools' default ``%Y-%m-%d %H:%M:%S,%F%z`` in UTC: ``2024-05-01 12:00:00,123+0000``.

    Milliseconds are truncated, like ``LogRecord.msecs``. ``strftime`` is most of the cost and its part
    changes once a second, so it is cached; the cache is one tuple, so a thread never sees a torn pair.
    """
    global _clock
    second = int(now)
    cached_second, prefix = _clock
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        _clock = (second, prefix)
    return f"{prefix},{int((now - second) * 1000):03d}+0000"


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is now, so redirected or captured stdout receives the line."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()
