"""DynamoDB stopped mid-test: the gateway follows ``AIMUX_STATE_FAILURE``, never a 500 traceback, never a hang.

Each test runs its own DynamoDB server (a ``ThreadedMotoServer``, and dynalite in a child process when it is
installed), serves a request while it is up (so the key is in the ring's cache, as on a warm Lambda), then
stops the server and keeps sending:

- ``open`` (the default): requests are served as if the rate and budget checks had passed, without invented
  rate-limit headers, and each miss is counted by the policy;
- ``closed``: 529 ``overloaded_error`` for Anthropic clients, 503 for OpenAI ones, with ``retry-after`` and a
  message saying the state store is unavailable.

Either way a key that is *not* cached cannot be checked and is refused with 529/503: an outage never lets an
unknown caller in. Every request must answer within a bound far below the test timeout (the store client
has 2 s connect/read timeouts and 2 attempts).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from state_e2e_support import PROMPT, anthropic_client, deploy, openai_client, run

from aimux_core.gateway import Gateway
from aimux_core.keys import KeyRing, create_key, generate_key
from aimux_core.keys.record import META_SK, ApiKeyRecord, hash_key, new_key_id, record_pk
from aimux_core.state.dynamodb import DynamoStore, create_table
from aimux_core.state.store import ABSENT
from support.dynamo import (
    REGION,
    DynamoServer,
    dynalite_missing_reason,
    fake_aws_env,
    running_dynalite,
    running_moto,
)
from support.server import serve

pytestmark = pytest.mark.timeout(60)

ANSWER_BOUND_SECONDS = 20.0  # refused connections answer at once; 2 store calls x 2 attempts x 2 s timeouts at worst


@dataclass
class Outage:
    """A served gateway whose DynamoDB server the test can stop."""

    url: str
    gateway: Gateway
    plaintext: str
    stop: contextlib.ExitStack

    def stop_store(self) -> None:
        self.stop.close()


def _key_on(store: DynamoStore, keys: KeyRing, has_transactions: bool) -> str:
    """A key with limits and a budget; stored by ``create_key`` where the server has transactions.

    dynalite has no TransactWriteItems, so there the record item is written directly: authentication reads
    only that item, which is all this test needs.
    """
    limits = {"rpm": 100, "tpm": 1_000_000, "budget_daily_usd": 50.0}
    if has_transactions:
        plaintext, _ = run(create_key(keys, name="outage", **limits))
        return plaintext
    plaintext = generate_key()
    record = ApiKeyRecord(
        id=new_key_id(), name="outage", key_hash=hash_key(plaintext), created_at=time.time(), **limits
    )
    run(store.put(record_pk(record.key_hash), META_SK, record.to_item(), expect_version=ABSENT))
    return plaintext


@contextlib.contextmanager
def _outage(backend: str, mode: str, tmp_path: Path) -> Iterator[Outage]:
    stop = contextlib.ExitStack()
    with stop:
        if backend == "moto":
            endpoint = stop.enter_context(running_moto())
        else:
            reason = dynalite_missing_reason()
            if reason is not None:
                pytest.skip(reason)
            endpoint = stop.enter_context(running_dynalite(tmp_path))
        server = DynamoServer(backend, endpoint, f"aimux-outage-{uuid.uuid4().hex[:8]}", backend == "moto")
        client = server.client()
        create_table(client, server.table)
        store = DynamoStore(server.table, client=client, region=REGION)
        keys = KeyRing(store, cache_seconds=60)
        plaintext = _key_on(store, keys, server.has_transactions)
        gateway, app = deploy(store, keys, env={"AIMUX_STATE_FAILURE": mode})
        with serve(app) as url:
            yield Outage(url, gateway, plaintext, stop)


@pytest.fixture(params=["moto", "dynalite"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    fake_aws_env(monkeypatch)
    return str(request.param)


def _timed_messages(url: str, api_key: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = httpx.post(
        f"{url}/v1/messages",
        json={"model": "big", "max_tokens": 16, "messages": PROMPT},
        headers={"x-api-key": api_key},
        timeout=httpx.Timeout(30.0, connect=5.0),
    )
    return answer, time.monotonic() - started


def _no_traceback(answer: httpx.Response) -> None:
    assert answer.status_code != 500
    assert "Traceback" not in answer.text and "internal error" not in answer.text


def test_open_policy_serves_through_an_outage_and_counts_misses(backend: str, tmp_path: Path) -> None:
    with _outage(backend, "open", tmp_path) as outage:
        warm, _ = _timed_messages(outage.url, outage.plaintext)
        assert warm.status_code == 200
        assert "anthropic-ratelimit-requests-limit" in warm.headers  # checked while the store was up
        before = outage.gateway.admission.policy.total_misses  # type: ignore[union-attr]

        outage.stop_store()

        served, elapsed = _timed_messages(outage.url, outage.plaintext)
        _no_traceback(served)
        assert served.status_code == 200, served.text
        assert elapsed < ANSWER_BOUND_SECONDS
        assert "anthropic-ratelimit-requests-limit" not in served.headers  # no invented numbers
        assert "x-aimux-cost-usd" in served.headers
        completion = openai_client(outage.url, outage.plaintext).chat.completions.create(model="big", messages=PROMPT)
        assert completion.choices[0].message.content

        misses = outage.gateway.admission.policy.misses  # type: ignore[union-attr]
        assert misses.get("rate limit check", 0) >= 2 and misses.get("budget check", 0) >= 2
        assert outage.gateway.admission.policy.total_misses > before  # type: ignore[union-attr]

        uncached, elapsed = _timed_messages(outage.url, generate_key())
        _no_traceback(uncached)
        assert uncached.status_code == 529  # a key that cannot be looked up is never let in
        assert uncached.json()["error"]["type"] == "overloaded_error"
        assert elapsed < ANSWER_BOUND_SECONDS


def test_closed_policy_refuses_with_529_and_503(backend: str, tmp_path: Path) -> None:
    with _outage(backend, "closed", tmp_path) as outage:
        assert _timed_messages(outage.url, outage.plaintext)[0].status_code == 200

        outage.stop_store()

        refused, elapsed = _timed_messages(outage.url, outage.plaintext)
        _no_traceback(refused)
        assert refused.status_code == 529
        assert elapsed < ANSWER_BOUND_SECONDS
        error = refused.json()["error"]
        assert error["type"] == "overloaded_error"
        assert "state store is unavailable" in error["message"]
        assert refused.headers["retry-after"] == "1"

        with pytest.raises(anthropic.APIStatusError) as anthropic_error:
            anthropic_client(outage.url, outage.plaintext).messages.create(model="big", max_tokens=16, messages=PROMPT)
        assert anthropic_error.value.status_code == 529

        with pytest.raises(openai.InternalServerError) as openai_error:
            openai_client(outage.url, outage.plaintext).chat.completions.create(model="big", messages=PROMPT)
        assert openai_error.value.status_code == 503
        assert "state store is unavailable" in openai_error.value.message
        assert openai_error.value.response.headers["retry-after"] == "1"
