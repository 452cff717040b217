"""Whether this process checks API keys (``AIMUX_AUTH``).

    AIMUX_AUTH=on|off    explicit, wins
    unset, deployed      on   (``AWS_LAMBDA_FUNCTION_NAME`` is set: a gateway on the internet needs keys)
    unset, local         on when the store already holds keys, else off: ``aimux serve`` on a laptop
                         works out of the box and prints ``AUTH_OFF_NOTICE`` so nobody mistakes it for
                         a protected gateway

The mode is decided once, at start. With the local in-memory store there are no keys at start, so to
try keys locally run ``AIMUX_AUTH=on aimux serve`` and create them with ``aimux keys create``. Which
store holds the keys is the composition root's choice (``assembly.build_keyring``).
"""

from __future__ import annotations

import asyncio

from ..settings import AuthMode, Settings
from ..state.store import Store
from .record import INDEX_PK, INDEX_RANGE
from .ring import KeyRing

AUTH_OFF_NOTICE = "aimux: AIMUX_AUTH=off - serving without API keys"


def auth_mode(settings: Settings, store_has_keys: bool) -> AuthMode:
    """The auth mode for this process (see the module docstring)."""
    if settings.auth is not None:
        return settings.auth
    if settings.on_lambda:
        return "on"
    return "on" if store_has_keys else "off"


async def store_has_keys(store: Store) -> bool:
    """Whether any key is listed (one query of the index partition)."""
    return bool(await store.query(INDEX_PK, *INDEX_RANGE))


def decide_at_start(settings: Settings, keys: KeyRing) -> AuthMode:
    """``auth_mode`` for a starting process, reading the store only when the settings leave it open.

    Synchronous (runs its own short event loop), for ``aimux serve`` before the server starts.
    """
    if settings.auth is not None or settings.on_lambda:
        return auth_mode(settings, store_has_keys=False)
    return auth_mode(settings, store_has_keys=asyncio.run(store_has_keys(keys.store)))
