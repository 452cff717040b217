"""Pytest fixtures for the fake upstreams (register with ``pytest_plugins = ["fakes.fixtures"]``).

Each fake is function-scoped: a fresh server on a free 127.0.0.1 port, an empty script and an
empty request log per test. At teardown the server stops (stalled connections are cancelled)
and a crash inside the fake fails the test loudly instead of hiding as a client-side error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.anthropic_upstream import AnthropicUpstream
from fakes.bedrock_upstream import BedrockUpstream
from fakes.httpserver import closed_port as _closed_port
from fakes.openai_upstream import OpenAIUpstream


@pytest.fixture
def anthropic_upstream() -> Iterator[AnthropicUpstream]:
    """A fake Anthropic API; ``base_url`` suits ``anthropic.Anthropic(base_url=...)``."""
    with AnthropicUpstream() as fake:
        yield fake
        fake.raise_for_errors()


@pytest.fixture
def openai_upstream() -> Iterator[OpenAIUpstream]:
    """A fake OpenAI-compatible API under ``/v1``; ``base_url`` includes ``/v1``."""
    with OpenAIUpstream() as fake:
        yield fake
        fake.raise_for_errors()


@pytest.fixture
def bedrock_upstream() -> Iterator[BedrockUpstream]:
    """A fake Bedrock Runtime; ``base_url`` is the boto3 ``endpoint_url``."""
    with BedrockUpstream() as fake:
        yield fake
        fake.raise_for_errors()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (connections are refused) for the test's duration."""
    with _closed_port() as port:
        yield port
