"""A budget is exact across a fleet: N gateway processes on one DynamoDB table (dynalite) never overspend it.

The fleet is ``aimux serve`` three times (``gateway_processes.py``), sharing nothing but the table. Each
request costs exactly its worst case (``metered``: the mock answers "hi" with 9 input and 6 output tokens,
at $100 and $250 per million, so $0.0024 with ``max_tokens`` 6), and the key's daily budget covers ten:

- one after another, exactly 10 of 20 are served (before reservations: 11, the 11th admitted before the
  10th's spend was written);
- at once, spread over the three processes and both dialects, streamed and not, exactly 10 of 10, 40 and
  400 (before: 26 of 40), and the refused get 429 ``rate_limit_error`` in their own dialect;
- a gateway killed mid-request leaves its hold behind; it blocks the budget until it expires, then the
  next request reclaims it and is served; a client that leaves mid-stream pays only for what it used.

Skipped, with the reason, when dynalite is not installed (``make node-tools``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_processes import Gateway, gateways, plant_key

from aimux_core.limits.spend import SpendLedger, SpendTotals, holds_in, period_at, spend_pk
from aimux_core.state.clock import SystemClock
from aimux_core.state.dynamodb import DynamoStore
from fakes import Fault, Reply, Usage
from fakes.anthropic_upstream import AnthropicUpstream
from support.dynamo import REGION, DynamoServer, dynalite_server  # noqa: F401  (session fixture)

pytestmark = pytest.mark.timeout(240)

COST = 9 * 100 + 6 * 250  # micro-dollars: "hi" on ``metered`` with max_tokens 6
BUDGET_USD = 10 * COST / 1_000_000
FLEET_CONFIG: dict[str, Any] = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {"metered": {"provider": "mock", "max_output": 4096, "price": {"input": 100, "output": 250}}},
    "routes": {"default": ["metered"]},
}
PROMPT = [{"role": "user", "content": "hi"}]
HTTP_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)


@dataclass
class Fleet:
    gateways: list[Gateway]
    store: DynamoStore

    def totals(self, key_id: str) -> SpendTotals:
        return asyncio.run(SpendLedger(self.store, SystemClock()).totals(key_id))

    def settled(self, key_id: str, seconds: float = 30.0) -> SpendTotals:
        """The key's totals once no hold is left (settlements run after each answer, in the background)."""
        deadline = time.monotonic() + seconds
        while True:
            totals = self.totals(key_id)
            if totals.held_month_micro == 0 or time.monotonic() > deadline:
                return totals
            time.sleep(0.1)


def store_on(server: DynamoServer) -> DynamoStore:
    return DynamoStore(server.table, client=server.shared_client(), region=REGION)


