"""How ``DynamoStore`` is configured and built: env names, a lazy shared client, bounded timeouts, no blocking."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from typing import Any

import pytest

from aimux_core.assembly import build_store
from aimux_core.settings import Settings
from aimux_core.state import ABSENT, MemoryStore
from aimux_core.state import dynamodb_client as ddb_client
from aimux_core.state.dynamodb import DynamoStore
from support.dynamo import REGION, DynamoServer, ensure_table, fake_aws_env

pytestmark = pytest.mark.anyio


def test_importing_the_store_does_not_import_boto3() -> None:
    """Lambda cold start: boto3/botocore load on the first store call, not with the layer."""
    code = (
        "import sys, aimux_core.state.dynamodb\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_table_and_endpoint_come_from_the_environment() -> None:
    env = {"AIMUX_TABLE": "from-env", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    store = build_store(Settings.from_env(env))
    assert isinstance(store, DynamoStore)
    assert (store.table_name, store._endpoint_url) == ("from-env", "http://127.0.0.1:1")
    env["AIMUX_DYNAMODB_ENDPOINT"] = "http://127.0.0.1:2"  # aimux's own name wins
    assert build_store(Settings.from_env(env))._endpoint_url == "http://127.0.0.1:2"
    assert DynamoStore("given", endpoint_url="http://127.0.0.1:3")._endpoint_url == "http://127.0.0.1:3"
    assert DynamoStore("given").table_name == "given"
    assert isinstance(build_store(Settings()), MemoryStore)  # no table: this process's memory


def test_the_local_store_answers_without_a_turn_of_the_loop() -> None:
    """``aimux serve``'s store does each call in its first step (no yield a network store would make), so a
    write after the answer needs no scheduling; the tests' default ``MemoryStore`` still yields once."""

    def first_step(store: MemoryStore) -> object:
        call = store.add("pk", "sk", {"n": 1})
        try:
            return call.send(None)
        except StopIteration as finished:
            return finished.value
        finally:
            call.close()

    local = build_store(Settings())
    assert isinstance(local, MemoryStore)
    assert first_step(local) == {"pk": "pk", "sk": "sk", "n": 1, "version": 1}
    assert first_step(MemoryStore()) is None  # yielded to the loop: not done yet


def test_a_table_name_is_required() -> None:
    with pytest.raises(ValueError, match="AIMUX_TABLE"):
        DynamoStore("")


async def test_configured_from_the_environment_alone_it_works_with_one_lazy_client_per_process(
    moto_server: DynamoServer, monkeypatch: pytest.MonkeyPatch, ns: str
) -> None:
    fake_aws_env(monkeypatch)
    ensure_table(moto_server)
    monkeypatch.setenv("AIMUX_TABLE", moto_server.table)
    monkeypatch.setenv("AIMUX_DYNAMODB_ENDPOINT", moto_server.endpoint_url)
    settings = Settings.from_env()
    first, second = build_store(settings), build_store(settings)
    assert isinstance(first, DynamoStore) and isinstance(second, DynamoStore)
    assert first._client is None  # nothing built at construction

    await first.put(f"{ns}#a", "x", {"n": 1}, expect_version=ABSENT)
    assert (await second.get(f"{ns}#a", "x"))["n"] == 1
    assert first.client is second.client is ddb_client.shared_client(moto_server.endpoint_url, REGION)


def test_the_client_never_waits_long_and_pools_enough_connections() -> None:
    config = ddb_client.make_client("http://127.0.0.1:1", REGION).meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 2)
    assert config.retries["total_max_attempts"] == 2
    assert config.max_pool_connections >= 32


class BlockingClient:
    """Every call blocks its worker thread until the test releases it, like a boto3 round trip in flight."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.in_flight = 0
        self.released = threading.Event()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        def call(**params: Any) -> dict:
            with self._lock:
                self.threads.add(threading.current_thread().name)
                self.in_flight += 1
            if not self.released.wait(timeout=10):
                raise RuntimeError("never released: the event loop stopped while boto3 calls were blocked")
            return {}

        return call


async def test_calls_overlap_on_the_worker_threads_and_the_event_loop_keeps_running() -> None:
    """32 calls are in flight at once on aimux's own threads while the loop keeps polling (no timing involved).

    Were the calls run on the loop thread, the first would block it and the poll below could never release it;
    on a smaller pool (the default is 6 threads here) ``in_flight`` would never reach 32.
    """
    client = BlockingClient()
    store = DynamoStore("t", client=client)
    calls = asyncio.gather(*(store.get("p", str(i)) for i in range(32)))
    try:
        async with asyncio.timeout(10):
            while client.in_flight < 32:
                await asyncio.sleep(0.005)  # runs only while the loop is free
    finally:
        client.released.set()
    assert await calls == [None] * 32
    assert len(client.threads) == 32 and all(name.startswith("aimux-dynamodb") for name in client.threads)
