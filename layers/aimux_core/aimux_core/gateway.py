"""The gateway service: one canonical request in, one canonical answer (or event stream) out.

Surfaces translate the caller's dialect to a canonical ``MessagesRequest`` and hand it here;
this object selects the targets (``routing.select``), walks them (``routing.dispatch``) and
reports which target served and why. One instance serves every request of a process (and every
invocation of a warm Lambda container); per-request state lives in the call, never here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace

from .accounting.pricing import cost_micro_usd
from .accounting.tokens import estimate_input_tokens
from .admission import OPEN, Admission, Admitted
from .errors import AimuxError, NotFound
from .providers.base import Provider, RequestContext
from .routing.catalog import MOCK_MODEL, Catalog, ModelEntry
from .routing.dispatch import Dispatcher, Guard, OpenGuard, Outcome, RetryPolicy
from .routing.pins import SessionPins
from .routing.select import Decision, HealthView, RequestMeta, Resting, Selector
from .routing.table import RoutingTable, Target, table_for_catalog
from .state.cooldowns import Cooldowns
from .wire.anthropic import Message, MessagesRequest, StreamEvent, Usage


@dataclass(slots=True)
class Served:
    """What answered and how: for the response headers, the log line and accounting."""

    decision: Decision
    outcome: Outcome
    admitted: Admitted = OPEN

    @property
    def target(self) -> Target:
        return self.outcome.target

    def headers(self) -> dict[str, str]:
        return {
            "x-aimux-provider": self.target.provider,
            "x-aimux-model": self.target.model,
            "x-aimux-route": self.decision.header,
            "x-aimux-attempts": str(len(self.outcome.attempts)),
        }


@dataclass(slots=True)
class OpenStream:
    """A stream whose first content already arrived: failures before it were failed over or raised."""

    events: AsyncIterator[StreamEvent]
    served: Served


class Gateway:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        table: RoutingTable,
        *,
        policy: RetryPolicy | None = None,
        guard: Guard | None = None,
        admission: Admission | None = None,
        cooldowns: Cooldowns | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.table = table
        self.selector = Selector(table)
        self.pins = SessionPins()
        self.selector.pinned = self.pins.get
        self.guard = guard or OpenGuard()
        self.admission = admission
        if cooldowns is None:  # the guard's when it shares cooldowns with the fleet, else this process's own
            cooldowns = getattr(self.guard, "cooldowns", None) or _local_cooldowns()
        self.cooldowns = cooldowns
        self.dispatcher = Dispatcher(self.providers, policy or RetryPolicy(), self.guard, cooldowns=cooldowns)
        self._known_targets = _all_targets(table)

    @property
    def catalog(self) -> Catalog:
        return self.table.catalog

    async def health_view(self) -> HealthView:
        """The routing-relevant health snapshot (cached by the guard; empty without one), with the
        targets resting now (this process's cooldowns and those the fleet shared)."""
        view_of = getattr(self.guard, "view", None)
        view = await view_of(self._known_targets) if view_of is not None else HealthView()
        cooling = self.cooldowns.live(t.key for t in self._known_targets)
        if not cooling:
            return view
        now = self.cooldowns.now()
        resting = dict(view.resting)
        for key, cooldown in cooling.items():
            resting.setdefault(key, Resting(cooldown.describe(), cooldown.remaining(now)))
        return replace(view, resting=resting)

    async def decide(self, request: MessagesRequest, meta: RequestMeta, estimate: int | None = None) -> Decision:
        """The targets for ``request`` (down ones last, see ``routing.select``); 404 when none can serve it."""
        if estimate is None:
            estimate = estimate_input_tokens(request)
        decision = self.selector.select(request, meta, await self.health_view(), estimated_tokens=estimate)
        if not decision.targets:
            reasons = "; ".join(f"{label}: {why}" for label, why in decision.dropped) or "no target configured"
            raise NotFound(f"model: no configured target can serve this request ({reasons})", param="model")
        return decision

    def limits_for(self, model: str) -> ModelEntry:
        """The catalog entry whose limits apply to a client model name (the default route's first otherwise)."""
        entry = self.table.catalog.get(model)
        if entry is not None:
            return entry
        first = self.table.routes["default"].tiers[0][0]
        return first.entry or MOCK_MODEL

    async def create(
        self, request: MessagesRequest, context: RequestContext, meta: RequestMeta
    ) -> tuple[Message, Served]:
        decision, admitted = await self._admit(request, context, meta)
        try:
            message, outcome = await self.dispatcher.create(request, context, decision.targets)
        except AimuxError as error:
            error.headers.setdefault("x-aimux-route", decision.header)
            raise
        self._pin(meta, outcome)
        return message, Served(decision, outcome, admitted)

    async def open_stream(self, request: MessagesRequest, context: RequestContext, meta: RequestMeta) -> OpenStream:
        decision, admitted = await self._admit(request, context, meta)
        try:
            events, outcome = await self.dispatcher.open_stream(request, context, decision.targets)
        except AimuxError as error:
            error.headers.setdefault("x-aimux-route", decision.header)
            raise
        self._pin(meta, outcome)
        return OpenStream(events, Served(decision, outcome, admitted))

    async def drain(self) -> None:
        """Wait for the background state writes (breaker outcomes, token settlements, spend)."""
        if self.admission is not None:
            await self.admission.drain()
        drain_guard = getattr(self.guard, "drain", None)
        if drain_guard is not None:
            await drain_guard()
        await self.cooldowns.drain()

    def settle(self, served: Served, usage: Usage) -> float:
        """The answer's cost in USD; the caller's token and spend counters are updated in the background."""
        entry = served.target.entry
        price = entry.price if entry is not None else None
        if self.admission is None:
            return cost_micro_usd(usage, price) / 1_000_000
        return self.admission.settle(served.admitted, usage, price) / 1_000_000

    async def _admit(
        self, request: MessagesRequest, context: RequestContext, meta: RequestMeta
    ) -> tuple[Decision, Admitted]:
        """Route, then check the caller's key against it (allow-lists, rate windows, budget)."""
        estimate = estimate_input_tokens(request)
        decision = await self.decide(request, meta, estimate)
        key = context.key
        if key is None:
            return decision, OPEN
        from .keys.ring import check_model

        check_model(key, request.model, decision.route)
        if self.admission is None:
            return decision, Admitted(key)
        admitted = await self.admission.admit(key, decision.route, estimate)
        step_down = admitted.budget
        if step_down.action == "step_down" and step_down.route:
            meta = replace(meta, route_override=step_down.route, route_note=step_down.note)
            decision = await self.decide(request, meta, estimate)
        return decision, admitted

    def _pin(self, meta: RequestMeta, outcome: Outcome) -> None:
        if meta.session_id and self.table.session_pinning:
            self.pins.set(meta.session_id, outcome.target.key)


def _all_targets(table: RoutingTable) -> tuple[Target, ...]:
    seen: dict[str, Target] = {}
    for route in table.routes.values():
        for tier in route.tiers:
            for target in tier:
                seen.setdefault(target.key, target)
    for targets in table.provider_models.values():
        for target in targets:
            seen.setdefault(target.key, target)
    return tuple(seen.values())


def _local_cooldowns() -> Cooldowns:
    """Cooldowns kept in this process, reported like the fleet's (log line, ``ProviderAuthFailures``)."""
    from .accounting.metrics import on_cooldown
    from .state.clock import SystemClock

    return Cooldowns(SystemClock(), on_start=on_cooldown)


def build_mock_gateway() -> Gateway:
    """A gateway where every model name is served by the built-in mock (tests, benchmarks)."""
    from .providers.mock import MockProvider

    catalog = Catalog([MOCK_MODEL])
    return Gateway({"mock": MockProvider()}, table_for_catalog(catalog, MOCK_MODEL.id))


def build_default_gateway(env: Mapping[str, str] | None = None) -> Gateway:
    """The gateway the configuration describes: ``AIMUX_CONFIG``, ``./aimux.yaml``, else the presets
    whose key variables are set, else the mock. Raises ``ConfigError`` naming what is wrong."""
    import os

    from .config import resolve_config
    from .config.runtime import build_gateway_from_config

    environment = os.environ if env is None else env
    return build_gateway_from_config(resolve_config(environment), env=environment)
