"""Session stickiness: every turn of a session reaches the same target of a weighted or round-robin
tier, on every instance, moves only while that target is unavailable, and comes back after.

The HTTP tests put two real adapters on the fake upstreams in one tier (``a``: Anthropic dialect,
``b``: OpenAI dialect), so without a session consecutive requests alternate; with one they must not.
``sticky_order`` itself is checked for what makes it fleet-wide: the same order in every interpreter
(no salted ``hash``), the tier's weights kept across many sessions, and minimal movement when a
target leaves. Fleet-wide across two processes: ``test_routing_stickiness_fleet.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from routing_conftest import TEST_POLICY, Stage, Upstreams, make_entry, make_table, target_of

from aimux_core.gateway import Gateway
from aimux_core.routing.stickiness import sticky_order
from aimux_core.routing.table import Target
from aimux_core.state.clock import FakeClock
from aimux_core.state.cooldowns import Cooldowns
from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream

pytestmark = pytest.mark.timeout(60)

MESSAGES = [{"role": "user", "content": "keep me here"}]
SESSION_HEADER = "X-Claude-Code-Session-Id"
A, B = make_entry("model-a", "a"), make_entry("model-b", "b")


def session_on(first: str, *, exclude: tuple[str, ...] = ()) -> str:
    """A session id whose first choice in the tier ``[a, b]`` (equal weights) is provider ``first``."""
    tier = [target_of(A), target_of(B)]
    for n in range(1000):
        session = f"session-{n}"
        if session not in exclude and sticky_order(tier, session, lambda t: 1.0)[0].provider == first:
            return session
    raise AssertionError("no session found")


@pytest.fixture
def tier(
    anthropic_upstream: AnthropicUpstream, openai_upstream: OpenAIUpstream, upstreams: Upstreams, stage: Stage
) -> Callable[..., tuple[anthropic.Anthropic, Gateway]]:
    """``tier(strategy="round_robin", session_pinning=True)``: a client of a gateway whose one tier holds
    ``a`` (Anthropic-dialect fake) and ``b`` (OpenAI-dialect fake), and the gateway."""
    anthropic_upstream.default = Reply(text="from a")
    openai_upstream.default = Reply(text="from b")

    def build(
        *, strategy: Any = "round_robin", session_pinning: bool = True, cooldowns: Cooldowns | None = None
    ) -> tuple[anthropic.Anthropic, Gateway]:
        providers = {
            "a": upstreams.provider("anthropic", "a", anthropic_upstream.base_url),
            "b": upstreams.provider("openai", "b", openai_upstream.base_url),
        }
        routing = make_table([A, B], {"default": [[A, B]]}, strategy=strategy, session_pinning=session_pinning)
        gateway = Gateway(providers, routing, policy=TEST_POLICY, cooldowns=cooldowns)
        served = stage.use(gateway)
        return anthropic.Anthropic(base_url=served.url, api_key="sk-client", max_retries=0, timeout=10), gateway

    return build


def served_by(client: anthropic.Anthropic, session: str | None = None, **extra: Any) -> tuple[str, dict[str, str]]:
    headers = {SESSION_HEADER: session} if session else {}
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, extra_headers=headers, **extra
    )
    return raw.headers["x-aimux-provider"], dict(raw.headers)


# --------------------------------------------------------------------------- over HTTP


def test_without_a_session_the_tier_rotates(tier: Callable[..., tuple[anthropic.Anthropic, Gateway]]) -> None:
    client, _ = tier()
    assert [served_by(client)[0] for _ in range(4)] == ["a", "b", "a", "b"]


@pytest.mark.parametrize("strategy", ["round_robin", "weighted"])
def test_each_session_stays_on_its_own_target_from_the_first_turn(
    tier: Callable[..., tuple[anthropic.Anthropic, Gateway]], strategy: str
) -> None:
    client, _ = tier(strategy=strategy)
    on_a, on_b = session_on("a"), session_on("b")
    for _ in range(3):
        provider, headers = served_by(client, on_a)
        assert provider == "a" and headers["x-aimux-route"].endswith("; session sticky")
        assert served_by(client, on_b)[0] == "b"


def test_metadata_user_id_is_the_session_when_there_is_no_header(
    tier: Callable[..., tuple[anthropic.Anthropic, Gateway]],
) -> None:
    client, _ = tier()
    for provider in ("a", "b"):
        metadata = {"user_id": session_on(provider)}
        assert [served_by(client, metadata=metadata)[0] for _ in range(3)] == [provider] * 3


def test_streams_are_sticky_too(tier: Callable[..., tuple[anthropic.Anthropic, Gateway]]) -> None:
    client, _ = tier()
    providers = []
    for _ in range(3):
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=MESSAGES,
            stream=True,
            extra_headers={SESSION_HEADER: session_on("b")},
        ) as response:
            providers.append(response.headers["x-aimux-provider"])
            response.read()
    assert providers == ["b", "b", "b"]


def test_a_cooling_target_lends_its_sessions_and_gets_them_back(
    tier: Callable[..., tuple[anthropic.Anthropic, Gateway]], anthropic_upstream: AnthropicUpstream
) -> None:
    """A 529 with ``retry-after`` cools ``a`` down: its session goes to ``b`` meanwhile (a session of
    ``b`` never moves), and returns to ``a`` once the cooldown is over."""
    clock = FakeClock()
    client, _ = tier(cooldowns=Cooldowns(clock))
    session, other = session_on("a"), session_on("b")
    anthropic_upstream.enqueue(Fault.http(529, retry_after=30))
    provider, headers = served_by(client, session)
    assert (provider, headers["x-aimux-attempts"]) == ("b", "2")
    calls_to_a = len(anthropic_upstream.requests)
    for _ in range(2):
        assert served_by(client, session)[0] == "b"
        assert served_by(client, other)[0] == "b"
    assert len(anthropic_upstream.requests) == calls_to_a, "a is skipped while it cools down"
    clock.advance(31)
    provider, headers = served_by(client, session)
    assert (provider, headers["x-aimux-attempts"]) == ("a", "1")


def test_a_failure_without_cooldown_moves_only_that_request(
    tier: Callable[..., tuple[anthropic.Anthropic, Gateway]], anthropic_upstream: AnthropicUpstream
) -> None:
    """A single 500 (a fault, not a load signal: no cooldown, the breaker stays closed) fails over;
    nothing remembers it, so the next turn is on ``a`` again (the per-process pin this replaces kept the
    session on ``b`` in that process only)."""
    client, _ = tier()
    session = session_on("a")
    anthropic_upstream.enqueue(Fault.http(500))
    assert served_by(client, session)[0] == "b"
    assert served_by(client, session)[0] == "a"


def test_pinning_can_be_turned_off(tier: Callable[..., tuple[anthropic.Anthropic, Gateway]]) -> None:
    client, _ = tier(session_pinning=False)
    assert [served_by(client, session_on("a"))[0] for _ in range(4)] == ["a", "b", "a", "b"]


def test_openai_clients_stick_by_user(tier: Callable[..., tuple[anthropic.Anthropic, Gateway]]) -> None:
    """OpenAI's ``user`` field becomes the canonical ``metadata.user_id``: the session key there."""
    client, _ = tier()
    url = str(client.base_url).rstrip("/")
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-client", max_retries=0, timeout=10)

    def provider(user: str) -> str:
        raw = oai.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES, user=user)
        return raw.headers["x-aimux-provider"]

    assert [provider(session_on("b")) for _ in range(3)] == ["b"] * 3
    assert [provider(session_on("a")) for _ in range(3)] == ["a"] * 3


