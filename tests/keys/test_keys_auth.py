"""Authentication: 401 / 403 decisions, the lookup cache and its revocation delay, allow-lists, auth mode."""

from __future__ import annotations

import asyncio

import pytest

from aimux_core.errors import AuthenticationFailed, Overloaded, PermissionDenied
from aimux_core.keys import (
    KeyRing,
    auth_mode,
    authenticate_request,
    check_model,
    create_key,
    delete_key,
    disable_key,
    generate_key,
    rotate_key,
    store_has_keys,
)
from aimux_core.keys.mode import decide_at_start
from aimux_core.settings import Settings, SettingsError
from aimux_core.state import FakeClock, MemoryStore, StoreUnavailable
from support.spy_store import SpyStore

pytestmark = pytest.mark.anyio


async def test_missing_and_unknown_keys_are_401(ring: KeyRing, store: SpyStore) -> None:
    for presented in (None, ""):
        with pytest.raises(AuthenticationFailed, match="missing API key"):
            await ring.authenticate(presented)
    reads = store.gets
    for foreign in ("sk-ant-api03-abc", "amx-short", "Bearer amx-x"):
        with pytest.raises(AuthenticationFailed, match="invalid API key"):
            await ring.authenticate(foreign)
    assert store.gets == reads  # not an aimux key: refused without a store read
    with pytest.raises(AuthenticationFailed) as caught:
        await ring.authenticate(generate_key())
    assert caught.value.status == 401 and caught.value.kind == "authentication_error"
    assert store.gets == reads + 1


async def test_a_valid_key_authenticates_and_a_disabled_one_is_403(ring: KeyRing) -> None:
    plaintext, record = await create_key(ring, name="ci")
    assert await ring.authenticate(plaintext) == record
    await disable_key(ring, record.id)
    with pytest.raises(PermissionDenied) as caught:
        await ring.authenticate(plaintext)
    assert caught.value.status == 403 and caught.value.kind == "permission_error"
    assert record.id not in caught.value.message and plaintext not in caught.value.message


async def test_revocation_elsewhere_takes_effect_when_the_cache_expires(store: SpyStore, clock: FakeClock) -> None:
    gateway = KeyRing(store, clock, cache_seconds=30)  # a running gateway
    admin = KeyRing(store, clock, cache_seconds=30)  # the CLI / admin function: another process
    plaintext, record = await create_key(admin, name="ci")
    await gateway.authenticate(plaintext)
    await disable_key(admin, record.id)
    clock.advance(29.9)
    assert (await gateway.authenticate(plaintext)).id == record.id  # still cached: works until the TTL
    clock.advance(0.1)
    with pytest.raises(PermissionDenied):
        await gateway.authenticate(plaintext)

    new_plain, _ = await rotate_key(admin, record.id)
    with pytest.raises(PermissionDenied):
        await gateway.authenticate(new_plain)  # rotation keeps the key's state: still disabled
    with pytest.raises(PermissionDenied):
        await gateway.authenticate(plaintext)  # the old secret's last standing (disabled) is still cached
    clock.advance(30)
    with pytest.raises(AuthenticationFailed):
        await gateway.authenticate(plaintext)  # rotated away: unknown now


async def test_deleted_and_created_elsewhere(store: SpyStore, clock: FakeClock) -> None:
    gateway = KeyRing(store, clock, cache_seconds=10)
    admin = KeyRing(store, clock, cache_seconds=10)
    plaintext, record = await create_key(admin, name="ci")
    assert (await gateway.authenticate(plaintext)).id == record.id  # a new key works at once elsewhere
    await delete_key(admin, record.id)
    assert (await gateway.authenticate(plaintext)).id == record.id
    clock.advance(10)
    with pytest.raises(AuthenticationFailed):
        await gateway.authenticate(plaintext)


async def test_lookups_are_cached_both_ways_and_shared(store: SpyStore, clock: FakeClock) -> None:
    ring = KeyRing(store, clock, cache_seconds=30)
    plaintext, _ = await create_key(ring, name="ci")
    ring.cache.invalidate()
    before = store.gets
    await asyncio.gather(*(ring.authenticate(plaintext) for _ in range(50)))
    assert store.gets == before + 1  # one read for a burst (single flight), then cached
    unknown = generate_key()
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await ring.authenticate(unknown)
    assert store.gets == before + 2  # unknown keys are cached too
    clock.advance(30)
    await ring.authenticate(plaintext)
    assert store.gets == before + 3


