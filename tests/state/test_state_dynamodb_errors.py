"""Errors become the contract's: a dead or silent store is ``StoreUnavailable`` within seconds, never a hang.

aimux's client allows 2 s to connect, 2 s to read and 2 attempts in all (``dynamodb_client``), so an
operation against a store that went away costs at most about 2 x 2 s plus one short retry backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aimux_core.state import ABSENT, ConditionFailed, StoreError, StoreUnavailable
from aimux_core.state.dynamodb import DynamoStore, create_table, make_client
from aimux_core.state.dynamodb_client import translate
from aimux_core.state.transaction import PutOp
from support.dynamo import REGION, DynamoServer, fake_aws_env, running_moto

pytestmark = pytest.mark.anyio

OPERATIONS = {
    "get": lambda s: s.get("p", "s"),
    "put": lambda s: s.put("p", "s", {"n": 1}, expect_version=None),
    "add": lambda s: s.add("p", "s", {"n": 1}),
    "query": lambda s: s.query("p", "a", "z"),
    "delete": lambda s: s.delete("p", "s"),
    "transact": lambda s: s.transact([PutOp("p", "s", {}, None)]),
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_env(monkeypatch)


async def test_a_stopped_server_is_unavailable_quickly_for_every_operation(aws_env: None) -> None:
    with running_moto() as endpoint:
        client = make_client(endpoint, REGION)  # aimux's own timeouts and retries
        create_table(client, "aimux-stop")
        store = DynamoStore("aimux-stop", client=client)
        await store.put("p", "s", {"n": 1}, expect_version=ABSENT)
    for name, operation in OPERATIONS.items():
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(operation(store), timeout=15)
        assert time.monotonic() - started < 10, f"{name} took too long against a stopped server"


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections (kernel backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_server_that_never_answers_is_unavailable_within_the_timeouts(aws_env: None) -> None:
    with silent_server() as endpoint:
        store = DynamoStore("aimux-silent", client=make_client(endpoint, REGION))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.get("p", "s"), timeout=20)
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 20  # two 2 s read timeouts and a short backoff, not the 60 s botocore default


async def test_a_missing_table_is_a_store_error_not_an_outage(moto_server: DynamoServer, aws_env: None) -> None:
    store = DynamoStore("no-such-table", client=moto_server.shared_client())
    with pytest.raises(StoreError) as raised:
        await store.get("p", "s")
    assert not isinstance(raised.value, StoreUnavailable | ConditionFailed)
    assert "ResourceNotFoundException" in str(raised.value)


class StubClient:
    """Raises ``error`` from every call, the way a throttled or failing client would."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(**params: Any) -> Any:
            raise self.error

        return call


def client_error(code: str, message: str = "", status: int = 400) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetItem"
    )


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
async def test_throttling_is_unavailable_for_every_operation(code: str) -> None:
    store = DynamoStore("t", client=StubClient(client_error(code)))
    for operation in OPERATIONS.values():
        with pytest.raises(StoreUnavailable):
            await operation(store)


def botocore_error(name: str) -> Exception:
    from botocore import exceptions

    endpoint = "http://127.0.0.1:1"
    return {
        "connect": lambda: exceptions.EndpointConnectionError(endpoint_url=endpoint),
        "connect-timeout": lambda: exceptions.ConnectTimeoutError(endpoint_url=endpoint),
        "read-timeout": lambda: exceptions.ReadTimeoutError(endpoint_url=endpoint),
        "closed": lambda: exceptions.ConnectionClosedError(endpoint_url=endpoint),
        "params": lambda: exceptions.ParamValidationError(report="bad"),
        "credentials": lambda: exceptions.NoCredentialsError(),
    }[name]()


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: client_error("ConditionalCheckFailedException"), ConditionFailed),
        (lambda: client_error("InternalServerError", status=500), StoreUnavailable),
        (lambda: client_error("500", "<html>", status=500), StoreUnavailable),
        (lambda: client_error("ServiceUnavailable", status=503), StoreUnavailable),
        (lambda: client_error("ValidationException", "Item size has exceeded the maximum allowed size"), ValueError),
        (lambda: client_error("ValidationException", "An operand ... has an incorrect data type"), TypeError),
        (lambda: client_error("AccessDeniedException"), StoreError),
        (lambda: botocore_error("connect"), StoreUnavailable),
        (lambda: botocore_error("connect-timeout"), StoreUnavailable),
        (lambda: botocore_error("read-timeout"), StoreUnavailable),
        (lambda: botocore_error("closed"), StoreUnavailable),
        (lambda: botocore_error("params"), ValueError),
        (lambda: botocore_error("credentials"), StoreError),
        (lambda: RuntimeError("not ours"), RuntimeError),
    ],
    ids=[
        "condition",
        "internal",
        "html-500",
        "unavailable",
        "validation",
        "add-type",
        "denied",
        "connect",
        "connect-timeout",
        "read-timeout",
        "closed",
        "params",
        "credentials",
        "other",
    ],
)
def test_error_translation(make: Any, expected: type[Exception]) -> None:
    translated = translate(make(), "get_item", "p", "s")
    assert type(translated) is expected or (expected is ConditionFailed and isinstance(translated, ConditionFailed))
    if expected is StoreError:
        assert not isinstance(translated, StoreUnavailable)
