"""Admin operations against ``MemoryStore``: what each does, the items it leaves, and that no secret is kept."""

from __future__ import annotations

import asyncio

import pytest

from aimux_core.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from aimux_core.keys import (
    KeyRing,
    create_key,
    delete_key,
    disable_key,
    enable_key,
    hash_key,
    list_keys,
    rotate_key,
    show_key,
)
from aimux_core.keys.record import INDEX_PK, INDEX_RANGE
from aimux_core.projects.admin import create_project
from aimux_core.state import FakeClock
from support.spy_store import SpyStore

pytestmark = pytest.mark.anyio


async def test_create_returns_the_plaintext_and_stores_two_items(ring: KeyRing, store: SpyStore) -> None:
    await create_project(ring, "p1")
    plaintext, record = await create_key(
        ring, name="ci", owner="ana", project="p1", rpm=60, tpm=100_000, budget_daily_usd=5,
        budget_monthly_usd=100.5, allowed_models=["claude-*", "gpt-4o"], budget_route="cheap",
    )  # fmt: skip
    assert plaintext.startswith("amx-")
    assert record.id.startswith("key_") and record.version == 1
    assert (record.name, record.owner, record.project, record.rpm, record.tpm) == ("ci", "ana", "p1", 60, 100_000)
    assert (record.budget_daily_usd, record.budget_monthly_usd, record.budget_route) == (5.0, 100.5, "cheap")
    assert record.allowed_models == ("claude-*", "gpt-4o") and not record.disabled
    assert record.created_at == 1_700_000_000.0

    meta = await store.get(f"key#{hash_key(plaintext)}", "meta")
    assert meta is not None and meta["id"] == record.id and meta["name"] == "ci" and meta["version"] == 1
    index = await store.get(INDEX_PK, record.id)
    assert index is not None and index["key_hash"] == hash_key(plaintext)


async def test_list_show_and_validation(ring: KeyRing, clock: FakeClock) -> None:
    assert await list_keys(ring) == []
    _, first = await create_key(ring, name="first")
    clock.advance(1)
    _, second = await create_key(ring, name="second", allowed_routes=["default"])
    assert [r.id for r in await list_keys(ring)] == [first.id, second.id]  # oldest first
    assert await show_key(ring, second.id) == second
    for missing in ("key_000000000000", "nope", "key_../../etc", ""):
        with pytest.raises(NotFound):
            await show_key(ring, missing)
    bad = [
        ({"name": " "}, "name"), ({"name": "x", "rpm": 0}, "rpm"), ({"name": "x", "tpm": 1.5}, "tpm"),
        ({"name": "x", "budget_daily_usd": -1}, "budget_daily_usd"), ({"name": "x\n"}, None),
        ({"name": "x", "allowed_models": "claude-*"}, "allowed_models"), ({"name": "x" * 201}, "name"),
        ({"name": "x", "budget_monthly_usd": float("inf")}, "budget_monthly_usd"),
    ]  # fmt: skip
    for fields, param in bad:
        if param is None:
            assert (await create_key(ring, **fields))[1].name == "x"  # surrounding whitespace is trimmed
            continue
        with pytest.raises(InvalidRequest) as caught:
            await create_key(ring, **fields)
        assert caught.value.param == param
    assert len(await list_keys(ring)) == 3


async def test_disable_enable_are_idempotent_and_versioned(ring: KeyRing, clock: FakeClock) -> None:
    plaintext, record = await create_key(ring, name="ci")
    clock.advance(5)
    disabled = await disable_key(ring, record.id)
    assert disabled.disabled and disabled.disabled_at == clock.now() and disabled.version == 2
    assert await disable_key(ring, record.id) == disabled  # no second write
    with pytest.raises(PermissionDenied):
        await ring.authenticate(plaintext)  # this process sees its own change at once
    enabled = await enable_key(ring, record.id)
    assert not enabled.disabled and enabled.disabled_at is None and enabled.version == 3
    assert (await ring.authenticate(plaintext)).id == record.id
    with pytest.raises(NotFound):
        await disable_key(ring, "key_000000000000")