@pytest.fixture(scope="module")
def fleet(dynalite_server: DynamoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:  # noqa: F811
    with gateways(dynalite_server, FLEET_CONFIG, 3, tmp_path_factory.mktemp("fleet")) as running:
        yield Fleet(running, store_on(dynalite_server))


async def send(client: httpx.AsyncClient, base: str, plaintext: str, index: int) -> int:
    """One request; even indexes speak Anthropic, odd OpenAI; every second pair streams."""
    stream = index % 4 >= 2
    if index % 2 == 0:
        url, headers = f"{base}/v1/messages", {"x-api-key": plaintext, "anthropic-version": "2023-06-01"}
        body = {"model": "metered", "max_tokens": 6, "messages": PROMPT, "stream": stream}
    else:
        url, headers = f"{base}/v1/chat/completions", {"authorization": f"Bearer {plaintext}"}
        body = {"model": "metered", "max_tokens": 6, "messages": PROMPT, "stream": stream}
    response = await client.post(url, json=body, headers=headers)
    if response.status_code == 200:
        ending = ("message_stop" if index % 2 == 0 else "[DONE]") if stream else '"usage"'
        assert ending in response.text, response.text[-300:]
    elif response.status_code == 429:
        check_refusal(response, anthropic=index % 2 == 0)
    else:
        raise AssertionError(f"unexpected {response.status_code}: {response.text[:500]}")
    return response.status_code


def check_refusal(response: httpx.Response, *, anthropic: bool) -> None:
    """A budget refusal in the caller's dialect, with a retry-after to the budget's reset."""
    body = response.json()
    if anthropic:
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        message = body["error"]["message"]
    else:
        assert body["error"]["type"] == "rate_limit_error" and body["error"]["code"] == "rate_limit_exceeded"
        message = body["error"]["message"]
    assert message.startswith("daily budget of $0.024 ")
    assert response.headers["x-should-retry"] == "false" and int(response.headers["retry-after"]) >= 1


async def send_all(fleet: Fleet, plaintext: str, count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=120.0, limits=HTTP_LIMITS) as client:
        return await asyncio.gather(
            *(send(client, fleet.gateways[i % len(fleet.gateways)].url, plaintext, i) for i in range(count))
        )


def test_one_after_another_exactly_ten_requests_fit(fleet: Fleet) -> None:
    plaintext, record = plant_key(fleet.store, budget_daily_usd=BUDGET_USD)

    async def one_by_one() -> list[int]:
        async with httpx.AsyncClient(timeout=60.0) as client:
            return [await send(client, fleet.gateways[i % 3].url, plaintext, i) for i in range(20)]

    statuses = asyncio.run(one_by_one())
    assert statuses.count(200) == 10 and statuses[:10] == [200] * 10
    totals = fleet.settled(record.id)
    assert (totals.day_micro, totals.held_day_micro) == (10 * COST, 0)


@pytest.mark.parametrize("count", [10, 40, 400])
def test_concurrent_requests_across_processes_are_served_exactly_to_the_budget(fleet: Fleet, count: int) -> None:
    plaintext, record = plant_key(fleet.store, budget_daily_usd=BUDGET_USD)
    statuses = asyncio.run(send_all(fleet, plaintext, count))
    assert statuses.count(200) == 10, f"{statuses.count(200)} of {count} served"
    assert statuses.count(429) == count - 10
    totals = fleet.settled(record.id)
    assert (totals.day_micro, totals.month_micro, totals.held_month_micro) == (10 * COST, 10 * COST, 0)


# --------------------------------------------------------------------------- against a real HTTP upstream

UPSTREAM_KEY = "sk-ant-fleet-upstream-0001"
WORST = 100 * 20  # max_tokens 100 at $20 per million output tokens; input is free on ``paid``


def upstream_config(fake: AnthropicUpstream, seconds: float) -> dict[str, Any]:
    """One priced model on the fake; ``seconds`` bounds every call and the dispatch deadline."""
    timeouts = {"connect": seconds, "first_byte": seconds, "idle": seconds, "total": seconds}
    provider = {"preset": "anthropic", "base_url": fake.base_url, "api_key_env": "FLEET_UPSTREAM_KEY"}
    model = {"provider": "up", "upstream_model": "claude-test", "max_output": 4096}
    return {
        "providers": {"up": {**provider, "timeouts": timeouts}},
        "models": {"paid": {**model, "price": {"input": 0, "output": 20}}},
        "routes": {"default": ["paid"]},
        "retry": {"max_attempts": 1, "deadline": seconds},
    }


def post_paid(url: str, plaintext: str, **extra: Any) -> httpx.Response:
    body = {"model": "paid", "max_tokens": 100, "messages": PROMPT, **extra}
    headers = {"x-api-key": plaintext, "anthropic-version": "2023-06-01"}
    return httpx.post(f"{url}/v1/messages", json=body, headers=headers, timeout=30.0)


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_gateway_killed_mid_request_blocks_the_budget_only_until_its_hold_expires(
    dynalite_server: DynamoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    seconds = 4.0  # holds last 4 + 4 + 10 s (deadline, longest call, settlement grace)
    store = store_on(dynalite_server)
    with AnthropicUpstream() as fake:
        fake.default = Reply(text="ok", usage=Usage(input_tokens=9, output_tokens=100))
        fake.enqueue(Fault.stall(60))
        env = {"FLEET_UPSTREAM_KEY": UPSTREAM_KEY}
        with gateways(dynalite_server, upstream_config(fake, seconds), 2, tmp_path, env) as (doomed, survivor):
            plaintext, record = plant_key(store, budget_daily_usd=WORST / 1_000_000)
            stalled = threading.Thread(target=lambda: _ignore_errors(post_paid, doomed.url, plaintext), daemon=True)
            stalled.start()
            wait_for(lambda: len(fake.message_requests) == 1, 10, "the stalled request to reach the upstream")
            doomed.kill()  # its hold is reserved and will never be settled
            stalled.join(timeout=10)

            blocked = post_paid(survivor.url, plaintext)
            assert blocked.status_code == 429, blocked.text
            assert blocked.json()["error"]["message"].startswith("daily budget of $0.002 reached")
            (until,) = [parsed.until for parsed, _ in _holds(store, record.id)]
            assert until - time.time() <= 2 * seconds + 10 + 1

            wait_for(lambda: time.time() > until + 0.5, 3 * seconds + 15, "the dead request's hold to expire")
            served = post_paid(survivor.url, plaintext)
            assert served.status_code == 200, served.text
            assert float(served.headers["x-aimux-cost-usd"]) == pytest.approx(WORST / 1_000_000)
            totals = Fleet([survivor], store).settled(record.id)
            assert (totals.day_micro, totals.held_day_micro) == (WORST, 0)
            assert _holds(store, record.id) == []


def test_a_client_leaving_mid_stream_pays_only_for_what_it_used(
    dynalite_server: DynamoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = store_on(dynalite_server)
    with AnthropicUpstream() as fake:
        usage = Usage(input_tokens=9, output_tokens=100)
        fake.default = Reply(text="word " * 200, chunk_size=5, chunk_delay=0.05, usage=usage)
        env = {"FLEET_UPSTREAM_KEY": UPSTREAM_KEY}
        with gateways(dynalite_server, upstream_config(fake, 30.0), 1, tmp_path, env) as (gateway,):
            plaintext, record = plant_key(store, budget_daily_usd=1.0)
            body = {"model": "paid", "max_tokens": 100, "messages": PROMPT, "stream": True}
            headers = {"x-api-key": plaintext, "anthropic-version": "2023-06-01"}
            with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=30) as answer:
                assert answer.status_code == 200
                seen = ""
                for chunk in answer.iter_text():
                    seen += chunk
                    if "content_block_delta" in seen:
                        break  # the client goes away with most of the answer unsent
            totals = Fleet([gateway], store).settled(record.id)
            assert totals.held_day_micro == 0, "the hold was settled when the stream ended"
            assert totals.day_micro < WORST, "charged for what was streamed, not for the worst case"
            assert _holds(store, record.id) == []


def _holds(store: DynamoStore, key_id: str) -> list[Any]:
    item = asyncio.run(store.get(spend_pk(key_id), period_at(time.time()).month_sk))
    return list(holds_in(item).values())


def _ignore_errors(call: Any, *args: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the gateway was killed under it
        call(*args)
