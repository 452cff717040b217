"""``GET /v1/models/{id}`` knows every name a request may use; ``/models`` answers like ``/v1/models``;
``GET /health`` is public liveness.

Before, a name served by ``POST /v1/messages`` through an alias (``claude-sonnet-4-5`` on a deployment whose
catalog has no such id, routed by ``claude-sonnet-*``) was a 404 to ``GET``: a client that checks a model
before using it (SDK ``models.retrieve``) refused a model the gateway serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from aimux_core.assembly import build_gateway
from aimux_core.config.validate import validate_config
from aimux_core.keys import KeyRing, create_key
from aimux_core.routing.catalog import MOCK_MODEL, Catalog
from aimux_core.routing.table import table_for_catalog
from aimux_core.state import MemoryStore
from aimux_core.surfaces.app import create_messages_app
from support.server import serve

DOCUMENT = {
    "providers": {"mock": {"preset": "mock"}, "other": {"dialect": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                        "auth": "none"}},
    "models": {
        "house-large": {"provider": "mock", "display_name": "House Large", "aliases": ["house-large-2026"],
                        "context_window": 300000, "max_output": 32000},
        "house-small": {"provider": "mock", "upstream_model": "small-v2", "max_output": 8000},
    },
    "routes": {"default": ["house-large"], "background": ["house-small"]},
    "aliases": {"claude-sonnet-*": "default", "claude-haiku-*": "house-small"},
}  # fmt: skip


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    gateway = build_gateway(validate_config(DOCUMENT, "models.yaml"), env={}, store=MemoryStore())
    with serve(create_messages_app(gateway)) as base:
        yield base


def test_an_aliased_name_is_a_model_to_get_as_it_is_to_post(url: str) -> None:
    claude = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
    prompt = [{"role": "user", "content": "x"}]
    served = claude.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=prompt)
    assert served.model == "claude-sonnet-4-5"
    model = claude.models.retrieve("claude-sonnet-4-5")
    assert (model.id, model.display_name) == ("claude-sonnet-4-5", "House Large")  # the name asked, served by
    raw = httpx.get(f"{url}/v1/models/claude-sonnet-4-5", headers={"anthropic-version": "2023-06-01"})
    assert raw.json()["max_input_tokens"] == 300000 and raw.json()["max_tokens"] == 32000
    haiku = claude.models.retrieve("claude-haiku-4-5")  # an alias naming a model
    assert haiku.id == "claude-haiku-4-5" and haiku.display_name == "house-small"
    own_alias = claude.models.retrieve("house-large-2026")  # a model's own alias answers with its id
    assert own_alias.id == "house-large"
    explicit = claude.models.retrieve("mock/small-v2")  # provider/upstream-model of a configured model
    assert explicit.display_name == "house-small"
    gpt = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert gpt.models.retrieve("claude-sonnet-4-5").owned_by == "mock"


@pytest.mark.parametrize("name", ["gpt-4o", "claude-opus-4-5", "other/unknown-model", "mock/not-configured"])
def test_names_nothing_configured_names_are_404(url: str, name: str) -> None:
    claude = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve(name)


def test_models_without_v1_answers_like_v1(url: str) -> None:
    with_version = httpx.get(f"{url}/v1/models").json()
    without = httpx.get(f"{url}/models").json()
    assert without == with_version and [m["id"] for m in without["data"]] == ["house-large", "house-small"]
    assert httpx.get(f"{url}/models/claude-sonnet-9").json()["id"] == "claude-sonnet-9"
    gpt = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)  # a base URL without /v1
    assert [m.id for m in gpt.models.list()] == ["house-large", "house-small"]


def test_the_built_in_mock_serves_and_knows_every_name() -> None:
    table = table_for_catalog(Catalog([MOCK_MODEL]), MOCK_MODEL.id)
    found = table.entry_for_name("claude-sonnet-4-5")
    assert found is not None and found[0].id == MOCK_MODEL.id and found[1] is False


def test_health_is_public_and_a_keys_allow_list_covers_aliased_names() -> None:
    store = MemoryStore()
    gateway = build_gateway(validate_config(DOCUMENT, "models.yaml"), env={}, store=store)
    ring = KeyRing(store)
    limited, _ = asyncio.run(create_key(ring, name="limited", allowed_models=["claude-sonnet-*"]))
    with serve(create_messages_app(gateway, ring)) as base:
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}  # no key needed
        assert httpx.get(f"{base}/v1/models/claude-sonnet-4-5").status_code == 401
        headers = {"x-api-key": limited, "anthropic-version": "2023-06-01"}
        assert httpx.get(f"{base}/v1/models/claude-sonnet-4-5", headers=headers).status_code == 200
        assert httpx.get(f"{base}/v1/models/house-large", headers=headers).status_code == 404  # not allowed
        assert httpx.get(f"{base}/v1/models/claude-haiku-4-5", headers=headers).status_code == 404
