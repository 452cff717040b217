"""DynamoDB round trips per gateway request with a limited key: before the upstream call, and after the answer.

Why: the hot path promises at most 2 DynamoDB round trips before the upstream call (key lookup cached, one
rate-window admission and the budget reservation sent together, breaker state cached) and everything else
written after the answer.
This counts them, rather than reasoning about them: every DynamoDB API call the store's boto3 client makes
fires ``before-call.dynamodb.<Operation>`` once (retries of a failed attempt would show up in ``before-send``,
not here: against a healthy endpoint there are none), and the mock provider is wrapped to note the counter the
moment the gateway calls it. Each call is labelled with the item family it addresses (``key``, ``rate``,
``spend``, ``breaker``, ``health``...: the partition key's prefix).

Setup: moto's ``ThreadedMotoServer`` on 127.0.0.1 (a real HTTP endpoint, botocore exactly as in Lambda), the
gateway ``assembly.build_gateway`` builds for a config with a priced mock model, a ``KeyRing`` on the same
table, and a key with rpm, tpm and a daily budget (with ``--step-down``, one too low for the default route's
worst case, so that every request is stepped down and reserves a second time). Every DynamoDB call is made
``--latency-ms`` slower on its worker thread, as a network round trip would: calls sent together overlap,
calls made one after another add up, so the wait before the upstream call, in whole multiples of it, is
the number of round trips of latency. Requests go through the ASGI app in process (httpx
``ASGITransport``), one at a time; after each answer the background writes are drained so they are counted
against the request that caused them. Request 1 is cold (empty key cache, breaker and health caches); the
rest are warm, and the table shows each request until the pattern repeats, then the warm totals.

``--echo`` measures a tool loop with a reasoning-echo provider (DeepSeek's behaviour: reasoning with
every answer, needed back on every later request): each answer is a tool call with reasoning, and each
request carries the whole conversation so far as a client that never asked for reasoning sends it
(no thinking blocks), so every request after the first needs its reasoning restored.

``--project`` puts the key in a project with its own rpm and daily budget (``projects/``): the project's
rate window and budget hold are two more calls sent with the key's, and a cold process reads the project
directory beside the key (one ``Query``).


``--response-cache hit`` turns the response cache on (``response_cache: {mode: use}``) and sends the same
request again and again: request 1 computes and stores the answer, every later one is a hit (no upstream
call: its round trips are counted up to its answer). ``--response-cache miss`` sends a new prompt each time:
every request leads (claims the entry, then is admitted, then stores its answer after the answer).

Run: ``.venv/bin/python bench/bench_state_round_trips.py [--requests N] [--cache-seconds S] [--echo] [--step-down]
[--response-cache hit|miss] [--project]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.keys import KeyRing, create_key
from aimux_core.providers.base import UpstreamCall
from aimux_core.state.dynamodb import DynamoStore, create_table, make_client
from aimux_core.wire.anthropic import Message, StreamEvent

CONFIG = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {
        "big": {"provider": "mock", "max_output": 4096, "price": {"input": 3, "output": 15}},
        "small": {"provider": "mock", "max_output": 4096, "price": {"input": 1, "output": 5}},
    },
    "routes": {"default": ["big"], "budget": ["small"]},
}
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class CallLog:
    """Every DynamoDB call (by operation), where the upstream call fell in that sequence, and how long
    the request waited for the store before it (each call made ``latency`` seconds slower)."""

    latency: float = 0.0
    calls: list[str] = field(default_factory=list)
    upstream_at: int | None = None
    started: float = 0.0
    waited: float | None = None

    def hook(self, model: Any, params: Any = None, **_: Any) -> None:
        """``before-call.dynamodb.*``: fires once per API call the client makes, on the calling thread."""
        self.calls.append(f"{model.name}({_family(params)})")
        if self.latency:
            time.sleep(self.latency)  # a network round trip: concurrent calls overlap, serial ones add up

    def reset(self) -> None:
        self.calls, self.upstream_at, self.started, self.waited = [], None, time.perf_counter(), None

    def upstream_called(self) -> None:
        self.upstream_at = len(self.calls)
        self.waited = time.perf_counter() - self.started

    def answered(self) -> None:
        """The answer arrived without an upstream call (a response-cache hit): its wait is the whole request."""
        if self.upstream_at is None:
            self.waited = time.perf_counter() - self.started

    @property
    def round_trips(self) -> int | None:
        """Store round trips of latency before the upstream call: whole multiples of ``latency`` in the wait
        (the request's own CPU time makes up the remainder, as long as it stays below ``latency``)."""
        if not self.latency or self.waited is None:
            return None
        return math.floor(self.waited / self.latency)


class MarkingProvider:
    """The mock provider, noting how many DynamoDB calls had been made when the gateway called it."""

    def __init__(self, inner: Any, log: CallLog) -> None:
        self._inner, self._log = inner, log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create(self, call: UpstreamCall) -> Message:
        self._log.upstream_called()
        return await self._inner.create(call)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[StreamEvent]:
        self._log.upstream_called()
        async for event in self._inner.stream(call):
            yield event


class EchoProvider:
    """A reasoning-echo provider (preset ``deepseek``): every answer is reasoning plus one tool call."""

    def __init__(self, log: CallLog) -> None:
        from aimux_core.presets import preset

        self.name = "mock"
        self.preset = preset("deepseek")
        self._log = log
        self._turn = 0

    async def create(self, call: UpstreamCall) -> Message:
        self._log.upstream_called()
        self._turn += 1
        return Message.model_validate({
            "id": f"msg_{self._turn}", "type": "message", "role": "assistant", "model": call.request.model,
            "content": [{"type": "thinking", "thinking": f"step {self._turn}: look again", "signature": "aimux1.x.y"},
                        {"type": "tool_use", "id": f"call_{self._turn:02d}", "name": "Bash",
                         "input": {"command": "ls"}}],
            "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}})

    def stream(self, call: UpstreamCall) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError("the bench sends buffered requests")


def _next_turn(body: dict[str, Any], answer: dict[str, Any]) -> None:
    """The client's next request: its history plus the answer without thinking, and the tool's result."""
    content = [block for block in answer["content"] if block["type"] != "thinking"]
    tool_id = next(block["id"] for block in content if block["type"] == "tool_use")
    body["messages"] += [{"role": "assistant", "content": content},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "a"}]}]


