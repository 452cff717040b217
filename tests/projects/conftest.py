"""Fixtures of the project tests: a fake clock and a memory store."""

from __future__ import annotations

import pytest

from aimux_core.state import FakeClock, MemoryStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock)
