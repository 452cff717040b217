"""Batches whose requests all go to a provider with a batch API are sent there and priced at its batch rate.

Fake Anthropic Message Batches and OpenAI Files + Batch servers (``fakes/batch_apis.py``) stand in for the
providers. The gateway builds each request exactly as a live call (the adapter's body, the upstream model
id, the provider key in the provider's header), submits them as one provider batch, polls it on the tick,
and maps the results back to the client's ``custom_id``s in the client's dialect. The cost of each request
is recorded once, at half the configured price: 25 input and 15 output tokens at $3/$15 per million is
300 micro-dollars live, 150 in a batch.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from aimux_core.assembly import build_mock_gateway
from aimux_core.jobs.build import build_jobs
from aimux_core.keys import KeyRing, create_key
from aimux_core.limits.project import budget_scope
from aimux_core.limits.spend import SpendLedger
from aimux_core.projects.admin import create_project
from aimux_core.state import MemoryStore
from fakes import Fault, Reply
from fakes.batch_apis import AnthropicBatchUpstream, OpenAIBatchUpstream
from support.jobs_app import gateway_for, job_settings, ledgers, serve_jobs, wait_for

pytestmark = pytest.mark.timeout(120)
BATCH_MICRO_USD = (25 * 3 + 15 * 15) // 2
PRICE = {"input": 3.0, "output": 15.0}
KEYS = {"ANTHROPIC_API_KEY": "sk-ant-native-test", "OPENAI_API_KEY": "sk-openai-native-test"}


@pytest.fixture
def claude() -> Iterator[AnthropicBatchUpstream]:
    with AnthropicBatchUpstream(polls=2) as fake:
        yield fake
        fake.raise_for_errors()


@pytest.fixture
def gpt() -> Iterator[OpenAIBatchUpstream]:
    with OpenAIBatchUpstream(polls=2) as fake:
        yield fake
        fake.raise_for_errors()


def document(claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream) -> dict[str, Any]:
    return {
        "providers": {
            "anthropic": {"preset": "anthropic", "base_url": claude.base_url},
            "openai": {"preset": "openai", "base_url": gpt.base_url},
        },
        "models": {
            "claude-sonnet": {"provider": "anthropic", "upstream_model": "claude-sonnet-4-5", "price": PRICE},
            "gpt-big": {"provider": "openai", "upstream_model": "gpt-5", "price": PRICE},
        },
        "routes": {"default": ["claude-sonnet"]},
    }


def anthropic_request(custom_id: str, model: str, text: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]},
    }


def settled(store: MemoryStore, key_id: str, clock: Any) -> Any:
    totals = asyncio.run(SpendLedger(store, clock).totals(key_id))
    return totals if totals.held_month_micro == 0 and totals.month_micro else None


def test_an_anthropic_batch_for_claude_goes_to_the_message_batches_api_at_half_price(
    tmp_path: Path, claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream
) -> None:
    store = MemoryStore()
    keys = KeyRing(store, cache_seconds=0)
    plaintext, record = asyncio.run(create_key(keys, name="team", budget_daily_usd=5.0))
    claude.enqueue(Reply(text="first answer"), Fault.http(400, message="prompt is too long"))
    gateway = gateway_for(document(claude, gpt), KEYS, store=store)
    with serve_jobs(tmp_path, gateway, keys=keys) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key=plaintext, max_retries=0)
        requests = [anthropic_request(f"doc-{n}", "claude-sonnet", f"summarise {n}") for n in range(5)]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert (ended.request_counts.succeeded, ended.request_counts.errored) == (4, 1)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert results["doc-0"].type == "succeeded" and results["doc-0"].message.content[0].text == "first answer"
        assert results["doc-0"].message.model == "claude-sonnet"  # the client's name, as live
        assert results["doc-1"].type == "errored"
        assert results["doc-1"].error.error.type == "invalid_request_error"
        assert "prompt is too long" in results["doc-1"].error.error.message

        assert claude.message_requests == []  # nothing was sent live
        (upstream_batch,) = claude.batches.values()
        sent = {r["custom_id"]: r["params"] for r in upstream_batch["requests"]}
        assert sorted(sent) == [f"r{n}" for n in range(5)]
        assert {p["model"] for p in sent.values()} == {"claude-sonnet-4-5"}
        assert sent["r3"]["messages"] == [{"role": "user", "content": "summarise 3"}]
        headers = dict(upstream_batch["headers"])
        assert headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"] and headers["anthropic-version"]

        totals = wait_for(lambda: settled(store, record.id, served.jobs.clock))
        assert totals.month_micro == 4 * BATCH_MICRO_USD  # the errored request cost nothing


def test_an_openai_batch_for_gpt_goes_to_openai_files_and_batch(
    tmp_path: Path, claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream
) -> None:
    gateway = gateway_for(document(claude, gpt), KEYS, store=MemoryStore())
    with serve_jobs(tmp_path, gateway) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        lines = [
            json.dumps(
                {
                    "custom_id": f"row-{n}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "gpt-big", "messages": [{"role": "user", "content": f"row {n}"}]},
                }
            )
            for n in range(3)
        ]
        file_id = client.files.create(file=("in.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch").id
        batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
        done = wait_for(lambda: (b := client.batches.retrieve(batch.id)).status == "completed" and b)
        assert done.output_file_id and done.error_file_id is None
        output = {
            json.loads(x)["custom_id"]: json.loads(x)
            for x in client.files.content(done.output_file_id).text.splitlines()
        }
        assert sorted(output) == ["row-0", "row-1", "row-2"]
        assert output["row-2"]["response"]["body"]["model"] == "gpt-big"
        assert gpt.requests and all("/chat/completions" not in r.path for r in gpt.requests)  # nothing live
        (upstream_batch,) = gpt.batches.values()
        uploaded = [json.loads(x) for x in gpt.files[upstream_batch["input_file_id"]].splitlines()]
        assert [u["custom_id"] for u in uploaded] == ["r0", "r1", "r2"]
        assert {u["body"]["model"] for u in uploaded} == {"gpt-5"} and uploaded[0]["url"] == "/v1/chat/completions"
        assert dict(upstream_batch["headers"])["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"


def test_a_batch_spread_over_two_providers_runs_here_at_the_live_price(
    tmp_path: Path, claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream
) -> None:
    gateway = gateway_for(document(claude, gpt), KEYS, store=MemoryStore())
    with serve_jobs(tmp_path, gateway) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        requests = [anthropic_request("a", "claude-sonnet", "x"), anthropic_request("b", "gpt-big", "y")]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert ended.request_counts.succeeded == 2
        assert claude.batches == {} and gpt.batches == {}
        assert len(claude.message_requests) == 1 and len([r for r in gpt.requests if "chat" in r.path]) == 1


def test_canceling_a_native_batch_cancels_it_at_the_provider(
    tmp_path: Path, claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream
) -> None:
    claude.polls = 1000  # never ends on its own
    gateway = gateway_for(document(claude, gpt), KEYS, store=MemoryStore())
    with serve_jobs(tmp_path, gateway) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        batch = client.messages.batches.create(
            requests=[anthropic_request(f"c{n}", "claude-sonnet", "x") for n in range(3)]
        )  # type: ignore[arg-type]
        wait_for(lambda: claude.batches)
        client.messages.batches.cancel(batch.id)
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert (ended.request_counts.canceled, ended.request_counts.succeeded) == (3, 0)
        assert any(r.path.endswith("/cancel") for r in claude.requests)
        assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}


def project_key(store: MemoryStore, **project_limits: Any) -> tuple[KeyRing, str, Any]:
    """A key ring over ``store``, the project ``web`` with ``project_limits``, and a key in it with its own
    $5 daily budget (plaintext and record)."""
    keys = KeyRing(store, cache_seconds=0)

    async def setup() -> tuple[str, Any]:
        await create_project(keys, "web", **project_limits)
        return await create_key(keys, name="team", project="web", budget_daily_usd=5.0)

    plaintext, record = asyncio.run(setup())
    return keys, plaintext, record


def test_a_batch_its_projects_budget_cannot_hold_runs_here_request_by_request(
    tmp_path: Path, claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream
) -> None:
    """Three requests of at most 1,000 output tokens: about $0.0225 at the batch price all together, more
    than the project's $0.02; one by one (about $0.015 each at most, $0.0003 each spent) they fit."""
    store = MemoryStore()
    keys, plaintext, _ = project_key(store, budget_daily_usd=0.02)
    gateway = gateway_for(document(claude, gpt), KEYS, store=store)
    with serve_jobs(tmp_path, gateway, keys=keys, settings=job_settings(tmp_path, concurrency=1)) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key=plaintext, max_retries=0)
        requests = [anthropic_request(f"doc-{n}", "claude-sonnet", f"summarise {n}") for n in range(3)]
        for request in requests:
            request["params"]["max_tokens"] = 1000
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert ended.request_counts.succeeded == 3
        assert claude.batches == {} and len(claude.message_requests) == 3  # live calls, not the batch API
        spent = wait_for(lambda: settled(store, budget_scope("web"), served.jobs.clock))
        assert spent.month_micro == 3 * BATCH_MICRO_USD * 2  # at the live price, on the project


