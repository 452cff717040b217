"""The thinking-provenance key: one per deployment shared by its functions, loaded lazily, never made up.

(That no public default remains, and that forged reasoning never reaches an upstream, is
``test_signing_forgery.py``.)

- the key lives in the state store: concurrent cold starts on one table (dynalite, each thread its own
  event loop and store, as Lambda instances are) agree on one key; another store has another key;
- it is read on the first request that signs or verifies, once per process: requests to a first-party
  Anthropic target never touch it;
- ``AIMUX_SIGNING_KEY`` overrides it; deleting the item rotates it (older signatures stop verifying, so
  their reasoning is dropped like unsigned reasoning); a store outage is a 529, not a key made up locally.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import anthropic
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.errors import Overloaded
from aimux_core.settings import Settings
from aimux_core.state import Item, MemoryStore, StoreUnavailable
from aimux_core.state.dynamodb import DynamoStore, create_table
from aimux_core.state.signing_key import PK, SK, load_signing_key
from aimux_core.translate.provenance_key import (
    PROVENANCE_KEY,
    ProvenanceKeyNotLoaded,
    ensure_provenance_key,
)
from aimux_core.translate.thinking import prepare_thinking, sign_reasoning
from aimux_core.wire.anthropic import MessagesRequest
from fakes import AnthropicUpstream, Reply
from support.dynamo import REGION, DynamoServer, dynalite_server, fake_aws_env  # noqa: F401  (fixture)
from support.server import serve

SIGNING_KEY_ENV = "AIMUX_SIGNING_KEY"


def mac_signature(provider: str, text: str, key: bytes) -> str:
    digest = hmac.new(key, f"{provider}\0{text}".encode(), hashlib.sha256).digest()
    return f"aimux1.{provider}." + base64.urlsafe_b64encode(digest[:18]).decode()


def history(signature: str, thinking: str = "I planned something.") -> MessagesRequest:
    return MessagesRequest.model_validate({
        "model": "m", "max_tokens": 64,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking, "signature": signature},
                                              {"type": "text", "text": "Done."}]},
            {"role": "user", "content": "and now?"},
        ],
    })


class KeyReads(MemoryStore):
    """A ``MemoryStore`` that counts the reads and writes of the signing-key item."""

    def __init__(self) -> None:
        super().__init__()
        self.key_reads = 0
        self.key_writes = 0

    async def get(self, pk: str, sk: str) -> Item | None:
        self.key_reads += pk == PK
        return await super().get(pk, sk)

    async def put(self, pk: str, sk: str, item: Any, *, expect_version: Any) -> int:
        self.key_writes += pk == PK
        return await super().put(pk, sk, item, expect_version=expect_version)


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)


# --------------------------------------------------------------------------- one per deployment


def test_concurrent_cold_starts_on_one_table_agree_on_one_key(
    dynalite_server: DynamoServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    fake_aws_env(monkeypatch)
    table = f"aimux-signing-{uuid.uuid4().hex[:8]}"
    create_table(dynalite_server.shared_client(), table)
    barrier = threading.Barrier(8)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def instance() -> None:
        async def cold_start() -> bytes:
            store = DynamoStore(table, client=dynalite_server.shared_client(), region=REGION)
            await asyncio.to_thread(barrier.wait, 30)
            return await load_signing_key(store)

        try:
            keys.append(asyncio.run(cold_start()))
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=instance) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(keys) == 8
    assert len(set(keys)) == 1 and len(keys[0]) >= 43  # 256 bits, base64url
    scanned = dynalite_server.shared_client().scan(TableName=table)["Items"]
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in scanned] == [(PK, SK)]
    other = asyncio.run(load_signing_key(MemoryStore()))
    assert other != keys[0]  # another store (deployment) has its own


@pytest.fixture
def deepseek() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream(default=Reply(text="ok")) as fake:
        yield fake


def test_it_is_loaded_on_first_use_only(deepseek: AnthropicUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first-party Anthropic target signs and verifies nothing: its requests never read the key."""
    monkeypatch.setenv("PLANTED_KEY", "test-key-0000000001")
    store = KeyReads()
    providers = {name: {"preset": name, "base_url": deepseek.base_url, "api_key_env": "PLANTED_KEY"}
                 for name in ("anthropic", "deepseek")}
    config = AimuxConfig.model_validate({
        "providers": providers,
        "models": {f"m-{name}": {"provider": name, "context_window": 131_072, "max_output": 8192}
                   for name in providers},
    })
    with serve(local_app(build_gateway(config, store=store))) as url:
        client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=20)
        for model, reads in (("m-anthropic", 0), ("m-anthropic", 0), ("m-deepseek", 1), ("m-deepseek", 1)):
            client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
            assert store.key_reads == reads, model


# --------------------------------------------------------------------------- override, rotation, outage


def test_the_environment_overrides_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "operator-chosen-signing-key-0001")
    store = KeyReads()
    PROVENANCE_KEY.use_loader(partial(load_signing_key, store), override=Settings.from_env().signing_key)
    asyncio.run(ensure_provenance_key())
    assert sign_reasoning("zai", "text") == mac_signature("zai", "text", b"operator-chosen-signing-key-0001")
    assert store.key_reads == 0


def test_deleting_the_item_rotates_the_key_and_old_signatures_are_dropped() -> None:
    store = MemoryStore()
    PROVENANCE_KEY.use_loader(partial(load_signing_key, store))
    asyncio.run(ensure_provenance_key())
    old = sign_reasoning("deepseek", "I planned something.")
    asyncio.run(store.delete(PK, SK))
    PROVENANCE_KEY.use_loader(partial(load_signing_key, store))  # a new container of the deployment
    asyncio.run(ensure_provenance_key())
    assert sign_reasoning("deepseek", "I planned something.") != old
    kept = prepare_thinking(history(old), "echo").messages[1].content
    assert [b.type for b in kept] == ["text"]  # type: ignore[union-attr]  # dropped like unsigned reasoning


class Unreachable(MemoryStore):
    async def get(self, pk: str, sk: str) -> Item | None:
        raise StoreUnavailable("down")


def test_a_store_outage_is_a_529_and_nothing_is_made_up() -> None:
    PROVENANCE_KEY.use_loader(partial(load_signing_key, Unreachable()))
    with pytest.raises(Overloaded) as raised:
        asyncio.run(ensure_provenance_key())
    assert raised.value.status == 529 and raised.value.retry_after == 1.0
    with pytest.raises(ProvenanceKeyNotLoaded):  # never a key of this process's own making
        sign_reasoning("deepseek", "text")