def _family(params: Any) -> str:
    """The partition key's prefix (``rate#key#key_ab..`` -> ``rate``) of the item(s) a call addresses."""
    body: Any = params.get("body", {}) if isinstance(params, dict) else {}
    if isinstance(body, bytes | str):  # by before-call the request body is already serialized JSON
        try:
            body = json.loads(body or b"{}")
        except ValueError:
            return "?"
    pk = body.get("Key", {}).get("pk") or body.get("Item", {}).get("pk")
    if pk is None and "KeyConditionExpression" in body:  # a Query: its first value is the partition key
        pk = next(iter(body.get("ExpressionAttributeValues", {}).values()), None)
    text = pk.get("S", "?") if isinstance(pk, dict) else "?"
    return text.split("#", 1)[0]


@dataclass
class Row:
    index: int
    status: int
    before: list[str]
    after: list[str]
    round_trips: int | None = None


def _summary(ops: list[str]) -> str:
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in Counter(ops).items()) or "-"


# --step-down: a budget below what a request may cost on ``big`` (4,000 output tokens at $15 per million,
# $0.06) but ample for ``small`` ($0.02 at most, about $0.00004 actually spent): every request is stepped
# down to the ``budget`` route, whose worst case is reserved in turn.
STEP_DOWN_BUDGET = {"budget_daily_usd": 0.06, "budget_route": "budget"}
STEP_DOWN_MAX_TOKENS = 4000


async def measure(
    endpoint: str, requests: int, cache_seconds: float, *, echo: bool = False, step_down: bool = False,
    latency: float = 0.0, response_cache: str | None = None, project: bool = False,
) -> list[Row]:
    client = make_client(endpoint, "us-east-1")
    table = f"aimux-bench-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    store = DynamoStore(table, client=client, region="us-east-1")
    keys = KeyRing(store, cache_seconds=cache_seconds)
    budget: dict[str, Any] = STEP_DOWN_BUDGET if step_down else {"budget_daily_usd": 1000.0}
    if project:
        from aimux_core.projects.admin import create_project

        await create_project(keys, "bench", rpm=10_000, budget_daily_usd=1000.0)
        budget = {**budget, "project": "bench"}
    plaintext, _ = await create_key(keys, name="bench", rpm=10_000, tpm=10_000_000, **budget)
    keys.cache = type(keys.cache)(keys.clock, cache_seconds)  # forget what create_key cached: request 1 is cold
    directory = getattr(keys, "projects", None)  # and the project directory (absent before projects existed)
    if directory is not None:
        keys.projects = type(directory)(store, keys.clock, cache_seconds)

    config = {**CONFIG, "response_cache": {"mode": "use", "sampling": True}} if response_cache else CONFIG
    gateway = build_gateway(AimuxConfig.model_validate(config), env={}, store=store)
    log = CallLog(latency)
    if echo:
        from aimux_core.reasoning import ReasoningEcho
        from aimux_core.state import SystemClock
        from aimux_core.state.reasoning import ReasoningMemory

        gateway.providers["mock"] = EchoProvider(log)
        gateway.reasoning = ReasoningEcho(ReasoningMemory(store, SystemClock()))
    else:
        gateway.providers["mock"] = MarkingProvider(gateway.providers["mock"], log)  # the dispatcher shares this dict
    client.meta.events.register("before-call.dynamodb.*", log.hook)

    app = local_app(gateway, keys)
    max_tokens = STEP_DOWN_MAX_TOKENS if step_down else 32
    body: dict[str, Any] = {"model": "big", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    if echo:
        body["tools"] = [{"name": "Bash", "input_schema": {"type": "object", "properties": {}}}]
    rows: list[Row] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=30.0) as http:
        for index in range(1, requests + 1):
            log.reset()
            if response_cache == "miss":
                body["messages"] = [{"role": "user", "content": f"hi {index}"}]
            answer = await http.post("/v1/messages", json=body, headers={"x-api-key": plaintext})
            log.answered()
            await gateway.drain()
            if echo:
                _next_turn(body, answer.json())
            upstream_at = log.upstream_at if log.upstream_at is not None else len(log.calls)
            before, after = log.calls[:upstream_at], log.calls[upstream_at:]
            rows.append(Row(index, answer.status_code, before, after, log.round_trips))
    return rows


