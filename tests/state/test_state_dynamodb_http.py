"""``state/dynamodb_http.py``: DynamoDB's JSON API signed here, against botocore's signer and real HTTP.

- The signature: the ``Authorization`` header botocore's ``SigV4Auth`` computes for the same request,
  credentials and time (with and without a session token, on an endpoint with a port and on AWS's).
- The errors and retries, over loopback against a scripted DynamoDB (``aiohttp.web``): throttling and
  5xx are retried once and then ``StoreUnavailable``; a bad checksum is retried; a failed condition
  carries the item DynamoDB returned (binary values as ``bytes``); validation errors are ``ValueError`` /
  ``TypeError``; a missing table is a ``StoreError``; a transaction keeps its token across the retry.
- Dead and silent endpoints end within the timeouts. The whole store contract runs on this client
  against moto and dynalite in ``test_state_store_contract.py`` (its stores are built as aimux builds them).
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import json
import logging
import socket
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from aimux_core.state import ConditionFailed, StoreError, StoreUnavailable
from aimux_core.state.dynamodb import DynamoStore
from aimux_core.state.dynamodb_client import ConditionRefused, TransactionCancelled
from aimux_core.state.dynamodb_http import DynamoHttp
from aimux_core.state.transaction import PutOp
from support.dynamo import REGION, fake_aws_env

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_env(monkeypatch)


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLETOKEN=="])
@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8000", "https://dynamodb.eu-west-1.amazonaws.com"])
def test_the_signature_is_botocores(monkeypatch: pytest.MonkeyPatch, token: str | None, endpoint: str) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    else:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    body = json.dumps({"TableName": "aimux", "Key": {"pk": {"S": "a"}, "sk": {"S": "é"}}}).encode()
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"})  # fmt: skip
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    SigV4Auth(Credentials("AKIDEXAMPLE", secret, token), "dynamodb", "eu-west-1").add_auth(request)
    signed_at = calendar.timegm(time.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    ours = DynamoHttp(endpoint, "eu-west-1")._signed_headers("GetItem", body, now=signed_at)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    assert ours.get("x-amz-security-token") == request.headers.get("X-Amz-Security-Token")


# --------------------------------------------------------------------------- a scripted DynamoDB

Reply = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


class Scripted:
    """Answers each request with the next scripted reply (the last one repeats); records what came."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.peers: list[Any] = []  # the client's address per request: one per connection

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.headers["X-Amz-Target"], json.loads(await request.read())))
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        status, body, headers = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        raw = json.dumps(body).encode()
        headers = {"x-amz-crc32": str(zlib.crc32(raw)), **headers}
        return web.Response(status=status, body=raw, headers=headers, content_type="application/x-amz-json-1.0")


@pytest.fixture
async def scripted(aws_env: None) -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(*replies: Reply) -> tuple[DynamoStore, Scripted]:
        script = Scripted(*replies)
        app = web.Application()
        app.router.add_post("/", script.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return DynamoStore("aimux", endpoint_url=f"http://127.0.0.1:{port}", region=REGION), script

    yield start
    for runner in runners:
        await runner.cleanup()


def _error(code: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}


ITEM = {
    "pk": {"S": "p"},
    "sk": {"S": "s"},
    "version": {"N": "3"},
    "blob": {"B": base64.b64encode(b"\x00\xff").decode()},
}


async def test_an_item_with_binary_values_is_read_as_bytes(scripted: Any) -> None:
    store, script = await scripted((200, {"Item": ITEM}, {}))
    got = await store.get("p", "s")
    assert got is not None and got["version"] == 3 and got["blob"] == b"\x00\xff"
    target, sent = script.seen[0]
    assert target == "DynamoDB_20120810.GetItem" and sent["TableName"] == "aimux" and sent["ConsistentRead"] is True


@pytest.mark.parametrize("size", [10, 600_000])  # in the headers' read, and spread over many reads
async def test_answers_of_any_size_are_read_whole_and_the_connection_is_reused(scripted: Any, size: int) -> None:
    store, script = await scripted((200, {"Item": {**ITEM, "text": {"S": "x" * size}}}, {}))
    for _ in range(4):
        got = await store.get("p", "s")
        assert got is not None and got["text"] == "x" * size
    assert len(script.peers) == 4 and len(set(script.peers)) == 1  # one pooled connection for every call


async def test_binary_values_are_sent_as_base64(scripted: Any) -> None:
    store, script = await scripted((200, {}, {}))
    await store.put("p", "s", {"blob": b"\x00\xff"}, expect_version=None)
    assert script.seen[0][1]["Item"]["blob"] == {"B": "AP8="}


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"]
)
async def test_throttling_and_5xx_are_retried_once_then_unavailable(scripted: Any, code: str) -> None:
    status = 500 if code == "InternalServerError" else 400
    store, script = await scripted((status, _error(code, "slow down"), {}))
    with pytest.raises(StoreUnavailable, match=code):
        await store.get("p", "s")
    assert len(script.seen) == 2


