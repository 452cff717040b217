"""Each request of a batch is routed, admitted and accounted like a live one, under the key that sent it.

With auth on: a key sees only its own batches and jobs; a request for a model its allow-list refuses is
that request's 403 (the others run); every answered request is settled (spend in the key's ledger, the
metrics and log line of a live request). The upstream is a fake OpenAI-compatible server with a priced
model, so the cost is known: 25 input and 15 output tokens at $3/$15 per million = 300 micro-dollars.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from aimux_core.keys import KeyRing, create_key
from aimux_core.limits.spend import SpendLedger
from aimux_core.state import MemoryStore
from fakes.openai_upstream import OpenAIUpstream
from support.jobs_app import gateway_for, serve_jobs, wait_for

pytestmark = pytest.mark.timeout(120)
LIVE_MICRO_USD = 25 * 3 + 15 * 15


@pytest.fixture
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as fake:
        yield fake
        fake.raise_for_errors()


def document(fake: OpenAIUpstream) -> dict[str, Any]:
    price = {"input": 3.0, "output": 15.0}
    return {
        "providers": {"compat": {"preset": "vllm", "base_url": fake.base_url, "api_key_env": "K"}},
        "models": {"priced": {"provider": "compat", "price": price}, "other": {"provider": "compat", "price": price}},
        "routes": {"default": ["priced"]},
    }


def test_batch_requests_are_admitted_and_accounted_under_their_key(tmp_path: Path, upstream: OpenAIUpstream) -> None:
    store = MemoryStore()
    keys = KeyRing(store, cache_seconds=0)
    alice, alice_record = asyncio.run(create_key(keys, name="alice", allowed_models=["priced"]))
    bob, _ = asyncio.run(create_key(keys, name="bob"))
    gateway = gateway_for(document(upstream), {"K": "k"}, store=store)
    with serve_jobs(tmp_path, gateway, keys=keys) as served:
        as_alice = anthropic.Anthropic(base_url=served.url, api_key=alice, max_retries=0)
        as_bob = anthropic.Anthropic(base_url=served.url, api_key=bob, max_retries=0)
        requests = [
            {
                "custom_id": f"p{n}",
                "params": {"model": "priced", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]},
            }
            for n in range(4)
        ]
        requests.append(
            {
                "custom_id": "not-allowed",
                "params": {"model": "other", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]},
            }
        )
        batch = as_alice.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        with pytest.raises(anthropic.NotFoundError):
            as_bob.messages.batches.retrieve(batch.id)
        assert [b.id for b in as_bob.messages.batches.list()] == []
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=served.url, api_key="amx-wrong", max_retries=0).messages.batches.list()
        ended = wait_for(lambda: (b := as_alice.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert (ended.request_counts.succeeded, ended.request_counts.errored) == (4, 1)
        results = {r.custom_id: r.result for r in as_alice.messages.batches.results(batch.id)}
        refused = results["not-allowed"]
        assert refused.type == "errored" and refused.error.error.type == "permission_error"
        assert len(upstream.requests) == 4  # the refused request never reached the upstream
        ledger = SpendLedger(store, served.jobs.clock)  # settlements land in the background, like live ones
        settled = wait_for(lambda: (t := asyncio.run(ledger.totals(alice_record.id))).held_month_micro == 0 and t)
        assert settled.month_micro == 4 * LIVE_MICRO_USD  # run here: the live price, once per request

        job = httpx.post(
            f"{served.url}/v1/messages",
            timeout=10,
            headers={"x-api-key": alice, "x-aimux-async": "1"},
            json={"model": "priced", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
        )
        assert job.status_code == 202
        location = job.headers["location"]
        assert httpx.get(served.url + location, headers={"x-api-key": bob}, timeout=10).status_code == 404
        wait_for(
            lambda: (
                httpx.get(served.url + location, headers={"x-api-key": alice}, timeout=10).json()["status"]
                == "succeeded"
            )
        )
