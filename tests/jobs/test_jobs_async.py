"""Async requests: ``x-aimux-async`` answers 202 at once, ``GET /v1/jobs/{id}`` gives the answer in the caller's
dialect, and a webhook receives it signed, retried with backoff, or parked as a dead letter for the operator."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aimux_core.state import MemoryStore
from fakes.anthropic_upstream import AnthropicUpstream
from support.jobs_app import gateway_for, job_settings, ledgers, serve_jobs, wait_for
from support.server import serve
from support.webhook_receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.timeout(120)
MESSAGE = {"model": "aimux-mock", "max_tokens": 32, "messages": [{"role": "user", "content": "later please"}]}


def job(url: str, location: str) -> dict[str, Any]:
    return httpx.get(url + location, timeout=10).json()


def finished(url: str, location: str) -> dict[str, Any] | None:
    current = job(url, location)
    return current if current["status"] in ("succeeded", "failed") else None


def verified(secret: str, delivery: Any, *, tolerance: float = 300) -> bool:
    """What a receiver does, written from the README's description (not aimux's own code)."""
    fields = dict(part.split("=", 1) for part in delivery.headers["x-aimux-signature"].split(","))
    signed = fields["t"].encode() + b"." + delivery.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < tolerance


def test_anthropic_async_request_is_answered_202_and_its_job_holds_the_message(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        raw = client.messages.with_raw_response.create(**MESSAGE, extra_headers={"x-aimux-async": "1"})  # type: ignore[arg-type]
        assert raw.status_code == 202
        accepted = json.loads(raw.http_response.content)
        assert accepted["type"] == "job" and accepted["status"] == "queued" and accepted["response"] is None
        assert raw.headers["location"] == f"/v1/jobs/{accepted['id']}"
        done = wait_for(lambda: finished(served.url, raw.headers["location"]))
        assert done["status"] == "succeeded" and done["webhook"] is None and done["completed_at"]
        message = anthropic.types.Message.model_validate(done["response"]["body"])
        assert done["response"]["status_code"] == 200
        assert message.content[0].text == 'Mock reply to: "later please"'  # type: ignore[union-attr]


def test_openai_async_request_gets_a_chat_completion_and_errors_in_openai_shape(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="aimux-mock", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-aimux-async": "true"}
        )
        assert raw.http_response.status_code == 202
        done = wait_for(lambda: finished(served.url, raw.headers["location"]))
        completion = openai.types.chat.ChatCompletion.model_validate(done["response"]["body"])
        assert completion.choices[0].message.content == 'Mock reply to: "hi"'
        bad = client.chat.completions.with_raw_response.create(
            model="aimux-mock",
            messages=[{"role": "user", "content": "[[mock:error:400]]"}],
            extra_headers={"x-aimux-async": "1"},
        )
        failed = wait_for(lambda: finished(served.url, bad.headers["location"]))
        assert failed["status"] == "failed" and failed["response"]["status_code"] == 400
        assert failed["response"]["body"]["error"]["type"] == "invalid_request_error"


def test_a_webhook_that_fails_twice_gets_the_signed_result_on_the_third_try(tmp_path: Path) -> None:
    with webhook_receiver(500, 503) as receiver, serve_jobs(tmp_path) as served:
        headers = {"x-aimux-async": receiver.url("/hook?token=abc"), "anthropic-version": "2023-06-01"}
        answer = httpx.post(f"{served.url}/v1/messages", json=MESSAGE, timeout=10, headers=headers)
        assert answer.status_code == 202
        location = answer.headers["location"]
        delivered = wait_for(lambda: (j := job(served.url, location))["webhook"]["status"] == "delivered" and j)
        assert delivered["webhook"]["attempts"] == 3 and delivered["webhook"]["url"] == receiver.url("/hook")
        assert len(receiver.deliveries) == 3
        secret = httpx.get(f"{served.url}/v1/jobs/webhook_secret", timeout=10).json()["secret"]
        assert secret.startswith("whsec_")
        last = receiver.deliveries[-1]
        assert last.path == "/hook?token=abc"
        assert verified(secret, last)
        assert not verified("whsec_other", last)
        assert [d.headers["x-aimux-delivery-attempt"] for d in receiver.deliveries] == ["1", "2", "3"]
        payload = json.loads(last.body)
        assert payload["id"] == location.rsplit("/", 1)[1] == last.headers["x-aimux-job-id"]
        assert payload["status"] == "succeeded" and payload["response"]["body"]["type"] == "message"


def test_an_unreachable_webhook_ends_as_a_dead_letter_the_operator_can_redeliver(tmp_path: Path) -> None:
    from aimux_core.assembly import build_mock_gateway, local_app
    from aimux_core.jobs.build import build_jobs

    gateway = build_mock_gateway()
    app = local_app(gateway)
    client_app = app.client  # type: ignore[attr-defined]
    client_app.state.jobs = build_jobs(gateway, job_settings(tmp_path, webhook_attempts=3), ledgers=ledgers())
    with webhook_receiver(then=500) as receiver, serve(app) as url:
        answer = httpx.post(
            f"{url}/v1/chat/completions",
            timeout=10,
            headers={"x-aimux-async": receiver.url()},
            json={"model": "aimux-mock", "messages": [{"role": "user", "content": "x"}]},
        )
        location = answer.headers["location"]
        failed = wait_for(lambda: (j := job(url, location))["webhook"]["status"] == "failed" and j)
        assert failed["webhook"]["attempts"] == 3 and len(receiver.deliveries) == 3
        letters = httpx.get(f"{url}/admin/jobs/dead-letters", timeout=10).json()["data"]
        assert [(x["job_id"], x["attempts"], x["webhook"]) for x in letters] == [(failed["id"], 3, receiver.url())]
        assert "500" in letters[0]["last_error"]
        receiver.then = 200
        intent = {"x-aimux-admin": "1"}  # an admin change, as the dashboard and the CLI send it (not a form)
        again = httpx.post(f"{url}/admin/jobs/dead-letters/{letters[0]['id']}/redeliver", headers=intent, timeout=10)
        assert again.status_code == 200
        wait_for(lambda: job(url, location)["webhook"]["status"] == "delivered")
        assert httpx.get(f"{url}/admin/jobs/dead-letters", timeout=10).json()["data"] == []
        unknown = httpx.post(f"{url}/admin/jobs/dead-letters/nope/redeliver", headers=intent, timeout=10)
        assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("webhook", "local", "why"),
    [
        ("https://127.0.0.1/hook", False, "private, loopback or link-local"),
        ("https://localhost/hook", False, "private, loopback or link-local"),
        ("https://10.1.2.3/hook", False, "private"),
        ("https://169.254.169.254/latest/meta-data", False, "link-local"),
        ("https://[::ffff:127.0.0.1]/hook", False, "loopback"),
        ("https://[fd00::1]/hook", False, "private"),
        ("http://example.com/hook", False, "https"),
        ("http://10.1.2.3/hook", True, "private"),
        ("ftp://example.com/hook", True, "https://"),
        ("https://user:pass@example.com/hook", True, "credentials"),
        ("not a url", True, "https://"),
    ],
)
def test_webhooks_to_private_addresses_or_without_https_are_refused(
    tmp_path: Path, webhook: str, local: bool, why: str
) -> None:
    with serve_jobs(tmp_path, settings=job_settings(tmp_path, local_mode=local)) as served:
        answer = httpx.post(
            f"{served.url}/v1/messages",
            json=MESSAGE,
            timeout=10,
            headers={"x-aimux-async": webhook, "anthropic-version": "2023-06-01"},
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"].startswith("x-aimux-async: ")
        assert why in error["message"]


def test_streaming_cannot_be_async(tmp_path: Path) -> None:
    with serve_jobs(tmp_path) as served:
        answer = httpx.post(
            f"{served.url}/v1/messages",
            json={**MESSAGE, "stream": True},
            timeout=10,
            headers={"x-aimux-async": "1", "anthropic-version": "2023-06-01"},
        )
        assert answer.status_code == 400 and "stream" in answer.json()["error"]["message"]


def test_delivery_connects_to_the_address_it_checked_not_to_a_second_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name checked once is not looked up again to connect (DNS rebinding): it resolves here only through
    the patched lookup, which answers loopback the first time and a private address after that."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("hooks.example.test", "rebind.example.test"):
            lookups.append(host)
            rebinding = host == "rebind.example.test" and lookups.count(host) > 1
            address = "10.9.8.7" if rebinding else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, args[0] if args else 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    settings = job_settings(tmp_path, webhook_attempts=2)
    with webhook_receiver() as receiver, serve_jobs(tmp_path, settings=settings) as served:
        pinned = _send(served.url, receiver, "hooks.example.test")
        wait_for(lambda: job(served.url, pinned)["webhook"]["status"] == "delivered")
        assert receiver.deliveries[0].headers["host"] == f"hooks.example.test:{receiver.port}"
        rebound = _send(served.url, receiver, "rebind.example.test")
        failed = wait_for(lambda: (j := job(served.url, rebound))["webhook"]["status"] == "failed" and j)
        assert failed["webhook"]["attempts"] == 2 and len(receiver.deliveries) == 1  # never connected


def _send(url: str, receiver: Receiver, host: str) -> str:
    answer = httpx.post(
        f"{url}/v1/messages",
        json=MESSAGE,
        timeout=10,
        headers={"x-aimux-async": receiver.url("/hook", host=host), "anthropic-version": "2023-06-01"},
    )
    assert answer.status_code == 202, answer.text
    return answer.headers["location"]


def test_an_async_request_honours_the_callers_x_aimux_cache_as_the_live_request_would(
    tmp_path: Path, anthropic_upstream: AnthropicUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Response cache off unless a client opts in: the live request asking ``use`` stores its answer, the async
    one asking the same is answered from it (no second upstream call), one that does not ask is not."""
    monkeypatch.setenv("AIMUX_FINISH_WRITES_IN_REQUEST", "1")  # the live answer is stored when its response ends
    document = {
        "providers": {"up": {"preset": "anthropic", "base_url": anthropic_upstream.base_url}},
        "models": {"claude-cache": {"provider": "up", "price": {"input": 3, "output": 15}}},
        "routes": {"default": ["claude-cache"]},
        "response_cache": {"mode": "off"},
    }
    gateway = gateway_for(document, {"ANTHROPIC_API_KEY": "sk-ant-upstream-0001"}, store=MemoryStore())
    params = {
        "model": "claude-cache",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with serve_jobs(tmp_path, gateway) as served:
        client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
        live = client.messages.with_raw_response.create(**params, extra_headers={"x-aimux-cache": "use"})  # type: ignore[arg-type]
        assert live.headers["x-aimux-cache"] == "stored"
        asked = client.messages.with_raw_response.create(  # type: ignore[call-overload]
            **params, extra_headers={"x-aimux-async": "1", "x-aimux-cache": "use"}
        )
        done = wait_for(lambda: finished(served.url, asked.headers["location"]))
        assert (
            done["status"] == "succeeded"
            and done["response"]["body"]["content"] == live.http_response.json()["content"]
        )
        assert len(anthropic_upstream.message_requests) == 1  # answered from the cache

        plain = client.messages.with_raw_response.create(**params, extra_headers={"x-aimux-async": "1"})  # type: ignore[arg-type]
        wait_for(lambda: finished(served.url, plain.headers["location"]))
        assert len(anthropic_upstream.message_requests) == 2  # not asked, mode off: served by the upstream