async def test_rotate_keeps_id_and_limits_and_kills_the_old_secret(ring: KeyRing, store: SpyStore) -> None:
    old_plain, record = await create_key(ring, name="ci", rpm=7, allowed_models=["m-*"])
    assert (await ring.authenticate(old_plain)).id == record.id  # cached now
    new_plain, rotated = await rotate_key(ring, record.id)
    assert new_plain != old_plain
    assert rotated.public() | {"rotated_at": None} == record.public()
    assert rotated.rotated_at == 1_700_000_000.0 and rotated.version == 1
    with pytest.raises(AuthenticationFailed):
        await ring.authenticate(old_plain)
    assert (await ring.authenticate(new_plain)).rpm == 7
    assert await store.get(f"key#{hash_key(old_plain)}", "meta") is None
    assert len(await store.query(INDEX_PK, *INDEX_RANGE)) == 1
    # a fresh process (empty cache) agrees
    other = KeyRing(store, ring.clock)
    with pytest.raises(AuthenticationFailed):
        await other.authenticate(old_plain)
    assert (await other.authenticate(new_plain)).id == record.id


async def test_rotating_a_disabled_key_keeps_it_disabled(ring: KeyRing) -> None:
    _, record = await create_key(ring, name="ci")
    await disable_key(ring, record.id)
    new_plain, rotated = await rotate_key(ring, record.id)
    assert rotated.disabled
    with pytest.raises(PermissionDenied):
        await ring.authenticate(new_plain)


async def test_delete_removes_both_items(ring: KeyRing, store: SpyStore) -> None:
    plaintext, record = await create_key(ring, name="ci")
    _, kept = await create_key(ring, name="kept")
    assert (await delete_key(ring, record.id)).id == record.id
    assert [r.id for r in await list_keys(ring)] == [kept.id]
    assert await store.get(f"key#{hash_key(plaintext)}", "meta") is None
    assert await store.get(INDEX_PK, record.id) is None
    with pytest.raises(AuthenticationFailed):
        await ring.authenticate(plaintext)
    with pytest.raises(NotFound):
        await delete_key(ring, record.id)


async def test_an_index_entry_without_its_record_is_skipped_then_deletable(ring: KeyRing, store: SpyStore) -> None:
    plaintext, record = await create_key(ring, name="ci")
    await store.delete(f"key#{hash_key(plaintext)}", "meta")
    assert await list_keys(ring) == []
    with pytest.raises(NotFound):
        await delete_key(ring, record.id)
    assert await store.get(INDEX_PK, record.id) is None


async def test_racing_admin_operations_leave_one_consistent_key(ring: KeyRing, store: SpyStore) -> None:
    plaintext, record = await create_key(ring, name="ci")
    results = await asyncio.gather(
        rotate_key(ring, record.id), disable_key(ring, record.id), rotate_key(ring, record.id),
        enable_key(ring, record.id), return_exceptions=True,
    )  # fmt: skip
    assert not [r for r in results if isinstance(r, BaseException)], results
    index = await store.get(INDEX_PK, record.id)
    assert index is not None
    records = [item for item in store._partitions if item.startswith("key#")]
    assert records == [f"key#{index['key_hash']}"]  # exactly one record item: the one the index points to
    with pytest.raises(AuthenticationFailed):
        await KeyRing(store, ring.clock).authenticate(plaintext)
    secrets = [r[0] for r in results if isinstance(r, tuple)]
    live = [s for s in secrets if hash_key(s) == index["key_hash"]]
    assert len(live) == 1


async def test_no_plaintext_ever_reaches_the_store(ring: KeyRing, store: SpyStore) -> None:
    secrets = []
    for name in ("a", "b"):
        plaintext, record = await create_key(ring, name=name, rpm=1)
        secrets.append(plaintext)
        await ring.authenticate(plaintext)
        await disable_key(ring, record.id)
        await enable_key(ring, record.id)
        rotated, _ = await rotate_key(ring, record.id)
        secrets.append(rotated)
    await delete_key(ring, record.id)
    text = store.everything()
    assert store.writes
    for plaintext in secrets:
        assert plaintext not in text and plaintext[4:] not in text and plaintext[4:20] not in text
