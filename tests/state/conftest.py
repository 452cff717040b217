"""Fixtures for the state tests: a fake clock, and every ``Store`` implementation to run them against.

``store`` is parametrized over ``STORE_FIXTURES``: each name is a fixture that yields a fresh store
driven by the ``clock`` fixture. The contract suite, the breaker and the health tests all take
``store``, so a new implementation (DynamoDB against dynalite, say) is covered by adding one fixture
and its name here; that fixture may ``pytest.skip`` when its backend is not available. Tests address
items under the ``ns`` prefix, so a backend shared between tests (one table) needs no cleanup.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from aimux_core.state import FakeClock, MemoryStore, Store

STORE_FIXTURES = ["memory_store"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def memory_store(clock: FakeClock) -> Iterator[Store]:
    yield MemoryStore(clock)


@pytest.fixture(params=STORE_FIXTURES)
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(request.param)


@pytest.fixture
def ns() -> str:
    """A prefix no other test uses, for partition keys and breaker/health keys."""
    return f"t{uuid.uuid4().hex[:10]}"
