"""Response cache and in-flight dedup across a fleet: two ``aimux serve`` processes on one DynamoDB table.

The processes share nothing but the table (dynalite: exact under concurrency) and a fake Anthropic
upstream on loopback, whose request count proves every saving:

- a request in flight on one process is waited for by identical requests on both processes (buffered and
  streamed, the streams checked against Anthropic's grammar with the official SDK): one upstream call;
- its answer is then a hit on either process, with no upstream call;
- a process SIGKILLed in the middle of the first request (a Lambda instance dying) leaves its lease behind;
  it stops renewing, the lease expires within ``lease_seconds``, and the waiters on the other process call
  the upstream themselves, well within their deadline (``fallback``, not the ``max_wait_seconds`` limit).

Skipped, with the reason, when dynalite is not installed (``make node-tools``).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from gateway_processes import Gateway, gateways, plant_key

from aimux_core.state.dynamodb import DynamoStore
from fakes import Fault, Reply, Usage
from fakes.anthropic_upstream import AnthropicUpstream
from support.dynamo import REGION, DynamoServer, dynalite_server  # noqa: F401  (session fixture)
from support.threaded_call import ThreadedCall

pytestmark = pytest.mark.timeout(180)

MODEL = "cached"
UPSTREAM_ENV = {"FLEET_UPSTREAM_KEY": "sk-ant-fleet-upstream-0002"}
LEASE_SECONDS = 2.0
ANSWER = Reply(text="Computed once for the whole fleet.", usage=Usage(input_tokens=30, output_tokens=8))


def fleet_config(fake: AnthropicUpstream) -> dict[str, Any]:
    provider = {"preset": "anthropic", "base_url": fake.base_url, "api_key_env": "FLEET_UPSTREAM_KEY"}
    return {
        "providers": {"up": provider},
        "models": {MODEL: {"provider": "up", "upstream_model": "claude-test", "price": {"input": 3, "output": 15}}},
        "routes": {"default": [MODEL]},
        "retry": {"max_attempts": 1, "deadline": 30},
        "response_cache": {"mode": "use", "sampling": True, "lease_seconds": LEASE_SECONDS, "max_wait_seconds": 12},
    }


def send(gateway: Gateway, api_key: str, prompt: str, *, stream: bool = False) -> ThreadedCall:
    """One request to one gateway process, on its own thread."""
    messages = [{"role": "user", "content": prompt}]
    return ThreadedCall(gateway.url, model=MODEL, messages=messages, api_key=api_key, stream=stream, max_tokens=50)


def wait_for_upstream(fake: AnthropicUpstream, count: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while len(fake.message_requests) < count:
        assert time.monotonic() < deadline, f"the upstream saw {len(fake.message_requests)} of {count} requests"
        time.sleep(0.02)


def unique_prompt() -> str:
    return f"Summarise run {uuid.uuid4().hex[:8]} in one line."  # the table is shared by the whole session


@pytest.fixture
def store(dynalite_server: DynamoServer) -> DynamoStore:  # noqa: F811
    return DynamoStore(dynalite_server.table, client=dynalite_server.shared_client(), region=REGION)


def test_duplicates_on_two_processes_wait_for_one_upstream_call_then_hit(
    dynalite_server: DynamoServer,  # noqa: F811
    store: DynamoStore,
    tmp_path: Path,
) -> None:
    prompt = unique_prompt()
    with AnthropicUpstream() as fake:
        fake.enqueue(Fault.stall(2.0, reply=ANSWER))
        with gateways(dynalite_server, fleet_config(fake), 2, tmp_path, UPSTREAM_ENV) as (first, second):
            plaintext, _ = plant_key(store)
            leader = send(first, plaintext, prompt)
            wait_for_upstream(fake, 1)
            waiters = [
                send(second, plaintext, prompt),
                send(second, plaintext, prompt, stream=True),
                send(first, plaintext, prompt, stream=True),
                send(second, plaintext, prompt),
            ]
            leader.result()
            answers = [call.result() for call in waiters]
            assert len(fake.message_requests) == 1
            assert (leader.headers["x-aimux-cache"], leader.headers["x-aimux-dedup"]) == ("stored", "leader")
            for call in answers:
                assert (call.headers["x-aimux-cache"], call.headers["x-aimux-dedup"]) == ("hit", "waited")
                assert call.text == ANSWER.full_text

            later = [send(gateway, plaintext, prompt, stream=index == 1).result() for index, gateway in
                     enumerate((first, second))]  # fmt: skip
            assert [call.headers["x-aimux-cache"] for call in later] == ["hit", "hit"]
            assert all("x-aimux-dedup" not in call.headers for call in later)
            assert len(fake.message_requests) == 1


def test_waiters_fall_back_within_their_deadline_when_the_leading_process_is_killed(
    dynalite_server: DynamoServer,  # noqa: F811
    store: DynamoStore,
    tmp_path: Path,
) -> None:
    prompt = unique_prompt()
    with AnthropicUpstream() as fake:
        fake.enqueue(Fault.stall(15.0, reply=ANSWER))  # the leader's call: it never ends while its process lives
        fake.default = Reply(text="Answered by a waiter.")
        with gateways(dynalite_server, fleet_config(fake), 2, tmp_path, UPSTREAM_ENV) as (doomed, survivor):
            plaintext, _ = plant_key(store)
            leader = send(doomed, plaintext, prompt)
            wait_for_upstream(fake, 1)
            waiters = [send(survivor, plaintext, prompt, stream=index == 0) for index in range(3)]
            time.sleep(0.5)  # the waiters have found the lease and are polling it
            doomed.kill()
            leader.thread.join(10)
            assert leader.error is not None  # its client lost the connection
            answers = [call.result() for call in waiters]

            roles = sorted(call.headers["x-aimux-dedup"] for call in answers)
            assert "fallback" in roles and "timeout" not in roles, roles  # the lease expired: not max_wait
            fell_back = roles.count("fallback")
            assert len(fake.message_requests) == 1 + fell_back
            assert all(call.text == "Answered by a waiter." for call in answers)
            assert send(survivor, plaintext, prompt).result().headers["x-aimux-cache"] == "hit"
