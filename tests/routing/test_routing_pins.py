"""Session pinning: a Claude Code session keeps its target (warm prompt cache, valid thinking
signatures) while that target stays healthy, even under a rotating strategy; a failure moves it.

The HTTP tests put two real adapters on the fake upstreams in one round-robin tier, so without a
pin consecutive requests alternate; with one they must not. ``SessionPins`` itself is checked with
a fake clock for its bounds (LRU size, TTL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from routing_conftest import TEST_POLICY, FakeClock, Stage, Upstreams, make_entry, make_table

from aimux_core.gateway import Gateway
from aimux_core.routing.pins import SessionPins
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream

pytestmark = pytest.mark.timeout(20)

MESSAGES = [{"role": "user", "content": "keep me here"}]
SESSION_HEADER = "X-Claude-Code-Session-Id"


@pytest.fixture
def rotating(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, upstreams: Upstreams, stage: Stage
) -> Callable[..., anthropic.Anthropic]:
    """``rotating(session_pinning=True)``: a client of a gateway whose one tier round-robins between
    ``a`` (Anthropic-dialect fake) and ``b`` (OpenAI-dialect fake)."""
    anthropic_upstream.default = Reply(text="from a")
    openai_upstream.default = Reply(text="from b")

    def build(*, session_pinning: bool = True) -> anthropic.Anthropic:
        providers = {
            "a": upstreams.provider("anthropic", "a", anthropic_upstream.base_url),
            "b": upstreams.provider("openai", "b", openai_upstream.base_url),
        }
        a, b = make_entry("model-a", "a"), make_entry("model-b", "b")
        routing = make_table([a, b], {"default": [[a, b]]}, strategy="round_robin", session_pinning=session_pinning)
        served = stage.use(Gateway(providers, routing, policy=TEST_POLICY))
        return anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10)

    return build


def served_by(client: anthropic.Anthropic, session: str | None = None, **extra: Any) -> tuple[str, dict[str, str]]:
    headers = {SESSION_HEADER: session} if session else {}
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, extra_headers=headers, **extra
    )
    return raw.headers["x-aimux-provider"], dict(raw.headers)


def test_without_a_session_the_tier_rotates(rotating: Callable[..., anthropic.Anthropic]) -> None:
    client = rotating()
    assert [served_by(client)[0] for _ in range(4)] == ["a", "b", "a", "b"]


def test_a_session_stays_on_its_target_under_round_robin(rotating: Callable[..., anthropic.Anthropic]) -> None:
    client = rotating()
    first, headers = served_by(client, "session-1")
    assert "session pinned" not in headers["x-aimux-route"], "nothing to pin to on the first request"
    other, _ = served_by(client, "session-2")
    assert other != first, "the rotation moved on for the next session"
    for _ in range(4):
        provider, headers = served_by(client, "session-1")
        assert provider == first
        assert headers["x-aimux-route"].endswith("; session pinned")
        assert served_by(client, "session-2")[0] == other


def test_metadata_user_id_is_the_session_when_there_is_no_header(
    rotating: Callable[..., anthropic.Anthropic],
) -> None:
    client = rotating()
    metadata = {"user_id": '{"device_id":"d","session_id":"from-metadata"}'}
    first, _ = served_by(client, metadata=metadata)
    assert all(served_by(client, metadata=metadata)[0] == first for _ in range(3))


def test_streams_are_pinned_too(rotating: Callable[..., anthropic.Anthropic]) -> None:
    client = rotating()
    providers = []
    for _ in range(3):
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, stream=True,
            extra_headers={SESSION_HEADER: "streaming-session"},
        ) as response:
            providers.append(response.headers["x-aimux-provider"])
            response.read()
    assert len(set(providers)) == 1


def test_a_failed_pinned_target_moves_the_session(
    rotating: Callable[..., anthropic.Anthropic], anthropic_upstream: AnthropicUpstream
) -> None:
    """The pinned target fails: the request fails over and the session follows the target that served."""
    client = rotating()
    assert served_by(client, "movable")[0] == "a"  # round-robin starts with a
    anthropic_upstream.enqueue(Fault.http(529))
    provider, headers = served_by(client, "movable")
    assert (provider, headers["x-aimux-attempts"]) == ("b", "2")
    calls_to_a = len(anthropic_upstream.requests)
    for _ in range(3):
        provider, headers = served_by(client, "movable")
        assert provider == "b" and headers["x-aimux-attempts"] == "1"
    assert len(anthropic_upstream.requests) == calls_to_a, "the session no longer goes to its old target"


def test_pinning_can_be_turned_off(rotating: Callable[..., anthropic.Anthropic]) -> None:
    client = rotating(session_pinning=False)
    assert [served_by(client, "no-pins")[0] for _ in range(4)] == ["a", "b", "a", "b"]


def test_openai_clients_pin_by_user(rotating: Callable[..., anthropic.Anthropic]) -> None:
    """OpenAI's ``user`` field becomes the canonical ``metadata.user_id``: the session key there."""
    url = str(rotating().base_url).rstrip("/")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-client", max_retries=0, timeout=10)

    def provider() -> str:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES, user="user-42")
        return raw.headers["x-aimux-provider"]

    first = provider()
    assert [provider() for _ in range(3)] == [first] * 3


# --------------------------------------------------------------------------- SessionPins


def test_pins_are_remembered_and_replaced() -> None:
    pins = SessionPins()
    assert pins.get("s") is None
    pins.set("s", "a/m")
    assert pins.get("s") == "a/m"
    pins.set("s", "b/m")
    assert pins.get("s") == "b/m"


def test_pins_expire_after_their_ttl() -> None:
    clock = FakeClock()
    pins = SessionPins(ttl_seconds=60, clock=clock)
    pins.set("s", "a/m")
    clock.advance(59.9)
    assert pins.get("s") == "a/m"
    clock.advance(0.1)
    assert pins.get("s") is None, "a pin is an optimisation: it ends at its TTL"


def test_setting_again_renews_the_ttl() -> None:
    """The gateway pins on every served request, so an active session never expires."""
    clock = FakeClock()
    pins = SessionPins(ttl_seconds=60, clock=clock)
    pins.set("s", "a/m")
    clock.advance(50)
    pins.set("s", "a/m")
    clock.advance(50)
    assert pins.get("s") == "a/m"


def test_least_recently_used_session_is_forgotten_first() -> None:
    pins = SessionPins(max_sessions=2)
    pins.set("old", "a/m")
    pins.set("middle", "b/m")
    assert pins.get("old") == "a/m"  # now "middle" is the least recently used
    pins.set("new", "c/m")
    assert pins.get("middle") is None
    assert (pins.get("old"), pins.get("new")) == ("a/m", "c/m")


def test_pins_stay_bounded() -> None:
    pins = SessionPins(max_sessions=100)
    for i in range(5_000):
        pins.set(f"s{i}", "a/m")
    remembered = [i for i in range(5_000) if pins.get(f"s{i}") is not None]
    assert remembered == list(range(4_900, 5_000))
