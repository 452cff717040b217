"""Whether this process checks API keys (``AIMUX_AUTH``), and which store holds them.

    AIMUX_AUTH=on|off    explicit, wins
    unset, deployed      on   (``AWS_LAMBDA_FUNCTION_NAME`` is set: a gateway on the internet needs keys)
    unset, local         on when the store already holds keys, else off: ``aimux serve`` on a laptop
                         works out of the box and prints ``AUTH_OFF_NOTICE`` so nobody mistakes it for
                         a protected gateway

The mode is decided once, at start. With the local in-memory store there are no keys at start, so to
try keys locally run ``AIMUX_AUTH=on aimux serve`` and create them with ``aimux keys create``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Literal

from ..state.clock import Clock
from ..state.store import Store
from .record import INDEX_PK, INDEX_RANGE
from .ring import KeyRing

AuthMode = Literal["on", "off"]

AUTH_ENV = "AIMUX_AUTH"
TABLE_ENV = "AIMUX_TABLE"
CACHE_ENV = "AIMUX_KEY_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 30.0
AUTH_OFF_NOTICE = "aimux: AIMUX_AUTH=off - serving without API keys"


def auth_mode(env: Mapping[str, str], store_has_keys: bool) -> AuthMode:
    """The auth mode for this process (see the module docstring); ValueError on a bad ``AIMUX_AUTH``."""
    explicit = env.get(AUTH_ENV, "").strip().lower()
    if explicit in ("on", "off"):
        return "on" if explicit == "on" else "off"
    if explicit:
        raise ValueError(f"{AUTH_ENV} must be 'on' or 'off', got {env[AUTH_ENV]!r}")
    if env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return "on"
    return "on" if store_has_keys else "off"


async def store_has_keys(store: Store) -> bool:
    """Whether any key is listed (one query of the index partition)."""
    return bool(await store.query(INDEX_PK, *INDEX_RANGE))


def decide_at_start(env: Mapping[str, str], keys: KeyRing) -> AuthMode:
    """``auth_mode`` for a starting process, reading the store only when the environment leaves it open.

    Synchronous (runs its own short event loop), for ``aimux serve`` before the server starts.
    """
    if env.get(AUTH_ENV, "").strip() or env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return auth_mode(env, store_has_keys=False)
    return auth_mode(env, store_has_keys=asyncio.run(store_has_keys(keys.store)))


def cache_seconds_from_env(env: Mapping[str, str]) -> float:
    """``AIMUX_KEY_CACHE_SECONDS`` (default 30): how long a revoked key may still work in a running process."""
    raw = env.get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{CACHE_ENV} must be a number of seconds, got {raw!r}") from None
    if not 0 <= seconds <= 3600:
        raise ValueError(f"{CACHE_ENV} must be between 0 and 3600, got {raw!r}")
    return seconds


def store_from_env(env: Mapping[str, str] | None = None, clock: Clock | None = None) -> Store:
    """DynamoDB when ``AIMUX_TABLE`` is set, else a fresh in-memory store (this process only)."""
    env = os.environ if env is None else env
    table = env.get(TABLE_ENV, "").strip()
    if table:
        from ..state.dynamodb import DynamoStore  # boto3 only when a table is configured

        return DynamoStore(table, clock=clock)
    from ..state.memory import MemoryStore

    return MemoryStore(clock)


def keyring_from_env(
    env: Mapping[str, str] | None = None, clock: Clock | None = None, *, store: Store | None = None
) -> KeyRing:
    """The ``KeyRing`` a process should use: ``store`` (the gateway's, so that one in-memory store holds a
    local process's keys and spend alike), else from ``AIMUX_TABLE``; cache from ``AIMUX_KEY_CACHE_SECONDS``."""
    env = os.environ if env is None else env
    return KeyRing(store if store is not None else store_from_env(env, clock), clock, cache_seconds_from_env(env))
