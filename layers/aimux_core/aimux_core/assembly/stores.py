"""Where a process keeps its shared state and its keys: ``build_store`` and ``build_keyring``."""

from __future__ import annotations

from ..keys.ring import KeyRing
from ..settings import Settings
from ..state.clock import Clock
from ..state.store import Store


def build_store(settings: Settings, clock: Clock | None = None) -> Store:
    """The shared state: the DynamoDB table ``AIMUX_TABLE`` names, else a fresh in-memory store (this process)."""
    if settings.table:
        from ..state.dynamodb import DynamoStore  # boto3 only when a table is configured (cold start)

        return DynamoStore(settings.table, endpoint_url=settings.dynamodb_endpoint, region=settings.region, clock=clock)
    from ..state.memory import MemoryStore  # the one backend this process uses, not both

    return MemoryStore(clock)


def build_keyring(settings: Settings, clock: Clock | None = None, *, store: Store | None = None) -> KeyRing:
    """The ``KeyRing`` of a process: ``store`` (the gateway's, so that one in-memory store holds a local
    process's keys and spend alike), else ``build_store``; lookups cached ``AIMUX_KEY_CACHE_SECONDS``."""
    return KeyRing(store if store is not None else build_store(settings, clock), clock, settings.key_cache_seconds)
