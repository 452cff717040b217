"""A key's project applies to its batch requests and async jobs exactly as to its live requests.

The project's limits are shared by all of its keys and by everything they send, live or later: a project
budget that cannot cover a request is that request's answer (the live 429, in the caller's dialect), a
project rate window that is full sends the request back to the queue for after its reset (the live 429
would say ``retry-after``), and a state store that cannot be read for the project's limits is retried
later like any retryable error, never a lost request. A key without a project, or whose project is gone,
is served as before. The gateway serves the mock provider priced like the live project tests
(``tests/limits/test_limits_projects.py``), over one ``MemoryStore`` shared by the key ring and the jobs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aimux_core.errors import Overloaded
from aimux_core.jobs.async_jobs import META, job_pk
from aimux_core.jobs.build import build_jobs
from aimux_core.jobs.items import Retry, RunContext
from aimux_core.keys import KeyRing, create_key
from aimux_core.keys.record import ApiKeyRecord
from aimux_core.limits.project import PROJECTS_PK
from aimux_core.limits.windows import RateLimitExceeded
from aimux_core.projects.admin import create_project
from aimux_core.state import MemoryStore
from aimux_core.state.store import StoreUnavailable
from support.jobs_app import gateway_for, job_settings, ledgers, serve_jobs, wait_for
from support.rate_windows import avoid_minute_boundary

pytestmark = pytest.mark.timeout(120)
DOCUMENT: dict[str, Any] = {
    "providers": {"mock": {"preset": "mock"}},
    "models": {"big": {"provider": "mock", "max_output": 4096, "price": {"input": 3000, "output": 15000}}},
    "routes": {"default": ["big"]},
    "retry": {"backoff_base": 0, "backoff_max": 0},
}
PARAMS: dict[str, Any] = {"model": "big", "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]}
CHAT: dict[str, Any] = {"model": "big", "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]}


def ring_with_project(store: MemoryStore, **limits: Any) -> tuple[KeyRing, list[str]]:
    """A key ring over ``store``, the project ``web`` with ``limits`` and two keys in it (their plaintexts)."""
    keys = KeyRing(store, cache_seconds=0)

    async def setup() -> list[str]:
        await create_project(keys, "web", **limits)
        return [(await create_key(keys, name=name, project="web"))[0] for name in ("a", "b")]

    return keys, asyncio.run(setup())


def job_of(url: str, location: str, key: str) -> dict[str, Any] | None:
    current = httpx.get(url + location, headers={"x-api-key": key}, timeout=10).json()
    return current if current["status"] in ("succeeded", "failed") else None


def test_a_project_budget_refuses_batch_requests_and_async_jobs_as_it_refuses_live_ones(tmp_path: Path) -> None:
    store = MemoryStore()
    keys, (plaintext, _) = ring_with_project(store, budget_daily_usd=0.05)  # below one request's worst case
    with serve_jobs(tmp_path, gateway_for(DOCUMENT, store=store), keys=keys) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key=plaintext, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as live:
            client.messages.create(**PARAMS)
        live_error = live.value.response.json()["error"]
        assert "project web" in live_error["message"] and live.value.response.headers["x-should-retry"] == "false"

        batch = client.messages.batches.create(requests=[{"custom_id": f"r{n}", "params": PARAMS} for n in range(2)])  # type: ignore[list-item]
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert (ended.request_counts.succeeded, ended.request_counts.errored) == (0, 2)
        for result in client.messages.batches.results(batch.id):
            assert result.result.type == "errored"
            assert result.result.error.error.type == "rate_limit_error"  # type: ignore[union-attr]
            assert result.result.error.error.message == live_error["message"]  # type: ignore[union-attr]

        raw = client.messages.with_raw_response.create(**PARAMS, extra_headers={"x-aimux-async": "1"})
        done = wait_for(lambda: job_of(served.url, raw.headers["location"], plaintext))
        assert done["status"] == "failed" and done["response"]["status_code"] == 429
        assert done["response"]["body"]["error"] == live_error

        chat = openai.OpenAI(base_url=f"{served.url}/v1", api_key=plaintext, max_retries=0)
        with pytest.raises(openai.RateLimitError) as chat_live:
            chat.chat.completions.create(**CHAT)
        later = chat.chat.completions.with_raw_response.create(**CHAT, extra_headers={"x-aimux-async": "1"})
        chat_done = wait_for(lambda: job_of(served.url, later.headers["location"], plaintext))
        assert chat_done["response"]["status_code"] == 429
        assert chat_done["response"]["body"] == chat_live.value.response.json()  # the OpenAI error shape


def test_a_full_project_rate_window_sends_an_async_job_back_to_the_queue_until_its_reset(tmp_path: Path) -> None:
    avoid_minute_boundary()  # the window filled and the refusal in one real-clock minute
    store = MemoryStore()
    keys, (first, second) = ring_with_project(store, rpm=1)
    settings = job_settings(tmp_path, lease_seconds=900.0)
    with serve_jobs(tmp_path, gateway_for(DOCUMENT, store=store), keys=keys, settings=settings) as served:
        anthropic.Anthropic(base_url=served.url, api_key=first, max_retries=0).messages.create(**PARAMS)
        client = anthropic.Anthropic(base_url=served.url, api_key=second, max_retries=0)
        with pytest.raises(anthropic.RateLimitError, match="project"):
            client.messages.create(**PARAMS)  # live, the other key of the project is refused too
        raw = client.messages.with_raw_response.create(**PARAMS, extra_headers={"x-aimux-async": "1"})
        job_id = raw.headers["location"].rsplit("/", 1)[1]

        def put_back() -> dict[str, Any] | None:
            item = asyncio.run(store.get(job_pk(job_id), META)) or {}
            # released for the window's reset (at most a minute), not held for the 900 s lease of a running attempt
            released = item.get("attempts") == 1 and 0 < item["lease_until"] < time.time() + 120
            return item if released else None

        item = wait_for(put_back, seconds=20)
        assert not item.get("finished_at")
        assert job_of(served.url, raw.headers["location"], second) is None  # not answered: tried again later


def served_item(store: MemoryStore, record: ApiKeyRecord, *, dialect: str = "anthropic") -> Any:
    """One stored request of ``record`` run once by a ``Jobs`` over ``store``: its answer, or the ``Retry``."""

    async def once() -> Any:
        jobs = build_jobs(gateway_for(DOCUMENT, store=store), ledgers=ledgers(), store=store)
        try:
            return await jobs.run(record, RunContext(dialect), PARAMS, "req_item", attempt=1, owner=record.id)  # type: ignore[arg-type]
        except Retry as retry:
            return retry

    return asyncio.run(once())


def key_in(project: str | None, suffix: str = "a") -> ApiKeyRecord:
    return ApiKeyRecord(
        id=f"key_00000000000{suffix}", name=suffix, key_hash=suffix * 64, created_at=0.0, project=project
    )


def test_a_project_rate_window_is_shared_by_the_keys_batch_requests_and_retried_after_its_reset() -> None:
    avoid_minute_boundary()  # the window filled and the refusal in one real-clock minute
    store = MemoryStore()
    ring_with_project(store, rpm=1)
    first = served_item(store, key_in("web", "a"))
    assert first.status == 200
    retried = served_item(store, key_in("web", "b"))
    assert isinstance(retried, Retry) and isinstance(retried.error, RateLimitExceeded)
    assert retried.error.decision.scope == "project" and 0 < retried.after <= 60


class ProjectsUnreadable(MemoryStore):
    """A store whose project directory cannot be read (an outage on that partition)."""

    async def query(self, pk: str, sk_from: str, sk_to: str) -> Any:
        if pk == PROJECTS_PK:
            raise StoreUnavailable("unreachable")
        return await super().query(pk, sk_from, sk_to)


def test_a_store_outage_on_the_project_directory_is_retried_and_a_key_without_project_is_unaffected() -> None:
    store = ProjectsUnreadable()
    retried = served_item(store, key_in("web"))
    assert isinstance(retried, Retry) and isinstance(retried.error, Overloaded)  # live: a retryable 529
    assert served_item(store, key_in(None)).status == 200  # its work never reads the directory


def test_a_key_whose_project_is_gone_is_served_without_project_limits() -> None:
    store = MemoryStore()
    ring_with_project(store, rpm=1)
    assert served_item(store, key_in("web", "a")).status == 200  # the project "web" takes its one request
    assert served_item(store, key_in("gone", "b")).status == 200
    assert served_item(store, key_in("gone", "b")).status == 200
