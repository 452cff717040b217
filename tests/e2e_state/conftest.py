"""Fixtures of the end-to-end state suite; the helpers they use live in ``state_e2e_support``.

Test modules import helpers from ``state_e2e_support`` (a unique module name): ``from conftest
import ...`` would resolve to whichever ``conftest`` another directory registered first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from state_e2e_support import Deployment, deploy, new_table

from aimux_core.keys import KeyRing
from aimux_core.state.dynamodb import DynamoStore
from support.dynamo import REGION, DynamoServer, fake_aws_env, moto_server  # noqa: F401  (session fixture)
from support.server import serve


@pytest.fixture
def dynamo_store(moto_server: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> DynamoStore:  # noqa: F811
    """A ``DynamoStore`` on a fresh table of the session's moto server, with its own boto3 client."""
    fake_aws_env(monkeypatch)
    return DynamoStore(new_table(moto_server), client=moto_server.shared_client(), region=REGION)


@pytest.fixture
def deployment(dynamo_store: DynamoStore) -> Iterator[Deployment]:
    """The gateway on DynamoDB (moto), keys on the same table, served on loopback (auth on)."""
    keys = KeyRing(dynamo_store, cache_seconds=30)
    gateway, app = deploy(dynamo_store, keys)
    with serve(app) as url:
        yield Deployment(url, gateway, keys, dynamo_store)
