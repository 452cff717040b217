"""Fixtures for the key tests: a fake clock, a memory store that remembers every write, a ring over it."""

from __future__ import annotations

import pytest

from aimux_core.keys import KeyRing
from aimux_core.state import FakeClock
from support.spy_store import SpyStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def store(clock: FakeClock) -> SpyStore:
    return SpyStore(clock)


@pytest.fixture
def ring(store: SpyStore, clock: FakeClock) -> KeyRing:
    return KeyRing(store, clock, cache_seconds=30)
