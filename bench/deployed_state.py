"""The state a deployed aimux runs on, for benchmarks: a DynamoDB table (dynalite) and a limited key.

Why: ``aimux serve`` keeps its state in memory, with auth off. On Lambda every request with a key also
reads and writes DynamoDB (rate windows, spend, usage, breaker, health: 8 calls for a warm request), writes
an EMF line, and holds its response until those writes are done (``surfaces/invocation.py``). A benchmark
that stands for Lambda runs ``aimux serve`` with ``DeployedState.env``: the table on dynalite (it keeps
connections alive, as DynamoDB does; moto's server closes each one), ``AIMUX_AUTH=on`` with a key that has
rpm, tpm and a daily budget, ``AIMUX_EMF=1`` and ``AIMUX_FINISH_WRITES_IN_REQUEST=1``.

dynalite has no transactions, and ``create_key`` writes with one: the key is made on the in-process store
and its items copied into the table as they are (``seed_key``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # dynalite's launcher lives with the tests

from aimux_core.keys import KeyRing, create_key  # noqa: E402
from aimux_core.state import MemoryStore  # noqa: E402
from aimux_core.state.dynamodb import DynamoStore, create_table, make_client  # noqa: E402
from support.dynamo import FAKE_AWS_ENV, REGION, running_dynalite  # noqa: E402

FAKE_AWS = FAKE_AWS_ENV  # dummy credentials and region, nothing from a real AWS setup
KEY_LIMITS: dict[str, Any] = {"rpm": 1_000_000, "tpm": 1_000_000_000, "budget_daily_usd": 1e6}


@dataclass(frozen=True, slots=True)
class DeployedState:
    endpoint: str
    table: str
    key: str  # the plaintext API key

    @property
    def env(self) -> dict[str, str]:
        """What ``aimux serve`` needs to run as the deployed function does."""
        return {
            **FAKE_AWS,
            "AIMUX_TABLE": self.table,
            "AIMUX_DYNAMODB_ENDPOINT": self.endpoint,
            "AIMUX_AUTH": "on",
            "AIMUX_EMF": "1",
            "AIMUX_FINISH_WRITES_IN_REQUEST": "1",
        }


def new_table(endpoint: str) -> str:
    table = f"aimux-bench-{uuid.uuid4().hex[:8]}"
    create_table(make_client(endpoint, REGION), table)
    return table


async def seed_key(store: DynamoStore, **limits: Any) -> str:
    """A key with ``limits`` (default ``KEY_LIMITS``) written into ``store``'s table; its plaintext."""
    scratch = MemoryStore()
    plaintext, _ = await create_key(KeyRing(scratch), name="bench", **(limits or KEY_LIMITS))
    for pk, items in scratch._partitions.items():
        for sk, item in items.items():
            await store.put(pk, sk, {k: v for k, v in item.items() if k != "version"}, expect_version=None)
    return plaintext


@contextlib.contextmanager
def deployed_state() -> Iterator[DeployedState]:
    """dynalite running, one table, one key: for the duration of the block."""
    import os

    os.environ.update(FAKE_AWS)
    with running_dynalite(Path(tempfile.mkdtemp(prefix="aimux-bench-dynalite-"))) as endpoint:
        table = new_table(endpoint)
        key = asyncio.run(seed_key(DynamoStore(table, endpoint_url=endpoint, region=REGION)))
        yield DeployedState(endpoint, table, key)
