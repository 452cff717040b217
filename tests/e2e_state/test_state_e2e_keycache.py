"""Revocation and the per-process key cache, end to end through the admin route.

The ring caches what a key resolved to for ``cache_seconds`` so the hot path does no key read. A key
disabled by *another* process (the CLI, the admin function, another Lambda: here an admin app on its own
ring over the same table) therefore keeps working here until that cache entry expires, then gets 403. A
key disabled through *this* process's admin routes is refused at once (the ring refreshes its own cache).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from state_e2e_support import HTTP_TIMEOUT, PROMPT, deploy

from aimux_core.keys import KeyRing, create_key
from aimux_core.state.dynamodb import DynamoStore
from support.server import serve

pytestmark = pytest.mark.timeout(60)

CACHE_SECONDS = 1.0


def _ask(url: str, api_key: str) -> httpx.Response:
    body = {"model": "big", "max_tokens": 16, "messages": PROMPT}
    return httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": api_key}, timeout=HTTP_TIMEOUT)


@pytest.fixture
def split_admin(dynamo_store: DynamoStore) -> Iterator[tuple[str, KeyRing]]:
    """The gateway whose ring caches for ``CACHE_SECONDS``, its admin routes on a separate ring (another process)."""
    serving = KeyRing(dynamo_store, cache_seconds=CACHE_SECONDS)
    elsewhere = KeyRing(dynamo_store, cache_seconds=CACHE_SECONDS)
    _, app = deploy(dynamo_store, serving, admin_keys=elsewhere)
    with serve(app) as url:
        yield url, serving


INTENT = {"x-aimux-admin": "1"}  # an admin change, not a form posted by a web page (surfaces/admin_access.py)


def test_key_disabled_elsewhere_works_until_the_cache_expires(split_admin: tuple[str, KeyRing]) -> None:
    url, serving = split_admin

    plaintext, record = asyncio.run(create_key(serving, name="cached"))
    cached_at = time.monotonic()  # create_key puts the new record in the serving ring's cache
    assert _ask(url, plaintext).status_code == 200

    disabled = httpx.post(f"{url}/admin/keys/{record.id}/disable", headers=INTENT, timeout=HTTP_TIMEOUT)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True

    still = _ask(url, plaintext)
    if time.monotonic() - cached_at < CACHE_SECONDS * 0.8:  # a very slow box may already be past the TTL
        assert still.status_code == 200, "the cached record should keep serving until cache_seconds"

    deadline = cached_at + CACHE_SECONDS + 5.0
    while True:
        answer = _ask(url, plaintext)
        if answer.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.status_code == 403
    assert answer.json()["error"] == {"type": "permission_error", "message": "this API key is disabled"}
    assert time.monotonic() - cached_at >= CACHE_SECONDS * 0.9  # not before the cache entry expired


def test_key_disabled_through_this_process_is_refused_at_once(dynamo_store: DynamoStore) -> None:
    keys = KeyRing(dynamo_store, cache_seconds=30)
    _, app = deploy(dynamo_store, keys)
    with serve(app) as url:
        created = httpx.post(f"{url}/admin/keys", json={"name": "local"}, timeout=HTTP_TIMEOUT)
        assert created.status_code == 201
        plaintext, key_id = created.json()["api_key"], created.json()["id"]
        assert _ask(url, plaintext).status_code == 200

        assert httpx.post(f"{url}/admin/keys/{key_id}/disable", headers=INTENT, timeout=HTTP_TIMEOUT).status_code == 200
        assert _ask(url, plaintext).status_code == 403

        assert httpx.post(f"{url}/admin/keys/{key_id}/enable", headers=INTENT, timeout=HTTP_TIMEOUT).status_code == 200
        assert _ask(url, plaintext).status_code == 200
