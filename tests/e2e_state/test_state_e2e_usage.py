"""Usage is exact across a fleet: two ``aimux serve`` processes on one DynamoDB table (dynalite).

The processes share nothing but the table. Keys in two projects and one without send buffered and
streamed requests in both dialects, to both processes, concurrently, some failing upstream; then
``GET /admin/usage`` (asked of either process) must add up, per key, per project, per model and in total,
to exactly the costs the clients were told: ``x-aimux-cost-usd`` for buffered answers, and for streams
(which have no cost header) the cost in the request's log line, the same number the gateway settled.

A project budget is exact across the fleet too: two keys of one project, spread over both processes,
get exactly as many answers as the project's daily budget covers.

Skipped, with the reason, when dynalite is not installed (``make node-tools``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from gateway_processes import Gateway, gateways, plant_key

from aimux_core.limits.project import PROJECTS_PK, Project
from aimux_core.state.dynamodb import DynamoStore
from aimux_core.state.store import ABSENT
from support.dynamo import REGION, DynamoServer, dynalite_server  # noqa: F401  (session fixture)

pytestmark = pytest.mark.timeout(240)

FLEET_CONFIG: dict[str, Any] = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {
        "metered": {"provider": "mock", "max_output": 4096, "price": {"input": 100, "output": 250}},
        "pricey": {"provider": "mock", "max_output": 4096, "price": {"input": 300, "output": 1100}},
    },
    "routes": {"default": ["metered"]},
    "retry": {"max_attempts": 1},
}
COST = 9 * 100 + 6 * 250  # micro-dollars: "hi" on ``metered`` with max_tokens 6
PROMPT = [{"role": "user", "content": "hi"}]
HTTP_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


@dataclass
class Fleet:
    gateways: list[Gateway]
    store: DynamoStore

    def usage(self, index: int, *query: tuple[str, str]) -> dict[str, Any]:
        answer = httpx.get(f"{self.gateways[index].url}/admin/usage", params=list(query), timeout=30)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def counted(self, requests: int, seconds: float = 30.0) -> None:
        """Wait until the counters hold ``requests`` (each is written after its answer, in the background)."""
        deadline = time.monotonic() + seconds
        while self.usage(0)["total"]["requests"] < requests:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.usage(0)['total']['requests']} of {requests} requests counted")
            time.sleep(0.1)

    def logged_costs(self) -> dict[str, int]:
        """Request id → micro-dollars, from every process's request log lines."""
        costs = {}
        for gateway in self.gateways:
            for line in gateway.log.read_text().splitlines():
                if line.startswith("{") and '"message":"request"' in line:
                    fields = json.loads(line)
                    costs[fields["request_id"]] = int(Decimal(str(fields["cost_usd"])) * 1_000_000)
        return costs


def plant_project(store: DynamoStore, name: str, **limits: Any) -> None:
    project = Project(name=name, created_at=time.time(), **limits)
    asyncio.run(store.put(PROJECTS_PK, name, project.to_item(), expect_version=ABSENT))


