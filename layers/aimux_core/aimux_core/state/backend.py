"""Which ``Store`` a process uses: the DynamoDB table ``AIMUX_TABLE`` names, else its own memory.

``build_store`` is how the composition root (``assembly``) and ``aimux keys`` open the deployment's state.
"""

from __future__ import annotations

from ..settings import Settings
from .clock import Clock
from .store import Store


def build_store(settings: Settings, clock: Clock | None = None) -> Store:
    """The shared state: the DynamoDB table ``AIMUX_TABLE`` names, else a fresh in-memory store (this process)."""
    if settings.table:
        from .dynamodb import DynamoStore  # boto3 only when a table is configured (cold start)

        return DynamoStore(settings.table, endpoint_url=settings.dynamodb_endpoint, region=settings.region, clock=clock)
    from .memory import MemoryStore  # the one backend this process uses, not both

    return MemoryStore(clock, interleave=False)  # one process: no need to rehearse a network store's turns
