"""The boto3 side of the DynamoDB store: one lazy client per process, the threads that call it, errors.

``DynamoStore`` uses it when it is given a boto3 client (tests that count botocore's calls; set-up tooling
such as ``create_table``); otherwise its calls go through ``dynamodb_http``, which shares this module's
limits (``CONNECT_TIMEOUT_SECONDS``, ``READ_TIMEOUT_SECONDS``, ``TOTAL_MAX_ATTEMPTS``, ``POOL_SIZE``) and
its error mapping (``translate_client_error``, ``UNAVAILABLE_CODES``).

- Cold start: nothing here imports boto3 or botocore at module import. The client is built on first
  use, in a worker thread (building it loads the service model, ~0.1-0.3 s, which must not stall the
  event loop), and is shared by every store of the process with the same endpoint and region.
- Never hang on the state store: 2 s to connect, 2 s to read, at most 2 attempts (the standard retry
  mode: throttling and transient errors get one quick retry), so a dead endpoint costs seconds, not a
  Lambda timeout. A retried write may have landed the first time: that is what ``StoreUnavailable``
  ("outcome unknown") says. TransactWriteItems carries an idempotency token botocore fills in.
- boto3 is synchronous: each call runs on ``POOL_SIZE`` shared worker threads (one per pooled HTTP
  connection), so the event loop never blocks and up to ``POOL_SIZE`` requests overlap. The default
  asyncio executor would cap that at ``min(32, cpus + 4)``, 6 threads on a 2-core Lambda.
- Errors become the ``Store`` contract's: ``ConditionalCheckFailedException`` -> ``ConditionFailed``;
  throttling, 5xx, timeouts and connection errors -> ``StoreUnavailable``; ``ValidationException``
  -> ``ValueError`` (``TypeError`` for an ADD to a non-numeric attribute); anything else (a missing
  table, denied access, no credentials) -> ``StoreError``, which no caller should swallow quietly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .store import ConditionFailed, StoreError, StoreUnavailable

POOL_SIZE = 32
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 2.0
TOTAL_MAX_ATTEMPTS = 2


UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)

_lock = threading.Lock()
_clients: dict[tuple[str | None, str | None], Any] = {}
_executor: ThreadPoolExecutor | None = None


class ConditionRefused(ConditionFailed):
    """A failed condition, with the item DynamoDB saw when it returned one (ALL_OLD; dynalite never does)."""

    def __init__(self, pk: str, sk: str, reason: str, old: Mapping[str, Any] | None) -> None:
        super().__init__(pk, sk, reason)
        self.old = old


class TransactionCancelled(StoreError):
    """TransactWriteItems was cancelled; ``reasons`` has one entry per operation, in order."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__(f"transaction cancelled: {[r.get('Code') for r in reasons]}")
        self.reasons = reasons


def make_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A new DynamoDB client with aimux's timeouts and pool size (imports boto3 on first call)."""
    import boto3  # here, not at module import: keeps the Lambda cold start lean
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": TOTAL_MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=POOL_SIZE,
    )
    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, region_name=region, config=config)


def shared_client(endpoint_url: str | None, region: str | None) -> Any:
    """The process's client for this endpoint and region, built once."""
    with _lock:
        client = _clients.get((endpoint_url, region))
        if client is None:
            client = _clients[(endpoint_url, region)] = make_client(endpoint_url, region)
        return client


def executor() -> ThreadPoolExecutor:
    """The worker threads every store call runs on (created on first use, shared by all event loops)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="aimux-dynamodb")
        return _executor


def translate(error: Exception, operation: str, pk: str, sk: str) -> Exception:
    """The contract's exception for a boto3/botocore error (``error`` itself when it is not one)."""
    # botocore is loaded by the call that failed; importing it at module level would load it at cold start.
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )

    if isinstance(error, ClientError):
        return translate_client_error(error, operation, pk, sk)
    if isinstance(error, ParamValidationError):
        return ValueError(f"DynamoDB {operation}: {error}")
    if isinstance(error, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return StoreError(f"DynamoDB {operation}: {error}")
    if isinstance(error, BotoCoreError):  # connect/read timeouts, refused or dropped connections
        return StoreUnavailable(f"DynamoDB {operation} on ({pk!r}, {sk!r}): {error}")
    return error


def translate_client_error(error: Any, operation: str, pk: str, sk: str) -> Exception:
    """The contract's exception for an error response (``error.response`` in botocore's shape; the HTTP
    client of ``dynamodb_http`` builds the same shape from DynamoDB's JSON error)."""
    response = error.response
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "ConditionalCheckFailedException":
        return ConditionRefused(pk, sk, "condition failed", response.get("Item"))
    if code == "TransactionCanceledException":
        return TransactionCancelled(list(response.get("CancellationReasons") or []))
    if code in UNAVAILABLE_CODES or status >= 500:
        return StoreUnavailable(f"DynamoDB {operation} on ({pk!r}, {sk!r}): {code} {message}".rstrip())
    if code == "ValidationException":
        if "incorrect data type" in message:
            return TypeError(f"cannot add to a non-numeric attribute of ({pk!r}, {sk!r}): {message}")
        return ValueError(f"DynamoDB {operation} refused ({pk!r}, {sk!r}): {message}")
    return StoreError(f"DynamoDB {operation} on ({pk!r}, {sk!r}): {code} {message}".rstrip())


def create_table(client: Any, table_name: str, *, wait_seconds: float = 30.0) -> None:
    """Create aimux's table (``pk`` S hash, ``sk`` S range, on demand, TTL on ``expires_at``) if missing.

    Idempotent. The TTL setting is skipped where the server has no TTL API (dynalite): expiry never
    depends on it (every read treats ``expires_at <= now`` as absent); TTL only tidies up.
    """
    from botocore.exceptions import ClientError  # set-up tooling only: no AWS SDK at import

    try:
        client.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    deadline = time.monotonic() + wait_seconds
    while client.describe_table(TableName=table_name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"table {table_name!r} not ACTIVE after {wait_seconds} s")
        time.sleep(0.1)
    try:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        # no TTL API (dynalite), or TTL already on (real DynamoDB answers ValidationException then)
        if code not in ("UnknownOperationException", "ValidationException"):
            raise
