"""Anthropic Message Batches through the official SDK, unchanged: create, retrieve, list, cancel, results, delete.

The gateway serves the mock provider, so the answers are known; each request of a batch goes through
the gateway like a live one (the mock's fault markers make some of them fail with the live error).
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest

from support.jobs_app import serve_jobs, wait_for

pytestmark = pytest.mark.timeout(120)


def request(custom_id: str, text: str, **params: object) -> dict[str, object]:
    body = {"model": "aimux-mock", "max_tokens": 64, "messages": [{"role": "user", "content": text}], **params}
    return {"custom_id": custom_id, "params": body}


def ended(client: anthropic.Anthropic, batch_id: str) -> anthropic.types.messages.MessageBatch | None:
    batch = client.messages.batches.retrieve(batch_id)
    return batch if batch.processing_status == "ended" else None


def test_a_batch_runs_every_request_once_and_reports_each_result_by_custom_id(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        requests = [request(f"ok-{n}", f"question {n}") for n in range(12)]
        requests += [
            request("bad-400", "[[mock:error:400]] refused"),
            request("thinks", "why?", thinking={"type": "disabled"}),
        ]
        created = client.messages.batches.create(requests=requests)
        assert created.type == "message_batch" and created.id.startswith("msgbatch_")
        assert created.processing_status == "in_progress"
        assert created.request_counts.processing == 14 and created.results_url is None
        assert created.expires_at > created.created_at and created.ended_at is None

        batch = wait_for(lambda: ended(client, created.id))
        counts = batch.request_counts
        assert (counts.processing, counts.succeeded, counts.errored) == (0, 13, 1)
        assert (counts.canceled, counts.expired) == (0, 0)
        assert batch.ended_at is not None
        assert batch.results_url == f"{served.url}/v1/messages/batches/{created.id}/results"

        results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
        assert set(results) == {r["custom_id"] for r in requests}
        for n in range(12):
            result = results[f"ok-{n}"]
            assert result.type == "succeeded"
            assert result.message.content[0].text == f'Mock reply to: "question {n}"'
            assert result.message.model == "aimux-mock"
        errored = results["bad-400"]
        assert errored.type == "errored"
        assert errored.error.error.type == "invalid_request_error"
        assert errored.error.request_id == f"{created.id}:12"


def test_list_pages_newest_first_with_before_and_after_cursors(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        ids = [client.messages.batches.create(requests=[request("a", f"n{n}")]).id for n in range(5)]
        newest_first = list(reversed(ids))
        everything = [b.id for b in client.messages.batches.list(limit=2)]  # the SDK follows after_id
        assert everything == newest_first
        first = client.messages.batches.list(limit=2)
        assert [b.id for b in first.data] == newest_first[:2] and first.has_more
        assert first.first_id == newest_first[0] and first.last_id == newest_first[1]
        after = client.messages.batches.list(limit=2, after_id=newest_first[1])
        assert [b.id for b in after.data] == newest_first[2:4] and after.has_more
        last = client.messages.batches.list(limit=10, after_id=newest_first[3])
        assert [b.id for b in last.data] == newest_first[4:] and not last.has_more
        before = client.messages.batches.list(limit=2, before_id=newest_first[3])
        assert [b.id for b in before.data] == newest_first[1:3] and before.has_more
        with pytest.raises(anthropic.BadRequestError, match="limit"):
            client.messages.batches.list(limit=0)


def test_delete_needs_an_ended_batch_then_it_is_gone(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        batch = client.messages.batches.create(requests=[request("only", "hello")])
        wait_for(lambda: ended(client, batch.id))
        deleted = client.messages.batches.delete(batch.id)
        assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
        assert batch.id not in [b.id for b in client.messages.batches.list()]


def test_invalid_batches_are_refused_naming_the_request_and_field(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        cases = [
            ([request("same", "a"), request("same", "b")], "requests.1.custom_id"),
            (
                [request("x", "a"), {"custom_id": "y", "params": {"model": "aimux-mock", "messages": []}}],
                "requests.1.params.max_tokens",
            ),
            ([request("has space", "a")], "requests.0.custom_id"),
            ([request("s", "a", stream=True)], "requests.0.params.stream"),
            ([request("e", "a", messages=[])], "requests.0.params.messages"),
            ([], "requests"),
        ]
        for requests, field in cases:
            with pytest.raises(anthropic.BadRequestError) as refused:
                client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
            assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
            assert refused.value.body["error"]["message"].startswith(field), (field, refused.value.body)  # type: ignore[index]
        for missing in ("msgbatch_0123456789abcdef01234567", "nonsense"):
            with pytest.raises(anthropic.NotFoundError):
                client.messages.batches.retrieve(missing)


def test_under_the_anthropic_prefix_results_url_points_back_there(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = anthropic.Anthropic(base_url=f"{served.url}/anthropic", api_key="unused", max_retries=0)
        batch = client.messages.batches.create(requests=[request("p", "prefixed")])
        ended_batch = wait_for(lambda: ended(client, batch.id))
        assert ended_batch.results_url == f"{served.url}/anthropic/v1/messages/batches/{batch.id}/results"
        assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["p"]


def test_results_and_delete_wait_for_the_end(tmp_path: Path) -> None:
    from aimux_core.jobs.queue import LocalQueue

    async def hold(message: dict[str, object]) -> None:  # a worker that never gets to the batch
        return None

    with serve_jobs(tmp_path, queue=LocalQueue(hold)) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        batch = client.messages.batches.create(requests=[request("w", "wait")])
        with pytest.raises(anthropic.BadRequestError, match="has not ended yet"):
            client.get(f"/v1/messages/batches/{batch.id}/results", cast_to=object)
        with pytest.raises(anthropic.BadRequestError, match="cancel it"):
            client.messages.batches.delete(batch.id)
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
