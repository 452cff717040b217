"""Fixtures for the limits tests: a fake clock, the store under test, and a store-call counter.

``store`` is parametrized over ``STORE_FIXTURES`` like the state suite: a DynamoDB store (dynalite,
say) joins by adding one fixture that yields a fresh store driven by ``clock`` (it may ``pytest.skip``
when its backend is not available) and its name here. Tests address items under the ``ns`` prefix
(key ids, provider names), so a table shared between tests needs no cleanup.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from limits_support import T0, CountingStore

from aimux_core.state.clock import FakeClock
from aimux_core.state.memory import MemoryStore
from aimux_core.state.store import Store

STORE_FIXTURES = ["memory_store"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=T0)


@pytest.fixture
def memory_store(clock: FakeClock) -> Iterator[Store]:
    yield MemoryStore(clock)


@pytest.fixture(params=STORE_FIXTURES)
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)


@pytest.fixture
def ns() -> str:
    """A prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def counting(store: Store) -> CountingStore:
    return CountingStore(store)
