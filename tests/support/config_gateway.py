"""A gateway built from a configuration document, as a deployment builds it, served on loopback.

For tests whose subject is a configuration field (a provider's beta policy, ``count_tokens``, a
preset's reasoning handling): the document goes through validation and ``assembly.build_gateway``
(real adapters, admission, guard) over a ``MemoryStore`` the test can inspect, and the client API is
served with ``create_messages_app`` for the official SDKs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from support.server import serve


@dataclass
class ServedConfig:
    url: str
    gateway: Any
    store: Any
    app: Any


@contextmanager
def serve_config(
    document: Mapping[str, Any], env: Mapping[str, str] | None = None, *, store: Any = None, settings: Any = None
) -> Iterator[ServedConfig]:
    """Serve the client API of the gateway ``document`` describes (keys read from ``env``), over
    ``store`` (a fresh ``MemoryStore`` by default), with the app's ``settings`` (default: ``Settings()``)."""
    from aimux_core.assembly import build_gateway
    from aimux_core.config.validate import validate_config
    from aimux_core.state import MemoryStore
    from aimux_core.surfaces.app import create_messages_app

    config = validate_config(dict(document), "test.yaml")
    store = store if store is not None else MemoryStore()
    gateway = build_gateway(config, env=dict(env or {}), store=store)
    app = create_messages_app(gateway, settings=settings)  # no key ring: auth off
    with serve(app) as url:
        yield ServedConfig(url, gateway, store, app)
