"""Fixtures for the conformance suite: fake upstreams + the real adapters behind the client API.

Starting four fakes, the adapters and a uvicorn server per test would cost more than the cells
themselves, so they live for a module; every test gets them reset: empty scripts, the neutral
default reply, an empty request log, a fail-loud check that no fake crashed, and a fresh
``Gateway`` (routing state such as ``retry-after`` cooldowns must not leak from one cell into the
next). That is safe because cells run one at a time and each scripts everything it needs.

Test modules import nothing from here (pytest names conftest modules by path); shared
plain helpers live in ``support`` (``support.gateway_builder`` and its neighbours).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from support.gateway_builder import AWS_ENV, AWS_UNSET, BuiltGateway, Fakes, build_gateway, start_fakes, stop_fakes
from support.scenario import DEFAULT_REPLY
from support.server import serve
from support.wire_tap import WireTap

CLIENT_TIMEOUT = 10.0


@dataclass
class Aimux:
    """The served client API: its base URL, the fakes behind it, and the adapters it routes to."""

    url: str
    fakes: Fakes
    built: BuiltGateway
    app: Any

    @property
    def missing(self) -> dict[str, str]:
        return self.built.missing

    def use(self, *, max_attempts: int = 1) -> Any:
        """Serve the next requests with a fresh gateway (``max_attempts > 1``: aimux's retries on)."""
        gateway = self.built.fresh(max_attempts=max_attempts)
        self.app.state.gateway = gateway
        return gateway

    def require(self, *providers: str) -> None:
        """Fail (not skip) a cell whose adapter is missing: an unbuilt adapter is a conformance failure."""
        for name in providers:
            if name in self.missing:
                pytest.fail(f"adapter for provider {name!r} could not be built: {self.missing[name]}", pytrace=False)


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """boto3 credentials from the environment, for the module's lifetime only."""
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_UNSET:
            patch.delenv(name, raising=False)
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    started = start_fakes()
    try:
        yield started
    finally:
        stop_fakes(started)


@pytest.fixture(scope="module")
def aimux(fakes: Fakes, aws_env: None) -> Iterator[Aimux]:
    """The client API as deployed (the messages function's app) over the conformance gateway."""
    from aimux_core.surfaces.app import create_messages_app

    built = build_gateway(fakes)
    app = create_messages_app(built.fresh())
    with serve(app) as url:
        yield Aimux(url, fakes, built, app)


@pytest.fixture(autouse=True)
def _fresh(fakes: Fakes, aimux: Aimux) -> Iterator[None]:
    """Every cell starts from empty scripts and logs and a fresh gateway, and fails if a fake crashed."""
    for fake in fakes.all():
        fake.queue.clear()
        fake.requests.clear()
        fake.default = DEFAULT_REPLY
    aimux.use()
    yield
    for fake in fakes.all():
        fake.raise_for_errors()


@pytest.fixture
def tap() -> WireTap:
    return WireTap()


@pytest.fixture
def anthropic_client(aimux: Aimux, tap: WireTap) -> Iterator[anthropic.Anthropic]:
    """The official Anthropic SDK against the gateway; no retries, so every fault is visible once."""
    with httpx2.Client(transport=tap, timeout=CLIENT_TIMEOUT) as http:
        yield anthropic.Anthropic(base_url=aimux.url, api_key="sk-client-anthropic", max_retries=0,
                                  timeout=CLIENT_TIMEOUT, http_client=http)


@pytest.fixture
def openai_client(aimux: Aimux, tap: WireTap) -> Iterator[openai.OpenAI]:
    with httpx2.Client(transport=tap, timeout=CLIENT_TIMEOUT) as http:
        yield openai.OpenAI(base_url=f"{aimux.url}/v1", api_key="sk-client-openai", max_retries=0,
                            timeout=CLIENT_TIMEOUT, http_client=http)

