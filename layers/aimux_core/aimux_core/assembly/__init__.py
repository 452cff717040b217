"""The composition root: the one place where settings and configuration become a running gateway.

Everything else in the layer receives what it needs (a store, a key ring, a gateway, the settings) and
builds none of it. The entry points call in here: ``functions/messages/app.py`` (``messages_app``),
``functions/admin/app.py`` (``admin_app``), ``aimux serve`` (``build_gateway``, ``build_keyring``), tests
and benchmarks (``local_app``, ``build_mock_gateway``). Nothing above it in the layer but ``cli``.

parts.py      configuration → adapters, catalog, routing table, retry policy, guard, limits: one gateway
providers.py  configuration → provider adapters (keys read here) and the model catalog

Cold start: a Lambda handler imports this module and ``surfaces.app`` only. The configuration (YAML,
schema), the adapters and the limits load on the first request (``parts``, imported by
``build_gateway``), boto3 only when a table or Bedrock is configured, FastAPI only for the admin app:
those are the in-function imports below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..accounting.metrics import Emission
from ..gateway import Gateway
from ..keys.mode import auth_mode
from ..keys.ring import KeyRing, build_keyring
from ..settings import Settings
from ..state.backend import build_store
from ..state.store import Store
from ..surfaces.app import create_local_app, create_messages_app

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.types import ASGIApp

    from ..config.schema import AimuxConfig
    from ..jobs.lambda_entry import WorkerHandler
    from ..surfaces.admin_access import AdminAccess

__all__ = [
    "admin_app",
    "build_gateway",
    "build_keyring",
    "build_mock_gateway",
    "build_store",
    "default_gateway",
    "local_app",
    "messages_app",
    "worker_handler",
]


def default_gateway(settings: Settings, env: Mapping[str, str] = os.environ) -> Gateway:
    """The gateway the configuration describes: ``AIMUX_CONFIG``, ``./aimux.yaml``, else the presets whose
    key variables (read from ``env``) are set, else the mock. Raises ``ConfigError`` naming what is wrong."""
    from ..config import resolve_config  # YAML and the schema: on the first request, not at import (cold start)

    return build_gateway(resolve_config(env, settings=settings), settings, env=env)


def build_gateway(
    config: AimuxConfig,
    settings: Settings | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    client: httpx.AsyncClient | None = None,
    store: Store | None = None,
) -> Gateway:
    """The gateway for ``config``: ``ConfigError`` when a provider cannot start (missing key...).

    Provider keys named by environment variables are read from ``env`` (``settings`` default to
    ``Settings.from_env(env)``). Breakers, health, provider caps, rate windows and spend share one
    store: ``store``, else ``build_store(settings)``. ``client``: the upstream HTTP client (tests).
    """
    from . import parts  # adapters, limits and guard load with the first gateway, not at import (cold start)

    settings = settings if settings is not None else Settings.from_env(env)
    return parts.build_gateway(config, settings, env=env, client=client, store=store)


def build_mock_gateway() -> Gateway:
    """A gateway where every model name is served by the built-in mock (tests, benchmarks)."""
    from ..providers.mock import MockProvider  # tests and benchmarks only: no handler loads the mock this way
    from ..routing.catalog import MOCK_MODEL, Catalog
    from ..routing.table import table_for_catalog

    catalog = Catalog([MOCK_MODEL])
    return Gateway({"mock": MockProvider()}, table_for_catalog(catalog, MOCK_MODEL.id))


def messages_app(settings: Settings | None = None) -> Starlette:
    """The client API of a Lambda function (``functions/messages``): gateway and key ring built on first use."""
    settings = settings if settings is not None else Settings.from_env()
    auth_on = auth_mode(settings, store_has_keys=False) == "on"
    return create_messages_app(
        build_gateway=lambda: default_gateway(settings),
        build_keys=(lambda: build_keyring(settings)) if auth_on else None,
        settings=settings,
    )


def admin_app(settings: Settings | None = None) -> FastAPI:
    """The admin API of a Lambda function (``functions/admin``): IAM-guarded there, loopback-only elsewhere."""
    from ..surfaces.admin import create_admin_app  # FastAPI: the admin function's cost, not the client API's
    from ..surfaces.admin_access import AdminAccess

    settings = settings if settings is not None else Settings.from_env()
    return create_admin_app(
        lambda: default_gateway(settings),
        build_keyring(settings),
        access=AdminAccess(settings),
        emission=Emission.of(settings),
        settings=settings,
    )


def worker_handler(settings: Settings | None = None) -> WorkerHandler:
    """The handler of the worker function (``functions/worker``): its gateway, store and jobs built on the
    first invocation (batch requests, async jobs and webhook deliveries from SQS, and the poll schedule)."""
    # the jobs package: the worker function's, not the client API's cold start
    from ..jobs.build import build_jobs
    from ..jobs.lambda_entry import WorkerHandler
    from ..surfaces.exchange import off_path_exchanges  # the live accounting of each request the worker runs

    settings = settings if settings is not None else Settings.from_env()
    ledgers = off_path_exchanges(Emission.of(settings))
    return WorkerHandler(lambda: build_jobs(default_gateway(settings), settings, ledgers=ledgers))


def local_app(
    gateway: Gateway | None = None,
    keys: KeyRing | None = None,
    *,
    admin_keys: KeyRing | None = None,
    admin_access: AdminAccess | None = None,
    settings: Settings | None = None,
) -> ASGIApp:
    """One process serving the client API and ``/admin`` over one gateway (default: from the settings and
    configuration). ``keys``: checked on client requests (None: auth off); ``admin_keys`` (default
    ``keys``, else ``build_keyring``) is what ``/admin/keys`` manages; ``admin_access`` defaults to the
    settings' rules. ``aimux serve`` builds the same from parts it reports on as it starts."""
    from ..surfaces.admin_access import AdminAccess  # the admin rules: not on a Lambda client API's cold start

    settings = settings if settings is not None else Settings.from_env()
    gateway = gateway if gateway is not None else default_gateway(settings)
    managed = admin_keys if admin_keys is not None else keys if keys is not None else build_keyring(settings)
    access = admin_access if admin_access is not None else AdminAccess(settings)
    return create_local_app(gateway, keys, admin_keys=managed, admin_access=access, settings=settings)