async def test_cache_is_bounded_and_garbage_never_evicts_real_keys(store: SpyStore, clock: FakeClock) -> None:
    ring = KeyRing(store, clock, cache_seconds=30, max_cached_keys=3, max_cached_unknown=4)
    secrets = [(await create_key(ring, name=f"k{i}"))[0] for i in range(3)]
    for _ in range(100):
        with pytest.raises(AuthenticationFailed):
            await ring.authenticate(generate_key())
    assert len(ring.cache) == 3 + 4
    before = store.gets
    for plaintext in secrets:
        await ring.authenticate(plaintext)
    assert store.gets == before  # all three still cached
    fourth, _ = await create_key(ring, name="k3")  # the oldest known key makes room
    assert len(ring.cache) == 3 + 4
    await ring.authenticate(fourth)
    assert store.gets == before


async def test_cache_zero_reads_every_time(store: SpyStore, clock: FakeClock) -> None:
    ring = KeyRing(store, clock, cache_seconds=0)
    admin = KeyRing(store, clock)
    plaintext, record = await create_key(admin, name="ci")
    await ring.authenticate(plaintext)
    await disable_key(admin, record.id)
    with pytest.raises(PermissionDenied):
        await ring.authenticate(plaintext)


def test_model_and_route_allow_lists() -> None:
    _, record = asyncio.run(create_key(KeyRing(MemoryStore()), name="ci", allowed_models=["claude-*", "gpt-4o?"]))
    check_model(record, "claude-sonnet-4-5")
    check_model(record, "gpt-4oX")
    for refused in ("gpt-4o", "Claude-sonnet", "glm-4.6", ""):
        with pytest.raises(PermissionDenied) as caught:
            check_model(record, refused)
        assert repr(refused) in caught.value.message and record.id not in caught.value.message
        assert caught.value.param == "model"
    _, open_record = asyncio.run(create_key(KeyRing(MemoryStore()), name="any", allowed_routes=["default", "bg-*"]))
    check_model(open_record, "anything-at-all")
    check_model(open_record, "x", route="bg-cheap")
    check_model(open_record, "x")  # route not known yet: not checked
    with pytest.raises(PermissionDenied, match="route 'premium'"):
        check_model(open_record, "x", route="premium")


async def test_authenticate_request_is_what_surfaces_call(ring: KeyRing, clock: FakeClock) -> None:
    assert await authenticate_request(None, None, "any") is None  # auth off
    plaintext, record = await create_key(ring, name="ci", allowed_models=["claude-*"])
    assert (await authenticate_request(ring, plaintext, "claude-haiku")).id == record.id
    with pytest.raises(PermissionDenied):
        await authenticate_request(ring, plaintext, "gpt-4o")
    with pytest.raises(AuthenticationFailed):
        await authenticate_request(ring, None, "claude-haiku")

    class Down(MemoryStore):
        async def get(self, pk: str, sk: str) -> None:
            raise StoreUnavailable("throttled")

    with pytest.raises(Overloaded) as caught:
        await authenticate_request(KeyRing(Down(clock), clock), generate_key(), "m")
    assert caught.value.retry_after == 1.0


def test_auth_mode_decision() -> None:
    lam = {"AWS_LAMBDA_FUNCTION_NAME": "aimux-messages"}
    assert auth_mode(Settings(), store_has_keys=False) == "off"
    assert auth_mode(Settings(), store_has_keys=True) == "on"
    assert auth_mode(Settings.from_env(lam), store_has_keys=False) == "on"
    assert auth_mode(Settings.from_env({"AIMUX_AUTH": "off", **lam}), store_has_keys=True) == "off"
    assert auth_mode(Settings.from_env({"AIMUX_AUTH": " ON "}), store_has_keys=False) == "on"
    with pytest.raises(SettingsError, match="AIMUX_AUTH"):
        Settings.from_env({"AIMUX_AUTH": "yes"})
    assert Settings().key_cache_seconds == 30
    assert Settings.from_env({"AIMUX_KEY_CACHE_SECONDS": "5"}).key_cache_seconds == 5
    with pytest.raises(SettingsError, match="AIMUX_KEY_CACHE_SECONDS must be between 0 and 3600"):
        Settings.from_env({"AIMUX_KEY_CACHE_SECONDS": "-1"})


def test_decide_at_start_reads_the_store_only_when_needed() -> None:
    empty, full = KeyRing(MemoryStore()), KeyRing(MemoryStore())
    asyncio.run(create_key(full, name="ci"))
    assert asyncio.run(store_has_keys(full.store)) and not asyncio.run(store_has_keys(empty.store))
    assert decide_at_start(Settings(), empty) == "off"
    assert decide_at_start(Settings(), full) == "on"

    class Unreadable(MemoryStore):
        async def query(self, pk: str, sk_from: str, sk_to: str) -> list:
            raise AssertionError("must not read")

    assert decide_at_start(Settings(auth="on"), KeyRing(Unreadable())) == "on"
    assert decide_at_start(Settings(lambda_function="f"), KeyRing(Unreadable())) == "on"
