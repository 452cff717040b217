"""Suite-wide fixtures: the gateway served over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.server import serve

pytest_plugins = ["fakes.fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    """The local app (client API + admin, mock provider) on a free loopback port."""
    from aimux_core.gateway import build_mock_gateway
    from aimux_core.surfaces.app import create_local_app

    with serve(create_local_app(build_mock_gateway())) as url:
        yield url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