@pytest.fixture(scope="module")
def fleet(dynalite_server: DynamoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:  # noqa: F811
    with gateways(dynalite_server, FLEET_CONFIG, 2, tmp_path_factory.mktemp("usage-fleet")) as running:
        yield Fleet(running, DynamoStore(dynalite_server.table, client=dynalite_server.shared_client(), region=REGION))


async def send(client: httpx.AsyncClient, base: str, plaintext: str, index: int) -> tuple[int, str, int | None]:
    """One request (dialect, streaming, model and failures vary with ``index``): status, request id, and
    the cost header of a buffered answer."""
    stream, model = index % 4 >= 2, "pricey" if index % 3 == 0 else "metered"
    text = "hi [[mock:error:500]]" if index % 7 == 6 else "hi"
    prompt = [{"role": "user", "content": text}]
    if index % 2 == 0:
        url, headers = f"{base}/v1/messages", {"x-api-key": plaintext, "anthropic-version": "2023-06-01"}
    else:
        url, headers = f"{base}/v1/chat/completions", {"authorization": f"Bearer {plaintext}"}
    body: dict[str, Any] = {"model": model, "max_tokens": 6, "messages": prompt, "stream": stream}
    if stream and index % 2 == 1:
        body["stream_options"] = {"include_usage": True}
    response = await client.post(url, json=body, headers=headers)
    header = response.headers.get("x-aimux-cost-usd")
    told = int(Decimal(header) * 1_000_000) if header is not None else None
    return response.status_code, response.headers["x-request-id"], told


def test_usage_adds_up_to_what_each_client_was_told_across_the_fleet(fleet: Fleet) -> None:
    plant_project(fleet.store, "web")
    plant_project(fleet.store, "data")
    keys = [plant_key(fleet.store, project="web"), plant_key(fleet.store, project="web"),
            plant_key(fleet.store, project="data"), plant_key(fleet.store)]  # fmt: skip
    sent = [(plaintext, record, i) for i in range(24) for plaintext, record in keys]

    async def everything() -> list[tuple[int, str, int | None]]:
        async with httpx.AsyncClient(timeout=60.0, limits=HTTP_LIMITS) as client:
            return await asyncio.gather(*(
                send(client, fleet.gateways[(i + n) % 2].url, plaintext, i)
                for n, (plaintext, _, i) in enumerate(sent)
            ))  # fmt: skip

    answers = asyncio.run(everything())
    statuses = Counter(status for status, _, _ in answers)
    assert statuses[200] > 0 and set(statuses) <= {200, 500}, statuses
    fleet.counted(len(sent))
    logged = fleet.logged_costs()
    told: Counter[str] = Counter()
    for (status, request_id, header), (_, record, _) in zip(answers, sent, strict=True):
        cost = header if header is not None else logged[request_id]  # a stream: its log line's cost
        if header is not None:
            assert header == logged[request_id]  # the header and the log line agree to the micro-dollar
        told[record.id] += cost if status == 200 else 0
    assert sum(told.values()) > 0

    for index in (0, 1):  # either process answers the same
        by_key = fleet.usage(index, ("group_by", "key"))
        mine = {g["group"]["key"]: g for g in by_key["groups"] if g["group"]["key"] in told}
        assert {key: group["cost_micro_usd"] for key, group in mine.items()} == dict(told)
        assert all(group["requests"] == 24 for group in mine.values())
    by_project = {g["group"]["project"]: g["cost_micro_usd"] for g in fleet.usage(1, ("group_by", "project"))["groups"]}
    records = [record for _, record in keys]
    assert by_project["web"] == told[records[0].id] + told[records[1].id]
    assert by_project["data"] == told[records[2].id]
    by_model = fleet.usage(0, ("group_by", "model"))
    assert sum(g["cost_micro_usd"] for g in by_model["groups"]) == by_model["total"]["cost_micro_usd"]
    errors = sum(g["errors"] for g in fleet.usage(0, ("group_by", "key"))["groups"] if g["group"]["key"] in told)
    assert errors == statuses[500]


def test_a_project_budget_is_exact_across_processes_and_keys(fleet: Fleet) -> None:
    plant_project(fleet.store, "team", budget_daily_usd=10 * COST / 1_000_000)
    members = [plant_key(fleet.store, project="team") for _ in range(2)]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60.0, limits=HTTP_LIMITS) as client:

            async def one(i: int) -> int:
                plaintext = members[i % 2][0]
                headers = {"x-api-key": plaintext, "anthropic-version": "2023-06-01"}
                body = {"model": "metered", "max_tokens": 6, "messages": PROMPT}
                response = await client.post(f"{fleet.gateways[i % 2].url}/v1/messages", json=body, headers=headers)
                if response.status_code == 429:
                    assert response.json()["error"]["message"].startswith("project team's daily budget of $0.024")
                return response.status_code

            return await asyncio.gather(*(one(i) for i in range(40)))

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 30
