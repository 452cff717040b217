"""Real DynamoDB implementations served over HTTP on loopback, for the state tests.

- ``moto_server``: moto's ``ThreadedMotoServer`` in this process. Always available (a dev dependency).
  Faithful for conditions, ADD, transactions and TTL attributes; **loses concurrent updates** to one
  item (no per-item lock), so atomicity under concurrency is never tested against it.
- ``dynalite_server``: dynalite (Node, ``tests/e2e/node_modules``, installed by ``make node-tools``) in
  a child process. Exact under concurrency; no TransactWriteItems, no TTL API, and it ignores
  ``ReturnValuesOnConditionCheckFailure``. Skipped, with the reason, when it is not installed.

One table per server for the whole session: tests address their items under a unique ``ns`` prefix,
so they need neither their own table nor cleanup. Both servers bind 127.0.0.1 only, every wait is
bounded, and both are stopped at the end of the session. Clients get dummy credentials, us-east-1.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aimux_core.state import Clock
from aimux_core.state.dynamodb import DynamoStore, create_table

REGION = "us-east-1"
TABLE = "aimux-test"
DYNALITE_CLI = Path(__file__).resolve().parents[1] / "e2e" / "node_modules" / "dynalite" / "cli.js"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
INSTANT_TABLES = ("--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
_session_clients: dict[str, Any] = {}
REAL_AWS_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class DynamoServer:
    """A running DynamoDB-compatible server and the session's table on it."""

    name: str
    endpoint_url: str
    table: str
    has_transactions: bool

    def shared_client(self) -> Any:
        """One client per server for the whole session (building a client costs ~0.25 s of CPU)."""
        client = _session_clients.get(self.endpoint_url)
        if client is None:
            client = _session_clients[self.endpoint_url] = self.client()
        return client

    def client(self, **config: Any) -> Any:
        """A fresh boto3 client for this server with dummy credentials (independent of the env)."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        settings = {
            "retries": {"total_max_attempts": 2, "mode": "standard"},
            "connect_timeout": 2,
            "read_timeout": 5,  # a loaded 2-core CI box, not a hung server
            "max_pool_connections": 32,
        }
        return session.client("dynamodb", endpoint_url=self.endpoint_url, config=Config(**(settings | config)))


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region; nothing from a developer's real AWS setup leaks in."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in REAL_AWS_ENV:
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, seconds: float) -> bool:
    """True once 127.0.0.1:port accepts connections; False on timeout or when the process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def running_moto() -> Iterator[str]:
    """A ThreadedMotoServer on a free loopback port (its default is 0.0.0.0); yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def dynalite_missing_reason() -> str | None:
    if shutil.which("node") is None:
        return "dynalite needs Node (node is not on PATH)"
    if not DYNALITE_CLI.exists():
        return f"dynalite is not installed ({DYNALITE_CLI} missing): run `make node-tools` (npm install in tests/e2e)"
    return None


@contextlib.contextmanager
def running_dynalite(log_dir: Path) -> Iterator[str]:
    """dynalite on a free loopback port, tables ACTIVE at once; yields the endpoint URL."""
    node = shutil.which("node")
    assert node is not None
    for attempt in range(3):  # a free port can be taken between our probe and dynalite's bind: try another
        port = free_port()
        log_path = log_dir / f"dynalite-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [node, str(DYNALITE_CLI), "--host", "127.0.0.1", "--port", str(port), *INSTANT_TABLES],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            if wait_for_port(port, process, seconds=15):
                yield f"http://127.0.0.1:{port}"
                return
        finally:
            stop_process(process)
    raise RuntimeError(f"dynalite did not start; see {log_dir}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[DynamoServer]:
    with running_moto() as endpoint:
        server = DynamoServer("moto", endpoint, TABLE, has_transactions=True)
        create_table(server.client(), TABLE)
        yield server


@pytest.fixture(scope="session")
def dynalite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoServer]:
    reason = dynalite_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_dynalite(tmp_path_factory.mktemp("dynalite")) as endpoint:
        server = DynamoServer("dynalite", endpoint, TABLE, has_transactions=False)
        create_table(server.client(), TABLE)
        yield server


def dynamo_store_on(server: DynamoServer, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> DynamoStore:
    """A ``DynamoStore`` built the way aimux builds it (lazy shared client from the env), on ``server``."""
    fake_aws_env(monkeypatch)
    ensure_table(server)
    return DynamoStore(server.table, endpoint_url=server.endpoint_url, region=REGION, clock=clock)


@pytest.fixture
def moto_store(moto_server: DynamoServer, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> DynamoStore:
    """A store on the session's moto server; needs a ``clock`` fixture where it is used."""
    return dynamo_store_on(moto_server, clock, monkeypatch)


@pytest.fixture
def dynalite_store(dynalite_server: DynamoServer, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> DynamoStore:
    """A store on the session's dynalite server; needs a ``clock`` fixture where it is used."""
    return dynamo_store_on(dynalite_server, clock, monkeypatch)


def ensure_table(server: DynamoServer) -> None:
    """Re-create the session table if it vanished (one DescribeTable when it is there).

    ``moto.mock_aws`` in any other test resets moto's in-process backends, which the threaded server
    shares, so a test run that interleaves those with ours would otherwise lose the table.
    """
    from botocore.exceptions import ClientError

    client = server.shared_client()
    try:
        client.describe_table(TableName=server.table)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        create_table(client, server.table)