async def test_one_throttled_attempt_then_an_answer_succeeds(scripted: Any) -> None:
    store, script = await scripted((400, _error("ThrottlingException"), {}), (200, {"Item": ITEM}, {}))
    assert (await store.get("p", "s"))["version"] == 3
    assert len(script.seen) == 2


async def test_each_retry_is_a_warning_with_the_kind_of_failure_and_no_key(
    scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # a retried ADD whose first attempt landed counts twice: operators see every retry, never its keys
    store, _ = await scripted(
        (400, _error("ThrottlingException", "Rate of requests exceeds the allowed throughput"), {}),
        (200, {"Item": ITEM}, {}),
        (200, {"Item": ITEM}, {"x-amz-crc32": "1"}),
        (200, {"Item": ITEM}, {}),
    )
    with caplog.at_level(logging.WARNING, logger="aimux_core.state.dynamodb_http"):
        await store.get("usage#secret-partition", "s")
        await store.get("usage#secret-partition", "s")
    warnings = [r.getMessage() for r in caplog.records if r.name == "aimux_core.state.dynamodb_http"]
    assert warnings == [
        "DynamoDB GetItem: attempt 1 failed (ThrottlingException), retrying",
        "DynamoDB GetItem: attempt 1 failed (ChecksumMismatch), retrying",
    ]


async def test_a_response_whose_checksum_does_not_match_is_retried(scripted: Any) -> None:
    store, script = await scripted((200, {"Item": ITEM}, {"x-amz-crc32": "1"}), (200, {"Item": ITEM}, {}))
    assert (await store.get("p", "s"))["version"] == 3
    assert len(script.seen) == 2


async def test_a_failed_condition_carries_the_item_dynamodb_returned(scripted: Any) -> None:
    store, _ = await scripted(
        (400, _error("ConditionalCheckFailedException", "The conditional request failed", Item=ITEM), {})
    )
    http = store._http
    assert http is not None
    with pytest.raises(ConditionRefused) as raised:
        await http.call("update_item", {"TableName": "aimux"}, "p", "s")
    assert raised.value.old is not None and raised.value.old["blob"] == {"B": b"\x00\xff"}
    assert isinstance(raised.value, ConditionFailed)


@pytest.mark.parametrize(
    "message, expected",
    [
        ("An operand in the update expression has an incorrect data type", TypeError),
        ("One or more parameter values were invalid", ValueError),
    ],
)
async def test_validation_errors_are_the_callers(scripted: Any, message: str, expected: type[Exception]) -> None:
    store, script = await scripted((400, _error("ValidationException", message), {}))
    with pytest.raises(expected, match=r"parameter values|incorrect data type"):
        await store.get("p", "s")
    assert len(script.seen) == 1  # never retried


async def test_a_missing_table_is_a_store_error_not_an_outage(scripted: Any) -> None:
    store, _ = await scripted((400, _error("ResourceNotFoundException", "Requested resource not found"), {}))
    with pytest.raises(StoreError, match="ResourceNotFoundException") as raised:
        await store.get("p", "s")
    assert not isinstance(raised.value, StoreUnavailable | ConditionFailed)


async def test_a_transaction_keeps_its_token_across_the_retry(scripted: Any) -> None:
    reasons = [{"Code": "ConditionalCheckFailed", "Item": ITEM}]
    cancelled = (400, _error("TransactionCanceledException", "cancelled", CancellationReasons=reasons), {})
    store, script = await scripted((500, _error("InternalServerError"), {}), cancelled)
    http = store._http
    assert http is not None
    with pytest.raises(TransactionCancelled) as raised:
        await http.call("transact_write_items", {"TransactItems": []}, "p", "s")
    assert raised.value.reasons[0]["Item"]["blob"] == {"B": b"\x00\xff"}
    tokens = [sent["ClientRequestToken"] for _, sent in script.seen]
    assert len(tokens) == 2 and tokens[0] == tokens[1] and len(tokens[0]) == 36


async def test_a_stopped_server_is_unavailable_quickly(aws_env: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    store = DynamoStore("aimux", endpoint_url=f"http://127.0.0.1:{port}", region=REGION)
    started = time.monotonic()
    for operation in (store.get("p", "s"), store.transact([PutOp("p", "s", {}, None)])):
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(operation, timeout=15)
    assert time.monotonic() - started < 10


async def test_a_server_that_never_answers_is_unavailable_within_the_timeouts(aws_env: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        store = DynamoStore("aimux", endpoint_url=f"http://127.0.0.1:{sock.getsockname()[1]}", region=REGION)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.get("p", "s"), timeout=20)
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 15  # two 2 s read timeouts and a short pause


async def test_without_credentials_in_the_environment_botocores_chain_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, scripted: Any
) -> None:
    store, _ = await scripted((200, {}, {}))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIDFROMFILE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    http = DynamoHttp(store._http.endpoint_url, REGION)  # type: ignore[union-attr]
    headers = http._signed_headers("GetItem", b"{}")
    assert "Credential=AKIDFROMFILE/" in headers["authorization"]


async def test_no_region_is_a_store_error(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(StoreError, match="no region"):
        await DynamoHttp("http://127.0.0.1:9").call("get_item", {})


def test_one_store_serves_several_event_loops_in_several_threads_at_once(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store is shared by the server's loop and others (a test's, a CLI's): each loop gets its own
    session. With one session swapped between loops, a call could pick up another loop's session and hang."""
    import threading

    fake_aws_env(monkeypatch)
    store = DynamoStore(moto_server.table, endpoint_url=moto_server.endpoint_url, region=REGION)
    errors: list[BaseException] = []
    http = store._http
    assert http is not None
    sessions: dict[int, set[int]] = {}

    async def calls(worker: int) -> None:
        for n in range(15):
            await store.add(f"loops-{worker}", "n", {"count": 1})
            assert (await store.get(f"loops-{worker}", "n") or {}).get("count") == n + 1
            sessions.setdefault(worker, set()).add(id(http.session()))
            await asyncio.sleep(0.001)  # let the other loops run between this loop's calls

    def run(worker: int) -> None:
        try:
            asyncio.run(asyncio.wait_for(calls(worker), timeout=40))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
    assert not errors and not any(thread.is_alive() for thread in threads)
    assert all(len(seen) == 1 for seen in sessions.values()), sessions  # each loop kept its one session


def test_a_loop_that_ends_closes_its_session(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``asyncio.run`` (a CLI command, a thread's server) shuts the loop's async generators down: the
    session's keeper closes it then, so no open session or pooled socket outlives its loop."""
    fake_aws_env(monkeypatch)
    store = DynamoStore(moto_server.table, endpoint_url=moto_server.endpoint_url, region=REGION)
    http = store._http
    assert http is not None
    used: list[Any] = []

    async def use() -> None:
        await store.get("closing", "n")
        used.append(http.session())
        assert not used[-1].closed

    asyncio.run(use())
    asyncio.run(use())
    assert len(used) == 2 and used[0] is not used[1]
    assert all(session.closed for session in used)
