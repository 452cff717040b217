"""A gateway with a response cache in front of a fake Anthropic upstream, served on loopback for the SDKs.

The configuration goes through validation and ``assembly.build_gateway`` over a ``MemoryStore`` (or the
store a test passes), keys (when ``auth``) are created in that store before the first request, and the app
runs as on Lambda (``Settings.finish_writes_in_request``): a response ends only once its state writes
(the stored answer among them) are done, so the next request of a test sees them without sleeping.
The fake upstream's request count is what proves a hit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai

from aimux_core.assembly import build_gateway
from aimux_core.config.validate import validate_config
from aimux_core.keys import KeyRing, create_key
from aimux_core.limits.project import read_project
from aimux_core.projects.admin import create_project
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.app import create_messages_app
from support.server import serve
from support.wire_tap import WireTap

MODEL = "claude-cache-test"
PRICE = {"input": 3, "output": 15}  # USD per million tokens: the fake's default reply costs $0.0003
UPSTREAM_KEY = {"ANTHROPIC_API_KEY": "sk-ant-upstream-0001"}
OLD_VERSION = {"anthropic-version": "2023-06-01"}  # the version under which Anthropic clients send temperature
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


def document(upstream_url: str, section: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "providers": {"up": {"preset": "anthropic", "base_url": upstream_url}},
        "models": {MODEL: {"provider": "up", "max_output": 4096, "price": PRICE}},
        "routes": {"default": [MODEL]},
        "retry": {"backoff_base": 0, "backoff_max": 0},
        "response_cache": section,
        **top,
    }


@dataclass
class CachedGateway:
    url: str
    gateway: Any
    store: Any
    keys: KeyRing | None
    taps: list[WireTap] = field(default_factory=list)

    def key(self, **fields: Any) -> str:
        """A new key's plaintext (created in the gateway's store before it serves a request with it); its
        ``project``, when named, is created first if it does not exist yet (a key may only name a project that does)."""
        assert self.keys is not None, "serve with auth=True to use keys"
        project = fields.get("project")
        if project is not None and asyncio.run(read_project(self.keys.store, project)) is None:
            asyncio.run(create_project(self.keys, project))
        plaintext, _ = asyncio.run(create_key(self.keys, name=f"k{len(self.taps)}", **fields))
        return plaintext

    def anthropic(self, api_key: str = "sk-client", **headers: str) -> tuple[anthropic.Anthropic, WireTap]:
        tap = WireTap()
        self.taps.append(tap)
        http = httpx2.Client(transport=tap, timeout=30)
        client = anthropic.Anthropic(
            base_url=self.url, api_key=api_key, max_retries=0, timeout=30, default_headers=headers, http_client=http
        )
        return client, tap

    def openai(self, api_key: str = "sk-client", **headers: str) -> tuple[openai.OpenAI, WireTap]:
        tap = WireTap()
        self.taps.append(tap)
        http = httpx2.Client(transport=tap, timeout=30)
        client = openai.OpenAI(
            base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=30, default_headers=headers,
            http_client=http,
        )  # fmt: skip
        return client, tap


@contextmanager
def cached_gateway(
    upstream_url: str, section: dict[str, Any], *, auth: bool = False, store: Any = None, **top: Any
) -> Iterator[CachedGateway]:
    """The client API of a gateway whose ``response_cache`` section is ``section``, on loopback."""
    config = validate_config(document(upstream_url, section, **top), "test.yaml")
    store = store if store is not None else MemoryStore()
    gateway = build_gateway(config, env=UPSTREAM_KEY, store=store)
    keys = KeyRing(store) if auth else None
    app = create_messages_app(gateway, keys, settings=Settings(finish_writes_in_request=True))
    with serve(app) as url:
        yield CachedGateway(url, gateway, store, keys)
