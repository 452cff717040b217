"""Keys in DynamoDB (moto on loopback): ``aimux keys`` with ``AIMUX_TABLE`` writes what a deployed gateway reads."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from aimux_core.cli import main
from aimux_core.errors import AuthenticationFailed, PermissionDenied
from aimux_core.keys import KeyRing
from aimux_core.state import FakeClock
from aimux_core.state.dynamodb import DynamoStore, create_table
from support.dynamo import REGION, DynamoServer, fake_aws_env, moto_server  # noqa: F401  (session fixture)


@pytest.fixture
def table(moto_server: DynamoServer, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """A table of its own (the key index partition is fixed, so tests must not share one)."""
    fake_aws_env(monkeypatch)
    name = f"aimux-keys-{uuid.uuid4().hex[:8]}"
    create_table(moto_server.client(), name)
    monkeypatch.setenv("AIMUX_TABLE", name)
    monkeypatch.setenv("AIMUX_DYNAMODB_ENDPOINT", moto_server.endpoint_url)
    return name


def test_cli_with_aimux_table_manages_the_deployed_keys(
    table: str,
    moto_server: DynamoServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    gateway = KeyRing(DynamoStore(table, endpoint_url=moto_server.endpoint_url, region=REGION, clock=clock), clock)

    assert main(["keys", "create", "--name", "deployed", "--rpm", "10", "--budget-daily", "2.5"]) == 0
    plaintext = capsys.readouterr().out.strip()
    record = asyncio.run(gateway.authenticate(plaintext))
    assert (record.name, record.rpm, record.budget_daily_usd, record.version) == ("deployed", 10, 2.5, 1)

    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["keys"]
    assert [k["id"] for k in listed] == [record.id] and plaintext not in json.dumps(listed)

    assert main(["keys", "disable", record.id]) == 0
    capsys.readouterr()
    with pytest.raises(AuthenticationFailed):
        asyncio.run(gateway.authenticate("amx-" + "a" * 52))
    assert asyncio.run(gateway.authenticate(plaintext)).id == record.id  # cached for cache_seconds
    clock.advance(30)
    with pytest.raises(PermissionDenied):
        asyncio.run(gateway.authenticate(plaintext))

    assert main(["keys", "rotate", record.id]) == 0
    new_plain = capsys.readouterr().out.strip()
    clock.advance(30)
    with pytest.raises(AuthenticationFailed):
        asyncio.run(gateway.authenticate(plaintext))
    with pytest.raises(PermissionDenied):  # still disabled after rotation
        asyncio.run(gateway.authenticate(new_plain))
    assert main(["keys", "enable", record.id]) == 0
    clock.advance(30)
    assert asyncio.run(gateway.authenticate(new_plain)).id == record.id

    stored = json.dumps(moto_server.client().scan(TableName=table)["Items"])
    assert len(json.loads(stored)) == 2  # the record and its index entry
    for secret in (plaintext, new_plain):
        assert secret not in stored and secret[4:] not in stored

    assert main(["keys", "delete", record.id]) == 0
    assert main(["keys", "show", record.id]) == 1
    assert "404" in capsys.readouterr().err

    items = moto_server.client().scan(TableName=table)["Items"]
    assert items == []  # both items of the key are gone
