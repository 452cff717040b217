"""The ``bedrock`` dialect: Claude (and other models) on AWS Bedrock via Converse / ConverseStream.

Mapping lives in ``bedrock_mapping`` (requests) and ``bedrock_response`` (responses, the ConverseStream
decoder, errors); this module only talks to AWS:

- The boto3 ``bedrock-runtime`` client is created on first use, inside a worker thread (``import
  boto3`` costs cold-start time and client creation parses service models), then reused by the whole
  process, one per (region, endpoint, timeouts). Credentials come from the environment / Lambda role
  (boto3's default chain). botocore never retries (``total_max_attempts: 1``): aimux's router decides
  about retries and failover.
- boto3 is synchronous. ``converse`` runs in ``asyncio.to_thread``. ``converse_stream`` is read by a
  dedicated thread that feeds an asyncio queue, bounded by a semaphore so a slow client applies
  back-pressure; the event loop never blocks. Closing the iterator (``aclose``) shuts the socket
  down and closes the EventStream, which cancels the upstream request.
- Timeouts (``transport.Timeouts``): ``connect``; the streaming client's read timeout is
  ``max(first_byte, idle)`` (botocore has one per-read timeout); a non-streaming call waits
  ``Timeouts.headers_within(max_tokens)`` (Converse sends nothing until it has generated the whole
  answer), its worker thread's read timeout a little more, rounded up to a power of two (one client
  per value); streams also stop at the ``total`` deadline.
- Failures: ``ClientError``/in-stream exception events → ``bedrock_error`` (AccessDenied and other
  credential problems → 502, never 401/403); connection failures → retryable 500; read timeouts →
  504; a request botocore refuses to send → 400; an answer or event that botocore cannot parse or
  that breaks the Converse schema → ``malformed_answer`` (retryable 502). Messages never carry
  credentials or prompt text.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..accounting.tokens import estimate_input_tokens
from ..errors import AimuxError, UpstreamError
from ..presets import ProviderPreset
from ..translate.provenance_key import ensure_provenance_key
from ..translate.thinking import prepare_thinking
from ..translate.upstream_errors import PARSE_FAULTS, auth_failure, connection_error, malformed_answer, timeout_error
from ..wire.anthropic import EventStream, Message, MessagesRequest
from .base import UpstreamCall
from .bedrock_mapping import converse_request, response_tool_names
from .bedrock_response import ConverseStreamDecoder, bedrock_error, converse_message
from .prompt_cache import caches_on_bedrock, settings_for_call
from .transport import Timeouts

log = logging.getLogger(__name__)

QUEUE_SIZE = 64  # stream events buffered ahead of a slow consumer
_POLL = 0.25  # how often a blocked pump thread checks whether the consumer went away

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()
_session: Any = None


def bedrock_client(region: str | None, endpoint_url: str | None, connect_timeout: float, read_timeout: float) -> Any:
    """The process-wide ``bedrock-runtime`` client for these settings (created on first use)."""
    global _session
    key = (region, endpoint_url, connect_timeout, read_timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3  # lazily: keeps it off the cold-start path of requests that never reach Bedrock
            from botocore.config import Config

            if _session is None:
                _session = boto3.session.Session()
            config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=64,
                tcp_keepalive=True,
            )
            client = _session.client("bedrock-runtime", region_name=region, endpoint_url=endpoint_url, config=config)
            _clients[key] = client
        return client


class BedrockProvider:
    """Bedrock Converse as a ``Provider`` (see ``providers.base`` for the contract)."""

    def __init__(
        self,
        name: str,
        preset: ProviderPreset,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.name = name
        self.preset = preset
        self.region = region
        self.endpoint_url = endpoint_url
        self.timeouts = timeouts or Timeouts()
        self._client = client

    # -- Provider -------------------------------------------------------------------------------

    async def create(self, call: UpstreamCall) -> Message:
        if self.preset.reasoning == "echo":  # verifies aimux signatures in the history
            await ensure_provenance_key()
        _, kwargs, names = self._prepare(call)
        t = self.timeouts
        wait = t.headers_within(call.request.max_tokens)
        # the thread's own read timeout frees it soon after this coroutine gave up (never before)
        read_timeout = _bucketed(max(wait + t.connect, t.idle), t.total + t.connect)

        def run() -> Any:
            return self._client_for(read_timeout=read_timeout).converse(**kwargs)

        try:
            async with asyncio.timeout(wait + t.connect):
                response = await asyncio.to_thread(run)
        except TimeoutError:
            raise timeout_error(self.name, f"no answer within {wait:g}s") from None
        except Exception as exc:
            raise self._failure(exc) from None
        if not isinstance(response.get("output"), dict) or "stopReason" not in response:
            # botocore turns an unparseable body into {"message": <body>} instead of failing
            raise malformed_answer(self.name, "answered a malformed Converse response")
        try:
            return converse_message(
                response, model=call.request.model, message_id=_message_id(response), tool_names=names
            )
        except PARSE_FAULTS as exc:  # a part of the wrong type that botocore passed through
            raise malformed_answer(self.name, "answered a malformed Converse response", exc) from None

    async def stream(self, call: UpstreamCall) -> EventStream:
        if self.preset.reasoning == "echo":
            await ensure_provenance_key()
        request, kwargs, names = self._prepare(call)
        t = self.timeouts
        read_timeout = max(t.first_byte, t.idle)
        loop = asyncio.get_running_loop()
        pump = _StreamPump(loop)
        threading.Thread(  # in the request's context, as asyncio.to_thread would (redaction of the caller's key)
            target=contextvars.copy_context().run,
            args=(pump.run, lambda: self._client_for(read_timeout=read_timeout).converse_stream(**kwargs)),
            name=f"aimux-{self.name}-stream",
            daemon=True,
        ).start()
        deadline = loop.time() + t.total
        decoder: ConverseStreamDecoder | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(max(0.0, deadline - loop.time())):
                        kind, payload = await pump.get()
                except TimeoutError:
                    raise timeout_error(self.name, f"stream exceeded the {t.total:g}s total deadline") from None
                if kind == "open":
                    decoder = ConverseStreamDecoder(
                        provider=self.name,
                        model=call.request.model,
                        message_id=_message_id(payload),
                        input_tokens=estimate_input_tokens(request),
                        tool_names=names,
                    )
                elif kind == "event":
                    assert decoder is not None
                    try:
                        events = decoder.feed(payload)
                    except PARSE_FAULTS as exc:  # an event part of the wrong type
                        raise malformed_answer(self.name, "streamed a malformed ConverseStream event", exc) from None
                    for event in events:
                        yield event
                elif kind == "error":
                    raise self._failure(payload)
                else:  # end of the EventStream
                    if decoder is None:
                        raise connection_error(self.name, "stream ended before it started")
                    for event in decoder.finish():
                        yield event
                    return
        finally:
            pump.close()

    # -- internals ------------------------------------------------------------------------------

    def _client_for(self, *, read_timeout: float) -> Any:
        if self._client is not None:
            return self._client
        return bedrock_client(self.region, self.endpoint_url, self.timeouts.connect, read_timeout)

    def _prepare(self, call: UpstreamCall) -> tuple[MessagesRequest, dict[str, Any], dict[str, str]]:
        """The request Bedrock may see (thinking provenance, output cap) and its Converse arguments."""
        request = prepare_thinking(call.request, self.preset.reasoning)
        cap = self.preset.max_tokens_cap
        if cap is not None and request.max_tokens > cap:
            request = request.model_copy(update={"max_tokens": cap})
        settings = settings_for_call(call, self.preset) if caches_on_bedrock(call.model) else None
        plan = settings.plan(request) if settings is not None else None
        kwargs = converse_request(request, call.model, betas=self._betas(call.context.betas), cache=plan)
        return request, kwargs, response_tool_names(request)

    def _betas(self, values: Iterable[str]) -> list[str]:
        """``anthropic-beta`` flags filtered by the preset: unknown betas fail a Bedrock request."""
        flags = [flag.strip() for value in values for flag in value.split(",") if flag.strip()]
        if self.preset.beta_policy == "forward":
            return flags
        if self.preset.beta_policy == "allowlist":
            return [flag for flag in flags if flag in self.preset.allowed_betas]
        return []

    def _failure(self, exc: BaseException) -> AimuxError:
        """The typed error for anything boto3, botocore or urllib3 raised."""
        if isinstance(exc, AimuxError):
            return exc
        # botocore is loaded by the failed call; at module level it would load with every adapter (cold start).
        from botocore import exceptions as bx
        from botocore.eventstream import ParserError
        from urllib3 import exceptions as ux

        if isinstance(exc, bx.ClientError):  # HTTP errors and in-stream exception events
            error = exc.response.get("Error") or {}
            meta: Mapping[str, Any] = exc.response.get("ResponseMetadata") or {}
            status = meta.get("HTTPStatusCode")
            return bedrock_error(
                self.name,
                str(error.get("Code") or "UnknownError"),
                error.get("Message"),
                http_status=status if isinstance(status, int) and status >= 400 else None,
                headers=meta.get("HTTPHeaders") or {},
            )
        if isinstance(exc, bx.ConnectTimeoutError):
            return timeout_error(self.name, f"connect timed out after {self.timeouts.connect:g}s")
        if isinstance(exc, bx.ReadTimeoutError | ux.ReadTimeoutError):
            return timeout_error(self.name, "no data within the read timeout")
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
            return auth_failure(self.name, None, "the gateway has no usable AWS credentials")
        if isinstance(exc, bx.NoRegionError):
            return UpstreamError(
                f"upstream {self.name}: no AWS region configured", provider=self.name, retryable=False, status=500
            )
        if isinstance(exc, bx.ParamValidationError):
            params = ", ".join(sorted(set(re.findall(r"parameter ([\w.\[\]]+)", str(exc))))[:5]) or "input"
            message = f"upstream {self.name}: request rejected by the AWS client (invalid {params})"
            return UpstreamError(message, provider=self.name, retryable=False, status=400, kind="invalid_request_error")
        if isinstance(exc, bx.EndpointConnectionError):
            return connection_error(self.name, "connection failed")
        if isinstance(exc, bx.HTTPClientError | bx.ConnectionError | ux.HTTPError | OSError):
            return connection_error(self.name, f"connection broken ({type(exc).__name__})")
        if isinstance(exc, bx.BotoCoreError | ParserError):  # unparseable answers, event-stream CRC errors
            return malformed_answer(self.name, f"answered something botocore cannot parse ({type(exc).__name__})")
        if isinstance(exc, PARSE_FAULTS):  # botocore's parser meeting a part of the wrong type
            return malformed_answer(self.name, "answered a malformed Converse response", exc)
        log.error("bedrock: unexpected %s from boto3", type(exc).__name__, exc_info=exc)
        message = f"upstream {self.name}: unexpected client failure ({type(exc).__name__})"
        return UpstreamError(message, provider=self.name, retryable=False)


def _bucketed(seconds: float, ceiling: float) -> float:
    """``seconds`` rounded up to a power of two (at most ``ceiling``): the worker thread's read timeout
    for a buffered call, from a few values, since each one is a boto3 client of its own."""
    return min(ceiling, float(2 ** math.ceil(math.log2(max(seconds, 1.0)))))


def _message_id(response: Any) -> str:
    """``msg_`` + the AWS request id (so a message can be traced in AWS logs), else random."""
    meta = response.get("ResponseMetadata") if isinstance(response, dict) else None
    request_id = meta.get("RequestId") if isinstance(meta, dict) else None
    token = re.sub(r"[^A-Za-z0-9]", "", request_id or "")
    return "msg_" + (token or secrets.token_hex(12))


class _StreamPump:
    """Reads a boto3 EventStream in a thread and hands items to the event loop.

    Items: ``("open", {"ResponseMetadata": …})``, ``("event", dict)`` (each takes one of ``QUEUE_SIZE``
    slots, given back when consumed), ``("error", exception)``, ``("end", None)``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.slots = threading.Semaphore(QUEUE_SIZE)
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None

    def run(self, start: Callable[[], Any]) -> None:
        """The thread body: open the stream, forward its events, report how it ended."""
        try:
            response = start()
            stream = response["stream"]
            with self._lock:
                self._stream = stream
            if self.closed.is_set():  # the consumer left while the request was being sent
                _shut(stream)
                return
            self._send("open", {"ResponseMetadata": response.get("ResponseMetadata") or {}})
            for event in stream:
                while not self.slots.acquire(timeout=_POLL):
                    if self.closed.is_set():
                        return
                if self.closed.is_set():
                    return
                self._send("event", event)
            self._send("end", None)
        except BaseException as exc:  # handed to the consumer, which types it
            if not self.closed.is_set():
                self._send("error", exc)

    async def get(self) -> tuple[str, Any]:
        item = await self.queue.get()
        if item[0] == "event":
            self.slots.release()
        return item

    def close(self) -> None:
        """Stop the thread and cancel the upstream request (idempotent)."""
        self.closed.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            _shut(stream)

    def _send(self, kind: str, payload: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, payload))
        except RuntimeError:  # the loop is gone: nobody is listening any more
            self.closed.set()


def _shut(stream: Any) -> None:
    """Close an EventStream so that a read blocked in another thread wakes up now."""
    raw = getattr(stream, "_raw_stream", None)
    try:
        shutdown = getattr(raw, "shutdown", None)  # urllib3 >= 2.3: shuts the socket down
        if callable(shutdown):
            shutdown()
        stream.close()
    except Exception:  # closing is best effort; the thread also stops at its next read
        log.debug("bedrock: error while closing a stream", exc_info=True)
