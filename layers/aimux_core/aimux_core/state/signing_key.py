"""The deployment's thinking-signing secret in the state store: created once, shared by every function.

Item ``pk = "secret#signing"``, ``sk = "v1"``: ``key`` (256 random bits, base64url text; its ASCII bytes
are the HMAC key) and ``created_at``; no expiry. ``load_signing_key`` reads it (one ``GetItem``) and, when
it does not exist yet, creates it with a conditional put (only if still absent) and reads the winner on a
lost race, so concurrent cold starts of every function agree on one key. It runs at most once per process
(``translate.provenance_key`` caches what it returns), on the first request that signs or verifies.

Deleting the item rotates the key: the next process to need it creates a new one (see the README's
"Signing key (thinking provenance)" for what that does to signatures already handed out).
"""

from __future__ import annotations

import secrets

from ..errors import Overloaded
from .clock import Clock, SystemClock
from .store import ABSENT, ConditionFailed, Store, StoreUnavailable

PK = "secret#signing"
SK = "v1"
_ATTEMPTS = 3  # a create that loses its race reads the winner's item; an item deleted meanwhile is made again


async def load_signing_key(store: Store, clock: Clock | None = None) -> bytes:
    """The store's signing key, created if absent. A store outage is a 529 (``Overloaded``): retry shortly."""
    try:
        for _ in range(_ATTEMPTS):
            item = await store.get(PK, SK)
            if item is not None and isinstance(item.get("key"), str) and item["key"]:
                return str(item["key"]).encode()
            fresh = secrets.token_urlsafe(32)
            created_at = (clock or SystemClock()).now()
            try:
                await store.put(PK, SK, {"key": fresh, "created_at": created_at}, expect_version=ABSENT)
            except ConditionFailed:
                continue  # another process created it first: read theirs
            return fresh.encode()
    except StoreUnavailable:
        raise Overloaded(
            "thinking signatures are unavailable: the state store cannot be reached; retry shortly", retry_after=1.0
        ) from None
    raise Overloaded("thinking signing key could not be created in the state store; retry shortly", retry_after=1.0)
