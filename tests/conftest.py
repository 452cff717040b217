"""Suite-wide fixtures: the gateway served over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Helper modules that assert on the tests' behalf: pytest rewrites their asserts as well, so a failure
# shows the compared values. Registered before anything imports them.
pytest.register_assert_rewrite(
    "support", "fakes", "mock_helpers", "anthropic_adapter_helpers", "bedrock_mapping_helpers", "select_helpers",
    "stream_decoder_helpers", "limits_support", "state_e2e_support",
)

from support.server import serve  # noqa: E402

pytest_plugins = ["fakes.fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    """The local app (client API + admin, mock provider) on a free loopback port."""
    from aimux_core.assembly import build_mock_gateway, local_app

    with serve(local_app(build_mock_gateway())) as url:
        yield url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _provenance_key_per_test() -> Iterator[None]:
    """A gateway assembled by one test points the process's thinking-signing key at its store; the next
    test starts without that store (a random process key until it assembles its own gateway)."""
    yield
    from aimux_core.translate.provenance_key import PROVENANCE_KEY

    PROVENANCE_KEY.use_loader(None)
