"""Several ``aimux serve`` processes on one DynamoDB table: a fleet of gateways as Lambda would run it.

Why processes: budgets must hold across instances that share nothing but the state table, so each gateway
here is the real CLI in its own interpreter (own event loop, own boto3 client, own key cache), started
with the environment a deployment gives it (``AIMUX_TABLE``, ``AIMUX_AUTH=on``, ``AIMUX_CONFIG``) and the
table's endpoint (``AIMUX_DYNAMODB_ENDPOINT``: dynalite, exact under concurrency). Keys are written into
the table as ``keys/admin.py`` writes their record (dynalite has no transactions, so not through
``create_key``); authentication reads only the record.

Every wait is bounded, every process is stopped (SIGKILL after 5 s) and its log kept for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aimux_core.keys.record import META_SK, ApiKeyRecord, generate_key, hash_key, new_key_id, record_pk
from aimux_core.state.store import ABSENT, Store
from support.dynamo import FAKE_AWS_ENV, DynamoServer, free_port

START_SECONDS = 60.0
AIMUX = Path(sys.executable).parent / "aimux"


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """As a Lambda instance dies mid-request: SIGKILL, no cleanup of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def child_env(server: DynamoServer, config_path: Path, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMUX_", "AWS_", "ANTHROPIC_", "OPENAI_"))}
    env.update(FAKE_AWS_ENV)
    env.update(
        AIMUX_TABLE=server.table,
        AIMUX_DYNAMODB_ENDPOINT=server.endpoint_url,
        AIMUX_AUTH="on",
        AIMUX_CONFIG=str(config_path),
        AIMUX_HOST="127.0.0.1",
        AIMUX_PORT=str(port),
        AIMUX_LOG_LEVEL="WARNING",
        AIMUX_EMF="0",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def gateways(
    server: DynamoServer,
    config: Mapping[str, Any],
    count: int,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[list[Gateway]]:
    """``count`` gateway processes serving ``config`` on ``server``'s table, ready on loopback."""
    log_dir.mkdir(parents=True, exist_ok=True)
    config_path = log_dir / "aimux.json"  # JSON is YAML: the strict loader reads it as is
    config_path.write_text(json.dumps(config))
    started: list[Gateway] = []
    try:
        for index in range(count):
            port = free_port()
            log = log_dir / f"gateway-{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(AIMUX), "serve"],
                    env=child_env(server, config_path, port, extra_env or {}),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append(Gateway(f"http://127.0.0.1:{port}", process, log))
        for gateway in started:
            wait_ready(gateway)
        yield started
    finally:
        for gateway in started:
            stop(gateway.process)


def wait_ready(gateway: Gateway) -> None:
    deadline = time.monotonic() + START_SECONDS
    port = int(gateway.url.rsplit(":", 1)[1])
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"gateway exited at start: {gateway.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gateway not ready within {START_SECONDS:g} s: {gateway.log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def plant_key(store: Store, **limits: Any) -> tuple[str, ApiKeyRecord]:
    """A key record written into the table (plaintext, record), as ``create_key`` writes it."""
    plaintext = generate_key()
    record = ApiKeyRecord(
        id=new_key_id(), name="fleet", key_hash=hash_key(plaintext), created_at=time.time(), **limits
    )
    asyncio.run(store.put(record_pk(record.key_hash), META_SK, record.to_item(), expect_version=ABSENT))
    return plaintext, record