def test_a_native_batch_holds_the_key_and_the_project_budget_until_its_results_are_in(
    tmp_path: Path, claude: AnthropicBatchUpstream, gpt: OpenAIBatchUpstream
) -> None:
    claude.polls = 1000  # pending until the test lets it end
    store = MemoryStore()
    keys, plaintext, record = project_key(store, budget_daily_usd=5.0)
    gateway = gateway_for(document(claude, gpt), KEYS, store=store)
    with serve_jobs(tmp_path, gateway, keys=keys) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key=plaintext, max_retries=0)
        requests = [anthropic_request(f"doc-{n}", "claude-sonnet", f"summarise {n}") for n in range(3)]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        wait_for(lambda: claude.batches)
        ledger = SpendLedger(store, served.jobs.clock)
        held = {scope: asyncio.run(ledger.totals(scope)).held_month_micro for scope in (record.id, budget_scope("web"))}
        assert held[record.id] > 0 and held[budget_scope("web")] == held[record.id]  # the batch's worst case, on both

        claude.polls = 0  # ends on the next poll
        wait_for(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended")
        for scope in (record.id, budget_scope("web")):
            totals = wait_for(lambda scope=scope: settled(store, scope, served.jobs.clock))  # type: ignore[misc]
            assert totals.month_micro == 3 * BATCH_MICRO_USD  # holds released, each request's cost recorded


def test_a_plan_stored_with_the_older_single_hold_still_gives_it_back(tmp_path: Path) -> None:
    from aimux_core.jobs.native.plan import stored_holds
    from aimux_core.jobs.native.submit import _release_hold
    from aimux_core.limits.budget import BudgetLimits
    from aimux_core.limits.reservations import BudgetHolds, Hold

    store = MemoryStore()
    jobs = build_jobs(build_mock_gateway(), ledgers=ledgers(), store=store)

    async def hold_and_release(shape: str) -> int:
        holds = BudgetHolds(store, jobs.clock)
        claims = [
            ("key_0123456789ab", BudgetLimits.from_usd(1.0, None)),
            (budget_scope("web"), BudgetLimits.from_usd(1.0, None)),
        ]
        taken = await holds.reserve(claims if shape == "holds" else claims[:1], 500)
        assert isinstance(taken, tuple)
        stored = [{name: getattr(h, name) for name in Hold.__dataclass_fields__} for h in taken]
        plan = {"holds": stored} if shape == "holds" else {"hold": stored[0]}
        assert stored_holds(plan) == list(taken)
        await _release_hold(jobs, plan)
        ledger = SpendLedger(store, jobs.clock)
        return sum([(await ledger.totals(scope)).held_month_micro for scope, _ in claims])

    assert asyncio.run(hold_and_release("hold")) == 0
    assert asyncio.run(hold_and_release("holds")) == 0
