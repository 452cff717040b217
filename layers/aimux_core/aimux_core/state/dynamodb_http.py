"""DynamoDB's JSON API over aiohttp, signed with SigV4 here: what ``DynamoStore`` calls unless given a boto3 client.

Why: through botocore each call cost about 1 ms of CPU (model-driven serialisation and parsing, event
hooks, signing, urllib3, a worker-thread hop), and a warm request with a key makes 8 calls (2 before the
upstream call, 6 after: rate windows, spend, usage, breaker, health): on Lambda the state store's client,
not the gateway, was most of a request's CPU. The store already builds DynamoDB's low-level JSON
(``dynamodb_expressions``), so a call is: that JSON, four signed headers, one POST on a pooled connection.

Contract (``DynamoHttp.call``): the decoded response, shaped as boto3's low-level client returns it
(``B`` values as ``bytes``), or the ``Store`` contract's exceptions, mapped as ``dynamodb_client.translate``
maps botocore's: ``ConditionalCheckFailedException`` → ``ConditionRefused`` (with the item DynamoDB
returned), ``TransactionCanceledException`` → ``TransactionCancelled``, throttling / 5xx / timeouts /
connection failures → ``StoreUnavailable``, ``ValidationException`` → ``ValueError`` (``TypeError`` for
an ADD to a non-numeric attribute), the rest (no credentials, a missing table, denied access) →
``StoreError``. The same limits as the boto3 client: 2 s to connect, 2 s of silence, at most 2 attempts
(throttling, 5xx and connection failures retried once, after a jittered pause); a transaction carries a
``ClientRequestToken`` so its retry is idempotent; a response whose ``x-amz-crc32`` does not match its
body is retried like a transient failure. Each retry is a warning naming the operation and the failure's
kind (an error code or exception type, never keys or values): an ADD retried after a read timeout may
have landed the first time and then counts twice, as it does through botocore's retries.

Credentials: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` from the environment
(what Lambda sets), read per call; without them, botocore's credential chain (profiles, SSO, instance
roles), loaded once and refreshed by botocore. Region: the store's, else ``AWS_REGION`` /
``AWS_DEFAULT_REGION``. Endpoint: the store's, else ``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL``
(as botocore reads them), else the region's public one. ``tests/state/test_state_dynamodb_http.py`` holds
the signature equal to botocore's and the errors and retries to this contract; the store contract runs on
this client against moto and dynalite (``test_state_store_contract.py``).

The session: one per event loop (pooled connections belong to the loop that opened them; a store may be
used from several loops in several threads at once), created on the loop's first call (aiohttp imported
then, not at import: Lambda cold start), closed when that loop shuts down (``_closed_at_shutdown``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import time
import uuid
import weakref
import zlib
from collections.abc import AsyncGenerator, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .dynamodb_client import (
    CONNECT_TIMEOUT_SECONDS,
    POOL_SIZE,
    READ_TIMEOUT_SECONDS,
    TOTAL_MAX_ATTEMPTS,
    UNAVAILABLE_CODES,
    translate_client_error,
)
from .store import StoreError, StoreUnavailable

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

API_VERSION = "DynamoDB_20120810"
_CONTENT_TYPE = "application/x-amz-json-1.0"
_RETRY_PAUSE_SECONDS = 0.05  # the upper bound of the one jittered pause before the second attempt
_BLOB_HOLDERS = frozenset({"Item", "Items", "Attributes"})


class _Credentials(SimpleNamespace):
    access_key: str
    secret_key: str
    token: str | None


class DynamoHttp:
    """Calls for one endpoint and region (see the module docstring)."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
        self.endpoint_url = (endpoint_url or f"https://dynamodb.{self.region}.amazonaws.com").rstrip("/")
        parts = urlsplit(self.endpoint_url)
        self._host = parts.netloc
        self._path = parts.path or "/"
        self._keys: dict[tuple[str, str], bytes] = {}  # (secret, date) -> signing key
        self._botocore_credentials: Any = None
        self._limits: aiohttp.ClientTimeout | None = None
        # one session per event loop: a store may be used from several loops (threads) at once, and a session
        # (its pooled connections) belongs to the loop that made it
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, Any]] = (
            weakref.WeakKeyDictionary()
        )

    async def call(self, operation: str, params: Mapping[str, Any], pk: str = "", sk: str = "") -> dict[str, Any]:
        """One DynamoDB operation (``get_item``, ``update_item``...) with boto3's parameter names."""
        target = "".join(part.title() for part in operation.split("_"))
        if target == "TransactWriteItems" and "ClientRequestToken" not in params:
            params = {**params, "ClientRequestToken": str(uuid.uuid4())}
        body = json.dumps(params, separators=(",", ":"), default=_blob).encode()
        for attempt in range(1, TOTAL_MAX_ATTEMPTS + 1):
            try:
                return await self._attempt(operation, target, body, pk, sk)
            except _Transient as transient:
                if attempt == TOTAL_MAX_ATTEMPTS:
                    raise StoreUnavailable(f"DynamoDB {operation} on ({pk!r}, {sk!r}): {transient}") from None
                log.warning("DynamoDB %s: attempt %d failed (%s), retrying", target, attempt, transient.kind)
                await asyncio.sleep(random.uniform(0, _RETRY_PAUSE_SECONDS))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, operation: str, target: str, body: bytes, pk: str, sk: str) -> dict[str, Any]:
        import aiohttp  # loaded by the session already

        headers = self._signed_headers(target, body)
        try:
            async with self.session().post(
                self.endpoint_url, data=body, headers=headers, timeout=self._timeout()
            ) as response:
                content = response.content
                # the whole body came with the headers (every small answer): taken without the read's wait
                raw = content.read_nowait() if content.is_eof() else await response.read()
                status = response.status
                crc = response.headers.get("x-amz-crc32")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(type(exc).__name__) from None
        if crc is not None and crc.isdigit() and int(crc) != zlib.crc32(raw):
            raise _Transient("ChecksumMismatch", "the response's x-amz-crc32 does not match its body")
        try:
            payload: dict[str, Any] = json.loads(raw) if raw else {}
        except ValueError:
            if status >= 500:
                raise _Transient(f"HTTP{status}", "not JSON") from None
            raise StoreError(f"DynamoDB {operation}: HTTP {status}, not JSON") from None
        if status == 200:
            return _with_blobs(payload)
        code = str(payload.get("__type", "")).rpartition("#")[2]
        if code in UNAVAILABLE_CODES or status >= 500:
            raise _Transient(code or f"HTTP{status}", payload.get("message") or payload.get("Message") or "")
        response_like = {
            **_with_blobs(payload),
            "Error": {"Code": code, "Message": payload.get("message") or payload.get("Message") or ""},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        raise translate_client_error(SimpleNamespace(response=response_like), operation, pk, sk)

    # --- the session ---

    def session(self) -> aiohttp.ClientSession:
        """The running loop's session (made on its first call; closed when the loop shuts down)."""
        loop = asyncio.get_running_loop()
        found = self._sessions.get(loop)
        if found is None or found[0].closed:
            import aiohttp  # first call of the store: aiohttp is used now, not at import (cold start)

            connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=60.0)
            session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
            found = self._sessions[loop] = (session, _closed_at_shutdown(session))
        return found[0]

    async def close(self) -> None:
        """Close the running loop's session now."""
        found = self._sessions.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[0].close()

    def _timeout(self) -> aiohttp.ClientTimeout:
        """The call's limits (the same for every call: made once)."""
        if self._limits is None:
            import aiohttp  # loaded by the session already

            c, r = CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
            self._limits = aiohttp.ClientTimeout(total=c + r + 1.0, connect=c, sock_connect=c, sock_read=r)
        return self._limits

    # --- SigV4 ---

    def _signed_headers(self, target: str, body: bytes, now: float | None = None) -> dict[str, str]:
        """The request's headers with the SigV4 ``Authorization`` (service ``dynamodb``, path ``/``)."""
        if not self.region:
            raise StoreError("DynamoDB: no region (set AWS_REGION or pass one)")
        creds = self._credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = amz_date[:8]
        headers = {
            "content-type": _CONTENT_TYPE,
            "host": self._host,
            "x-amz-date": amz_date,
            "x-amz-target": f"{API_VERSION}.{target}",
        }
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        names = sorted(headers)
        signed = ";".join(names)
        canonical = "\n".join(
            (
                "POST",
                self._path,
                "",
                "".join(f"{name}:{headers[name].strip()}\n" for name in names),
                signed,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{self.region}/dynamodb/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        del headers["host"]  # aiohttp writes Host itself, from the URL: the same value
        headers["accept-encoding"] = "identity"  # x-amz-crc32 is of the bytes as sent: no compression
        return headers

    def _signing_key(self, secret: str, day: str) -> bytes:
        found = self._keys.get((secret, day))
        if found is None:
            key = f"AWS4{secret}".encode()
            for part in (day, self.region or "", "dynamodb", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day): key}  # one entry: yesterday's key is never needed again
            found = key
        return found

    def _credentials(self) -> _Credentials:
        access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if access and secret:
            return _Credentials(access_key=access, secret_key=secret, token=os.environ.get("AWS_SESSION_TOKEN"))
        if self._botocore_credentials is None:
            import botocore.session  # only without credentials in the environment (not on Lambda)

            self._botocore_credentials = botocore.session.get_session().get_credentials()
            if self._botocore_credentials is None:
                raise StoreError("DynamoDB: no AWS credentials found")
        frozen = self._botocore_credentials.get_frozen_credentials()
        return _Credentials(access_key=frozen.access_key, secret_key=frozen.secret_key, token=frozen.token)


def _closed_at_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """An async generator, started here, that closes ``session`` when the running loop shuts its async
    generators down (``asyncio.run`` and ``asyncio.Runner`` do, before closing the loop): so a loop that
    ends (a CLI command, a test, a thread's server) leaves no open session or pooled socket behind. The
    caller keeps it referenced for as long as the session lives (the loop holds it weakly)."""

    async def keeper() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await session.close()

    started = keeper()
    with contextlib.suppress(StopIteration):
        started.asend(None).send(None)  # runs it to its ``yield``: the loop registers it (its first-iter hook)
    return started


_shared: dict[tuple[str | None, str | None], DynamoHttp] = {}


def shared_http(endpoint_url: str | None, region: str | None) -> DynamoHttp:
    """The process's client for this endpoint and region (its session and signing keys are shared)."""
    client = _shared.get((endpoint_url, region))
    if client is None:
        client = _shared[(endpoint_url, region)] = DynamoHttp(endpoint_url, region)
    return client


class _Transient(Exception):
    """A failure worth the second attempt (throttling, 5xx, a connection failure or timeout).

    ``kind``: an error code, an exception's type or ``HTTP<status>``, the only part that is logged;
    ``detail``: DynamoDB's message, for the ``StoreUnavailable`` raised after the last attempt.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind} {detail}".strip())
        self.kind = kind


def _blob(value: Any) -> str:
    """``json.dumps``' default: a ``B`` value is base64 text on the wire."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _with_blobs(payload: dict[str, Any]) -> dict[str, Any]:
    """``B`` values of the response's items back to ``bytes``, as boto3 returns them."""
    for name in _BLOB_HOLDERS & payload.keys():
        value = payload[name]
        payload[name] = [_item_blobs(item) for item in value] if isinstance(value, list) else _item_blobs(value)
    reasons = payload.get("CancellationReasons")
    if isinstance(reasons, list):
        for reason in reasons:
            if isinstance(reason, dict) and isinstance(reason.get("Item"), dict):
                reason["Item"] = _item_blobs(reason["Item"])
    return payload


def _item_blobs(item: Any) -> Any:
    if isinstance(item, dict):
        return {name: _value_blobs(value) for name, value in item.items()}
    return item


def _value_blobs(value: Any) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (kind, raw), *_ = value.items()
    if kind == "B" and isinstance(raw, str):
        return {"B": base64.b64decode(raw)}
    if kind == "M" and isinstance(raw, dict):
        return {"M": {name: _value_blobs(v) for name, v in raw.items()}}
    if kind == "L" and isinstance(raw, list):
        return {"L": [_value_blobs(v) for v in raw]}
    return value