# --------------------------------------------------------------------------- sticky_order


def _tier(*weights: int) -> list[Target]:
    return [target_of(make_entry(f"m{i}", f"p{i}", weight=w)) for i, w in enumerate(weights)]


def _weight(target: Target) -> float:
    return float(target.entry.weight) if target.entry is not None else 1.0


def _shares(tier: list[Target], sessions: int) -> dict[str, float]:
    firsts = Counter(sticky_order(tier, f"claude-code-{n:06d}", _weight)[0].provider for n in range(sessions))
    return {target.provider: firsts[target.provider] / sessions for target in tier}


@pytest.mark.parametrize("weights", [(3, 1), (5, 3, 2), (1, 1, 1, 1)])
def test_the_tiers_weights_hold_across_sessions(weights: tuple[int, ...]) -> None:
    """20,000 fixed session ids: the first choices split by weight. The ids are deterministic, so this
    either always passes or always fails; the bound (±0.015) is 5 standard deviations of a fair draw."""
    tier = _tier(*weights)
    shares = _shares(tier, 20_000)
    for target, weight in zip(tier, weights, strict=True):
        assert abs(shares[target.provider] - weight / sum(weights)) < 0.015, shares


def test_a_weight_of_zero_serves_only_when_the_others_cannot() -> None:
    tier = _tier(1, 0, 1)
    orders = [sticky_order(tier, f"s{n}", _weight) for n in range(500)]
    assert all(order[-1].provider == "p1" for order in orders)


def test_removing_a_target_moves_only_its_sessions_and_spreads_them_by_weight() -> None:
    tier = _tier(2, 1, 1)
    sessions = [f"s{n}" for n in range(6000)]
    before = {s: sticky_order(tier, s, _weight)[0].provider for s in sessions}
    after = {s: sticky_order(tier[1:], s, _weight)[0].provider for s in sessions}
    assert all(after[s] == before[s] for s in sessions if before[s] != "p0"), "other sessions must not move"
    moved = Counter(after[s] for s in sessions if before[s] == "p0")
    assert abs(moved["p1"] / sum(moved.values()) - 0.5) < 0.05, moved
    # and the failover order a session uses while p0 is down is its own second choice
    assert all(sticky_order(tier, s, _weight)[1].provider == after[s] for s in sessions if before[s] == "p0")


def test_every_interpreter_computes_the_same_order() -> None:
    """Python's ``hash`` of a string differs between processes (PYTHONHASHSEED): the order must not."""
    code = (
        "import json; from aimux_core.routing.catalog import ModelEntry; from aimux_core.routing.table import Target;"
        "from aimux_core.routing.stickiness import sticky_order;"
        "tier=[Target(f'p{i}', f'm{i}', ModelEntry(f'm{i}', f'p{i}', f'm{i}', f'm{i}', weight=w)) for i, w in "
        "enumerate((3, 2, 1))];"
        "print(json.dumps([[t.provider for t in sticky_order(tier, f's{n}', lambda t: t.entry.weight)] "
        "for n in range(200)]))"
    )
    tier = _tier(3, 2, 1)
    here = [[t.provider for t in sticky_order(tier, f"s{n}", _weight)] for n in range(200)]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == here
