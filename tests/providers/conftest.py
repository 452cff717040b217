"""Provider tests run their async cases on asyncio through the anyio pytest plugin, and the adapter tests
that talk to a fake upstream run on both paths of ``providers/transport.py`` (``upstream_client``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from aimux_core.providers import transport


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["httpx", "aiohttp"])
async def upstream_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient | None]:
    """The ``client`` an adapter gets: an httpx client of this test's own (the httpx path), or None (the
    default path: aiohttp without httpx, on the shared session, closed after the test in its own loop)."""
    if request.param == "httpx":
        async with httpx.AsyncClient() as client:
            yield client
        return
    transport.use_backend("aiohttp")
    try:
        yield None
    finally:
        await transport.close_shared_client()