def report(rows: list[Row], cache_seconds: float) -> str:
    lines = [
        f"key cache {cache_seconds:g} s; one request at a time; background writes drained after each answer",
        "",
        "| request | status | before upstream | round trips | after answer | before: operations | after: operations |",
        "|---|---|---|---|---|---|---|",
    ]
    steady = Counter(len(r.before) for r in rows[1:]).most_common(1)[0][0] if len(rows) > 1 else 0
    # cold, two warm, then any warm request that did more (a cache refresh), up to five of them
    shown = rows[:3] + [r for r in rows[3:] if len(r.before) != steady][:5]
    for row in shown:
        label = "1 (cold)" if row.index == 1 else f"{row.index} (warm)"
        trips = "-" if row.round_trips is None else str(row.round_trips)
        lines.append(
            f"| {label} | {row.status} | {len(row.before)} | {trips} | {len(row.after)} | {_summary(row.before)} "
            f"| {_summary(row.after)} |"
        )
    warm = rows[1:]
    if warm:
        before = [len(r.before) for r in warm]
        after = [len(r.after) for r in warm]
        trips = [r.round_trips for r in warm if r.round_trips is not None]
        trip_summary = f"max {max(trips)}, mean {sum(trips) / len(trips):.2f}" if trips else "-"
        lines.append(
            f"| warm, {len(warm)} requests | {','.join(sorted({str(r.status) for r in warm}))} "
            f"| max {max(before)}, mean {sum(before) / len(before):.2f} | {trip_summary} "
            f"| max {max(after)}, mean {sum(after) / len(after):.2f} | | |"
        )
    return "\n".join(lines)


def _trips_of(rows: Iterable[Row]) -> str:
    """The round trips of ``rows`` as ``N: count`` pairs ("-" when none)."""
    counted = Counter(r.round_trips for r in rows if r.round_trips is not None)
    return ", ".join(f"{trips}: {n}" for trips, n in sorted(counted.items())) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests to send (the first is cold)")
    parser.add_argument("--cache-seconds", type=float, default=30.0, help="the key ring's cache TTL")
    parser.add_argument("--echo", action="store_true", help="a tool loop with a reasoning-echo provider")
    parser.add_argument(
        "--latency-ms", type=float, default=50.0,
        help="added to every DynamoDB call, so that the wait before the upstream call counts round trips "
        "of latency (concurrent calls overlap); 0: calls only",
    )  # fmt: skip
    parser.add_argument("--project", action="store_true", help="the key is in a project with rpm and a budget")
    parser.add_argument(
        "--step-down", action="store_true",
        help="a budget too low for the default route's worst case: every request steps down to 'budget'",
    )  # fmt: skip
    parser.add_argument(
        "--response-cache", choices=["hit", "miss"],
        help="the response cache on: the same request every time (request 1 stores, the rest hit), or a new "
        "prompt every time (every request leads: claim, admission, upstream, store)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.environ.update(FAKE_AWS)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AIMUX_TABLE"):
        os.environ.pop(name, None)
    logging.disable(logging.INFO)  # the per-request log lines would drown the table
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        rows = asyncio.run(
            measure(
                endpoint, args.requests, args.cache_seconds, echo=args.echo, step_down=args.step_down,
                latency=args.latency_ms / 1000, response_cache=args.response_cache, project=args.project,
            )
        )
    finally:
        server.stop()
    print(report(rows, args.cache_seconds))
    warm_rows = rows[1:] or rows[:1]
    warm = [len(r.before) for r in warm_rows]
    steady = Counter(warm).most_common(1)[0][0]
    refreshes = sum(1 for n in warm if n != steady)
    trips = Counter(r.round_trips for r in warm_rows if r.round_trips is not None)
    steady_trips = trips.most_common(1)[0][0] if trips else None
    # calls: the reasoning Query runs alongside the two admission calls; a cache miss claims its entry first;
    # a project adds its own two
    limit = (3 if args.echo or args.response_cache == "miss" else 2) + (2 if args.project else 0)
    print(
        f"\nwarm hot path: {steady} DynamoDB call(s) (target <= {limit}) before the upstream call in "
        f"{'?' if steady_trips is None else steady_trips} round trip(s) of latency (target <= 2); "
        f"{refreshes} of {len(warm)} warm requests refreshed a cached snapshot (max {max(warm)} calls, "
        f"round trips {_trips_of(r for r in warm_rows if len(r.before) != steady)})",
        file=sys.stderr,
    )
    within = steady_trips <= 2 if steady_trips is not None else steady <= limit
    return 0 if within and all(r.status == 200 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
