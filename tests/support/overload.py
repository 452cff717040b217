"""An upstream overload as clients live it: the same SDK clients, once direct, once through aimux.

The scenario of ``tests/failover/test_failover_overload.py`` and ``bench/bench_overload.py``: a fake
provider answers every request with a fault (a 529, or a 429 with ``retry-after: 1``) for
``outage`` seconds, then recovers; ``clients`` threads, each with its own official SDK client with
the SDK's DEFAULT retries, call it in a loop for ``window`` seconds. One group calls the fake
directly, the other calls aimux, whose single-provider route leads to a twin fake with the same
outage, started at the same instant, so both groups live through the same minutes of a shared machine.

What is counted is what a user sees: SDK calls that returned an answer, and SDK calls that raised
(after the SDK's own retries), each counted when it finished within the window, plus the requests
each fake received. Nothing here asserts durations.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from fakes import Fault, Reply
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.server import serve

Dialect = Literal["anthropic", "openai"]
MODEL = "overload-model"
CLIENT_KEY = "sk-client-overload-key"
UPSTREAM_KEY_ENV = "OVERLOAD_UPSTREAM_KEY"
UPSTREAM_KEY = "sk-upstream-overload-key-0001"
PROMPT = [{"role": "user", "content": "say something"}]


@dataclass
class Tally:
    """What one group of clients got within the window."""

    ok: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    upstream_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": self.failed, "errors": dict(self.errors),
                "upstream_requests": self.upstream_requests}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    dialect: Dialect = "anthropic"
    fault: Literal["529", "429"] = "529"
    clients: int = 16
    outage: float = 5.0
    window: float = 30.0
    latency: float = 0.2  # seconds the fake takes to answer once recovered

    def fault_item(self) -> Fault:
        if self.fault == "429":
            return Fault.http(429, retry_after=1)
        return Fault.http(529)


def aimux_config(base_url: str, dialect: Dialect, **top: Any) -> dict[str, Any]:
    """A single-provider route to the fake at ``base_url``; ``top`` adds top-level sections."""
    return {
        "providers": {"upstream": {"dialect": dialect, "base_url": base_url, "api_key_env": UPSTREAM_KEY_ENV}},
        "models": {MODEL: {"provider": "upstream", "upstream_model": MODEL}},
        **top,
    }


@contextmanager
def aimux_in_front(base_url: str, dialect: Dialect, **top: Any) -> Iterator[str]:
    """aimux (``assembly.build_gateway``: breakers, cooldowns and health on an in-memory store)
    on a loopback port, in front of the fake at ``base_url``."""
    from aimux_core.assembly import build_gateway
    from aimux_core.config.schema import AimuxConfig
    from aimux_core.state import MemoryStore, SystemClock
    from aimux_core.surfaces.app import create_messages_app

    config = AimuxConfig.model_validate(aimux_config(base_url, dialect, **top))
    client = httpx.AsyncClient(timeout=None)  # bound to the server's loop on first use, like the shared one
    gateway = build_gateway(
        config, env={UPSTREAM_KEY_ENV: UPSTREAM_KEY}, client=client, store=MemoryStore(SystemClock())
    )
    with serve(create_messages_app(gateway)) as url:
        yield url


def sdk_call(dialect: Dialect, base_url: str) -> Callable[[], None]:
    """One SDK client (default retries, a generous timeout) and the call a client makes in its loop."""
    if dialect == "anthropic":
        import anthropic

        client = anthropic.Anthropic(base_url=base_url, api_key=CLIENT_KEY, timeout=60)

        def call() -> None:
            client.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]

        return call
    import openai

    chat = openai.OpenAI(base_url=base_url, api_key=CLIENT_KEY, timeout=60)

    def call_chat() -> None:
        chat.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]

    return call_chat


def _loop(call: Callable[[], None], end: float, tally: Tally, lock: threading.Lock) -> None:
    while time.monotonic() < end:
        try:
            call()
            outcome = None
        except Exception as exc:  # the SDK gave up after its own retries
            status = getattr(exc, "status_code", None)
            outcome = f"{type(exc).__name__}" + (f" {status}" if status else "")
        if time.monotonic() > end:
            return  # finished after the window: not counted either way
        with lock:
            if outcome is None:
                tally.ok += 1
            else:
                tally.failed += 1
                tally.errors[outcome] += 1


def _fake(dialect: Dialect, latency: float) -> AnthropicUpstream | OpenAIUpstream:
    fake: AnthropicUpstream | OpenAIUpstream = AnthropicUpstream() if dialect == "anthropic" else OpenAIUpstream()
    fake.default = Reply(text="recovered", delay=latency)
    return fake


Front = Callable[[str, Dialect], AbstractContextManager[str]]


def run(scenario: Scenario, *, aimux_top: dict[str, Any] | None = None, front: Front | None = None) -> dict[str, Tally]:
    """Both groups at once: ``{"direct": Tally, "aimux": Tally}``. ``front(base_url, dialect)`` serves
    aimux in front of a fake and yields its URL (default: ``aimux_in_front``, in this process)."""
    dialect = scenario.dialect
    if front is None:
        front = lambda base_url, dialect: aimux_in_front(base_url, dialect, **(aimux_top or {}))  # noqa: E731
    with _fake(dialect, scenario.latency) as direct_fake, _fake(dialect, scenario.latency) as aimux_fake:
        with front(aimux_fake.base_url, dialect) as url:
            aimux_url = url if dialect == "anthropic" else f"{url}/v1"
            calls = {
                "direct": [sdk_call(dialect, direct_fake.base_url) for _ in range(scenario.clients)],
                "aimux": [sdk_call(dialect, aimux_url) for _ in range(scenario.clients)],
            }
            tallies = {name: Tally() for name in calls}
            lock = threading.Lock()
            for fake in (direct_fake, aimux_fake):
                fake.outage(scenario.fault_item(), scenario.outage)
            end = time.monotonic() + scenario.window
            threads = [
                threading.Thread(target=_loop, args=(call, end, tallies[name], lock), daemon=True)
                for name, group in calls.items()
                for call in group
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=scenario.window + 120)
        tallies["direct"].upstream_requests = len(direct_fake.requests)
        tallies["aimux"].upstream_requests = len(aimux_fake.requests)
        for fake in (direct_fake, aimux_fake):
            fake.raise_for_errors()
    return tallies
