"""Stickiness across a fleet: two ``aimux serve`` processes, one weighted tier, no shared state.

Each process routes on its own (its own memory store, its own randomness), as two Lambda instances
do. Every session's turns alternate between the two gateways; the two fake Anthropic upstreams record
which sessions reached them. Every session must reach exactly one upstream, the one its rendezvous
order names, and the sessions must split by the tier's weights. With the per-process pins this
replaced, a session scattered as soon as the second process picked differently (for 40 sessions at
weights 2:1 the chance that none did is below 1e-8).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
import yaml

from aimux_core.routing.catalog import ModelEntry
from aimux_core.routing.stickiness import sticky_order
from aimux_core.routing.table import Target
from fakes import Reply
from fakes.anthropic_upstream import AnthropicUpstream
from support.serve_process import ServeProcess, start, stop, wait_ready

pytestmark = pytest.mark.timeout(120)

SESSIONS = 40
TURNS = 4
WEIGHTS = {"a": 2, "b": 1}
_SESSION = re.compile(r"session=(fleet-\d+)")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[list[ServeProcess], dict[str, AnthropicUpstream]]]:
    fakes = {name: AnthropicUpstream(default=Reply(text=f"from {name}")).start() for name in WEIGHTS}
    config = {
        "providers": {
            name: {"preset": "anthropic", "base_url": fake.base_url, "api_key_env": f"FLEET_{name.upper()}_KEY"}
            for name, fake in fakes.items()
        },
        "models": {
            f"model-{name}": {"provider": name, "upstream_model": f"claude-{name}", "weight": weight}
            for name, weight in WEIGHTS.items()
        },
        "routes": {"default": {"tiers": [[f"model-{name}" for name in WEIGHTS]], "strategy": "weighted"}},
    }
    path = tmp_path / "aimux.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"AIMUX_CONFIG": str(path), "AIMUX_EMF": "0", "FLEET_A_KEY": "sk-fleet-a", "FLEET_B_KEY": "sk-fleet-b"}
    gateways: list[ServeProcess] = []
    try:
        gateways = [start(env) for _ in range(2)]
        for gateway in gateways:
            wait_ready(gateway)
        yield gateways, fakes
    finally:
        for gateway in gateways:
            stop(gateway)
        for fake in fakes.values():
            fake.stop()


def expected_provider(session: str) -> str:
    tier = [
        Target(
            name, f"claude-{name}", ModelEntry(f"model-{name}", name, f"claude-{name}", f"model-{name}", weight=weight)
        )
        for name, weight in WEIGHTS.items()
    ]
    return sticky_order(tier, session, lambda t: float(t.entry.weight if t.entry else 1))[0].provider


def test_every_turn_of_a_session_reaches_one_provider_across_two_gateways(
    fleet: tuple[list[ServeProcess], dict[str, AnthropicUpstream]],
) -> None:
    gateways, fakes = fleet
    clients = [anthropic.Anthropic(base_url=g.url, api_key="sk-client", max_retries=0, timeout=20) for g in gateways]
    sessions = [f"fleet-{n:03d}" for n in range(SESSIONS)]
    served_header: dict[str, set[str]] = defaultdict(set)
    for turn in range(TURNS):
        for index, session in enumerate(sessions):
            client = clients[(index + turn) % 2]  # each session alternates between the two processes
            raw = client.messages.with_raw_response.create(
                model="claude-sonnet-4-5",
                max_tokens=32,
                messages=[{"role": "user", "content": f"session={session} turn={turn}"}],
                extra_headers={"x-claude-code-session-id": session},
            )
            served_header[session].add(raw.headers["x-aimux-provider"])
    reached: dict[str, set[str]] = defaultdict(set)
    for name, fake in fakes.items():
        for request in fake.message_requests:
            found = _SESSION.search(json.dumps(request.json["messages"]))
            assert found is not None
            reached[found.group(1)].add(name)
        fake.raise_for_errors()
    scattered = {s: sorted(p) for s, p in reached.items() if len(p) != 1}
    assert not scattered, f"sessions that reached more than one provider: {scattered}"
    assert served_header == reached
    assert {s: next(iter(p)) for s, p in reached.items()} == {s: expected_provider(s) for s in sessions}
    counts = {name: sum(1 for p in reached.values() if p == {name}) for name in WEIGHTS}
    assert counts["a"] > counts["b"] > 0, counts  # 2:1 over 40 fixed ids: 24 and 16 here
    assert sum(len(f.message_requests) for f in fakes.values()) == SESSIONS * TURNS
