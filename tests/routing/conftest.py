"""Shared pieces of the routing suite: catalog/request builders, scripted providers, a fake clock,
and a gateway wired to the fake upstreams and served on loopback.

Test modules import the plain helpers as ``from routing_conftest import ...``: this conftest
registers itself under that unique name (pytest loads a directory's conftest before importing the
test modules in it, and several suite directories have a module called ``conftest``, so the bare
name would be ambiguous). Stateful helpers are fixtures.

Why two kinds of upstream doubles: the selection, strategy and dispatch-unit tests need exact
control over time and ordering, so they use ``ScriptedProvider`` (in-process, no I/O); everything
that claims behaviour on the wire (failover, headers, session stickiness through HTTP) goes through the real
adapters against the fake upstream servers in ``tests/fakes``.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from aimux_core.errors import UpstreamError
from aimux_core.gateway import Gateway
from aimux_core.providers.base import UpstreamCall
from aimux_core.routing.catalog import Catalog, ModelEntry
from aimux_core.routing.dispatch import RetryPolicy
from aimux_core.routing.table import Route, RoutingTable, Strategy, Target
from aimux_core.wire.anthropic import Message, MessagesRequest, StreamEvent
from support.server import serve

CLAUDE_CODE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code"
# Keys the gateway holds for its upstreams: tests assert they never surface in an answer.
UPSTREAM_KEY = "sk-" "ant-routing-suite-upstream-key-0001"
# Short enough to fail over fast on a stall, long enough for a loopback answer.
FAST = {"connect": 1.0, "first_byte": 0.3, "idle": 0.3, "total": 0.7}
TEST_POLICY = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, deadline=5.0)

sys.modules["routing_conftest"] = sys.modules[__name__]


# --------------------------------------------------------------------------- catalog and tables


def make_entry(model_id: str, provider: str, upstream: str | None = None, **changes: Any) -> ModelEntry:
    """A catalog entry with sensible defaults (every capability, a 200k window)."""
    return ModelEntry(
        id=model_id, provider=provider, upstream_model=upstream or model_id, display_name=model_id, **changes
    )


def target_of(entry: ModelEntry) -> Target:
    return Target(entry.provider, entry.upstream_model, entry)


def make_table(
    entries: Sequence[ModelEntry],
    routes: dict[str, Sequence[Sequence[ModelEntry | Target]]],
    *,
    aliases: Sequence[tuple[str, str]] = (),
    strategy: Strategy = "priority",
    route_strategies: dict[str, Strategy] | None = None,
    **changes: Any,
) -> RoutingTable:
    """A ``RoutingTable`` from entries and routes given as tiers of entries (or raw targets)."""
    catalog = Catalog(entries)
    built = {
        name: Route(
            name,
            tuple(tuple(t if isinstance(t, Target) else target_of(t) for t in tier) for tier in tiers),
            (route_strategies or {}).get(name),
        )
        for name, tiers in routes.items()
    }
    by_provider: dict[str, list[Target]] = {}
    for entry in entries:
        by_provider.setdefault(entry.provider, []).append(target_of(entry))
    return RoutingTable(
        catalog=catalog,
        providers=frozenset(by_provider),
        routes=built,
        aliases=tuple(aliases),
        strategy=strategy,
        provider_models={p: tuple(ts) for p, ts in by_provider.items()},
        **changes,
    )


def make_request(text: str = "hello", model: str = "claude-sonnet-4-5", **fields: Any) -> MessagesRequest:
    """A canonical request; ``fields`` are raw JSON fields (validated like a client's body)."""
    body: dict[str, Any] = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": text}]}
    body.update(fields)
    return MessagesRequest.model_validate(body)


def claude_code_record(name: str) -> dict[str, Any]:
    """A recorded Claude Code request (``method``, ``path``, ``headers``, ``body``) by file stem."""
    return json.loads((CLAUDE_CODE_FIXTURES / f"{name}.json").read_text())


# --------------------------------------------------------------------------- in-process doubles


class FakeClock:
    """Monotonic time that only moves when told: ``sleep`` advances it and records the delay."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Step:
    """One scripted answer: ``error`` before anything, or ``events`` (then ``error`` mid-stream).

    ``takes`` seconds of the fake clock pass before the answer (or the first event); ``gap`` between
    later events. A non-stream call answers ``message`` (or a message assembled from nothing).
    """

    error: UpstreamError | None = None
    events: tuple[StreamEvent, ...] = ()
    takes: float = 0.0
    gap: float = 0.0
    message: Message | None = None


@dataclass
class ScriptedProvider:
    """A ``Provider`` stand-in answering from a FIFO script (default: success), recording calls."""

    name: str
    clock: FakeClock | None = None
    script: deque[Step] = field(default_factory=deque)
    calls: list[UpstreamCall] = field(default_factory=list)
    closed: int = 0  # stream iterators closed (finished, failed or abandoned)

    def then(self, *steps: Step) -> ScriptedProvider:
        self.script.extend(steps)
        return self

    def _next(self) -> Step:
        return self.script.popleft() if self.script else Step()

    def _pass(self, seconds: float) -> None:
        if self.clock is not None and seconds:
            self.clock.advance(seconds)

    async def create(self, call: UpstreamCall) -> Message:
        self.calls.append(call)
        step = self._next()
        self._pass(step.takes)
        if step.error is not None:
            raise step.error
        return step.message or text_message(f"from {self.name}", call.request.model)

    def stream(self, call: UpstreamCall) -> AsyncIterator[StreamEvent]:
        self.calls.append(call)
        return self._stream(call, self._next())

    async def _stream(self, call: UpstreamCall, step: Step) -> AsyncIterator[StreamEvent]:
        try:
            self._pass(step.takes)
            events = step.events
            if not events and step.error is None:
                events = tuple(text_events(f"from {self.name}", call.request.model))
            for i, event in enumerate(events):
                if i:
                    self._pass(step.gap)
                yield event
            if step.error is not None:
                raise step.error
        finally:
            self.closed += 1


def text_message(text: str, model: str) -> Message:
    return Message.model_validate(
        {
            "id": "msg_scripted",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 2},
        }
    )


def text_events(text: str, model: str) -> list[StreamEvent]:
    """A well-formed Messages stream for one text block."""
    raw = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_scripted",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    return [_EVENTS.validate_python(event) for event in raw]


_EVENTS: TypeAdapter[Any] = TypeAdapter(StreamEvent)


def upstream_failure(status: int = 529, *, retry_after: float | None = None, provider: str = "p") -> UpstreamError:
    """The ``UpstreamError`` an adapter raises for an upstream HTTP ``status``."""
    from aimux_core.translate.upstream_errors import upstream_error

    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return upstream_error(provider, status, headers, b"")


# --------------------------------------------------------------------------- gateway on the fakes


@dataclass
class Served:
    """A gateway on loopback: its base URL and the object itself (for cooldowns, its dispatcher clock, …)."""

    url: str
    gateway: Gateway


def anthropic_provider(name: str, base_url: str, *, fast: bool = False, client: httpx.AsyncClient) -> Any:
    from aimux_core.presets import preset
    from aimux_core.providers.anthropic import AnthropicProvider
    from aimux_core.providers.transport import Timeouts

    timeouts = Timeouts(**FAST) if fast else Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=8.0)
    return AnthropicProvider(name, preset("anthropic"), UPSTREAM_KEY, base_url=base_url, timeouts=timeouts,
                             client=client)


def openai_provider(name: str, base_url: str, *, fast: bool = False, client: httpx.AsyncClient) -> Any:
    from aimux_core.presets import preset
    from aimux_core.providers.openai import OpenAIProvider
    from aimux_core.providers.transport import Timeouts

    timeouts = Timeouts(**FAST) if fast else Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=8.0)
    return OpenAIProvider(name, preset("openai"), UPSTREAM_KEY, base_url=base_url, timeouts=timeouts, client=client)


class Stage:
    """One loopback server per module whose gateway each test swaps in (``use``).

    Starting and stopping uvicorn costs ~0.2 s, most of the failover matrix's budget; the gateway
    (dispatcher cooldowns, rotation) is what must be fresh per test, and it is.
    """

    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self._app = app

    def use(self, gateway: Gateway) -> Served:
        self._app.state.gateway = gateway
        return Served(self.url, gateway)


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    from aimux_core.assembly import default_gateway
    from aimux_core.settings import Settings
    from aimux_core.surfaces.app import create_messages_app

    app = create_messages_app(default_gateway(Settings.from_env()))
    with serve(app) as url:
        yield Stage(url, app)


@dataclass
class Upstreams:
    """Builds gateways whose targets are real adapters pointed at the fake servers."""

    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=None))

    def provider(self, dialect: str, name: str, base_url: str, *, fast: bool = False) -> Any:
        make = anthropic_provider if dialect == "anthropic" else openai_provider
        return make(name, base_url, fast=fast, client=self.client)


@pytest.fixture
def upstreams() -> Upstreams:
    """Adapter factory sharing one pooled HTTP client per test (the loop it binds to is the server's)."""
    return Upstreams()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scripted(fake_clock: FakeClock) -> Callable[[str], ScriptedProvider]:
    """``scripted("a")``: a scripted provider named ``a`` on the test's fake clock."""
    return lambda name: ScriptedProvider(name, fake_clock)
