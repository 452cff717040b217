"""The gateway service: one canonical request in, one canonical answer (or event stream) out.

Surfaces translate the caller's dialect to a canonical ``MessagesRequest`` and hand it here;
this object selects the targets (``routing.select``), walks them (``routing.dispatch``) and
reports which target served and why. One instance serves every request of a process (and every
invocation of a warm Lambda container); per-request state lives in the call, never here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Literal, TypeVar

from .accounting.metrics import Emission, on_cooldown
from .accounting.pricing import batch_price, cost_micro_usd, uses_prompt_cache, worst_case_micro_usd
from .accounting.tokens import estimate_input_tokens
from .errors import AimuxError, NotFound
from .keys.ring import check_model
from .limits.admission import OPEN, Admission, Admitted
from .providers.base import Provider, RequestContext, UpstreamCall
from .reasoning import Missing, ReasoningEcho, missing_reasoning, scope_of
from .routing.catalog import MOCK_MODEL, Catalog, ModelEntry
from .routing.dispatch import Dispatcher, Guard, OpenGuard, Outcome, RetryPolicy
from .routing.guarded import select_guarded
from .routing.select import Decision, HealthView, RequestMeta, Resting, Selector
from .routing.table import RoutingTable, Target
from .state.clock import SystemClock
from .state.cooldowns import Cooldowns
from .wire.anthropic import EventStream, Message, MessagesRequest, Usage
from .wire.replay import replay

if TYPE_CHECKING:
    from .cache.policy import Directive
    from .cache.response_cache import CacheStatus, CacheTicket, ResponseCache

if TYPE_CHECKING:
    from .accounting.counters import FleetCounters
    from .config.schema import AimuxConfig

T = TypeVar("T")
TokenCountSource = Literal["upstream", "estimate"]
COUNT_TOKENS_TIMEOUT = 5.0  # seconds: past it, Claude Code's /context gets the estimate


@dataclass(slots=True)
class Served:
    """What answered and how: for the response headers, the log line and accounting.

    ``batch``: answered by a provider's batch API, so priced at its batch rate (``pricing.batch_price``).
    """

    decision: Decision
    outcome: Outcome
    admitted: Admitted = OPEN
    batch: bool = False
    tokens_removed: int = 0  # by the route's token guards (limits/token_guards.py)
    cache: CacheStatus | None = None
    """What the response cache did (None: not involved); a hit has no attempts and costs nothing."""

    @property
    def target(self) -> Target:
        return self.outcome.target

    @property
    def from_cache(self) -> bool:
        return self.cache is not None and self.cache.hit

    def headers(self) -> dict[str, str]:
        headers = {
            "x-aimux-provider": self.target.provider,
            "x-aimux-model": self.target.model,
            "x-aimux-route": self.decision.header,
            "x-aimux-attempts": str(len(self.outcome.attempts)),
        }
        if self.cache is not None:
            headers.update(self.cache.headers())
        return headers


@dataclass(slots=True)
class OpenStream:
    """A stream whose first content already arrived: failures before it were failed over or raised."""

    events: EventStream
    served: Served


@dataclass(slots=True)
class _Routed:
    """A request routed and admitted (``Gateway._route``): what the call needs, or a cache hit's answer."""

    request: MessagesRequest
    decision: Decision
    admitted: Admitted
    removed: int  # input tokens the route's token guards removed
    ticket: CacheTicket | None  # the response cache's (None: not involved); a hit carries its answer

    def served(self, outcome: Outcome) -> Served:
        status = self.ticket.status if self.ticket is not None else None
        return Served(self.decision, outcome, self.admitted, tokens_removed=self.removed, cache=status)


class Gateway:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        table: RoutingTable,
        *,
        policy: RetryPolicy | None = None,
        guard: Guard | None = None,
        admission: Admission | None = None,
        reasoning: ReasoningEcho | None = None,
        response_cache: ResponseCache | None = None,
        cooldowns: Cooldowns | None = None,
        counters: FleetCounters | None = None,
        config: AimuxConfig | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.counters = counters
        """Fleet-wide usage and error counters every finished request adds to (``accounting/counters.py``)."""
        self.config = config
        """The configuration this gateway was built from (None for one assembled in code)."""
        self.reasoning = reasoning
        self.response_cache = response_cache
        self.table = table
        self.selector = Selector(table)
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

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every target a route or a provider's model list names, once each (what health is kept for)."""
        return self._known_targets

    def warm_view(self) -> None:
        """Start reading a stale health view now, beside the request's key lookup (``BreakerGuard.warm``)."""
        warm = getattr(self.guard, "warm", None)
        if warm is not None:
            warm(self._known_targets)

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
            raise _unserved(decision)
        return decision

    def limits_for(self, model: str) -> ModelEntry:
        """The catalog entry whose limits apply to a client model name (the default route's first otherwise)."""
        entry = self.table.catalog.get(model)
        if entry is not None:
            return entry
        first = self.table.routes["default"].tiers[0][0]
        return first.entry or MOCK_MODEL

    async def create(
        self,
        request: MessagesRequest,
        context: RequestContext,
        meta: RequestMeta,
        *,
        cache_directive: Directive | None = None,
    ) -> tuple[Message, Served]:
        """One buffered answer; its cost is settled by ``settle`` (a failure gives the budget hold back here).

        ``cache_directive`` is the client's ``x-aimux-cache`` (``cache/policy.py``).
        """
        routed = await self._route(request, context, meta, cache_directive)
        ticket = routed.ticket
        if ticket is not None and ticket.answer is not None:
            return ticket.answer, _served_from_cache(routed, ticket)
        request = routed.request
        message, outcome = await self._dispatched(self.dispatcher.create(request, context, routed.decision.targets),
                                                  routed)  # fmt: skip
        provider = outcome.target.provider
        if self.reasoning is not None and self._echoes(provider):
            self.reasoning.remember(request, message, provider, scope_of(context.key))
        if ticket is not None and self.response_cache is not None:
            self.response_cache.keep(ticket, message, outcome.target)
        return message, routed.served(outcome)

    async def open_stream(
        self,
        request: MessagesRequest,
        context: RequestContext,
        meta: RequestMeta,
        *,
        cache_directive: Directive | None = None,
    ) -> OpenStream:
        """A stream with its first content; ``settle`` charges what it used when it ends, however it ends.

        A response-cache hit is the stored answer replayed as a stream (``wire/replay.py``).
        """
        routed = await self._route(request, context, meta, cache_directive)
        ticket = routed.ticket
        if ticket is not None and ticket.answer is not None:
            return OpenStream(replay(ticket.answer), _served_from_cache(routed, ticket))
        request = routed.request
        if ticket is not None and ticket.plan is not None:
            # The cache folds this stream into the answer it keeps: it needs every event parsed, so no
            # adapter may relay upstream frames as bytes (wire/raw_frames.py) for this request.
            context.raw_frames = False
            context.chat_form = None
        events, outcome = await self._dispatched(
            self.dispatcher.open_stream(request, context, routed.decision.targets), routed
        )
        provider = outcome.target.provider
        if self.reasoning is not None and request.tools and self._echoes(provider):
            events = self.reasoning.tap(events, request, provider, scope_of(context.key))
        if ticket is not None and ticket.plan is not None and self.response_cache is not None:
            events = self.response_cache.tap(ticket, events, outcome.target)
        return OpenStream(events, routed.served(outcome))

    async def count_tokens(
        self, request: MessagesRequest, context: RequestContext, meta: RequestMeta
    ) -> tuple[int, TokenCountSource]:
        """The input tokens of ``request`` and where the number comes from.

        ``upstream``: the target the request would be routed to counted it (its adapter has
        ``count_tokens`` and the preset says the upstream implements it: first-party Anthropic).
        ``estimate``: the local estimate, for every other target and whenever routing or the
        upstream fails or takes longer than ``COUNT_TOKENS_TIMEOUT`` (a count is never an error).
        """
        estimate = estimate_input_tokens(request)
        try:
            decision = await self.decide(request, meta, estimate)
        except AimuxError:
            return estimate, "estimate"
        target = decision.targets[0]
        counter = getattr(self.providers.get(target.provider), "count_tokens", None)
        if counter is None:
            return estimate, "estimate"
        try:
            async with asyncio.timeout(COUNT_TOKENS_TIMEOUT):
                counted = await counter(UpstreamCall(request, target.model, context))
        except (AimuxError, TimeoutError):
            return estimate, "estimate"
        return (counted, "upstream") if isinstance(counted, int) else (estimate, "estimate")

    async def drain(self) -> None:
        """Wait for the background state writes (breaker outcomes, token settlements, spend)."""
        if self.admission is not None:
            await self.admission.drain()
        if self.reasoning is not None:
            await self.reasoning.drain()
        if self.response_cache is not None:
            await self.response_cache.drain()
        drain_guard = getattr(self.guard, "drain", None)
        if drain_guard is not None:
            await drain_guard()
        await self.cooldowns.drain()
        if self.counters is not None:
            await self.counters.drain()

    def settle(self, served: Served, usage: Usage) -> float:
        """The answer's cost in USD; the caller's token and spend counters (and its budget hold, replaced
        by this cost) are updated in the background. Called once per served request; a response-cache hit
        costs 0 and touches nothing (admission never ran for it)."""
        if served.from_cache:
            return 0.0
        entry = served.target.entry
        price = entry.price if entry is not None else None
        if served.batch:
            price = batch_price(price)
        if self.admission is None:
            return cost_micro_usd(usage, price) / 1_000_000
        return self.admission.settle(served.admitted, usage, price) / 1_000_000

    async def _route(
        self, request: MessagesRequest, context: RequestContext, meta: RequestMeta, directive: Directive | None
    ) -> _Routed:
        """Route (with the route's token guards: ``routing/guarded.py``), check the route's allow-list, look
        the answer up in the response cache, then check the caller's key against the route (rate windows,
        budget). A cache hit (its ticket carries the answer) returns before admission: it holds and spends
        nothing. The route's prompt-caching settings and the input estimate go into ``context`` for the
        adapters."""
        view = await self.health_view()
        chosen = select_guarded(self.selector, request, meta, view, estimate_input_tokens(request))
        if not chosen.decision.targets:
            raise _unserved(chosen.decision)
        request, decision, estimate, removed = chosen.request, chosen.decision, chosen.estimate, chosen.removed
        key = context.key
        if key is not None:
            check_model(key, request.model, decision.route)
        ticket = await self._open_cache(request, context, decision, directive)
        if ticket is not None and ticket.answer is not None:
            return _Routed(request, decision, OPEN if key is None else Admitted(key), removed, ticket)
        try:
            request, stepped, admitted = await self._check_key(request, context, meta, decision, estimate)
        except BaseException:
            self._abandon(ticket)
            raise
        if stepped is not decision and self.response_cache is not None:
            self.response_cache.abandon(ticket, "step_down")  # answered by a cheaper route: not this request's
        decision = stepped
        route = self.table.routes.get(decision.route)
        if route is not None:
            context.prompt_caching, context.prompt_cache_ttl = route.prompt_caching, route.prompt_cache_ttl
        # the adapters' estimate of what they are sent (``providers/openai.py``): exact, so recomputed
        # only when the reasoning echo put thinking back into the history
        context.input_estimate = estimate if request is chosen.request else estimate_input_tokens(request)
        return _Routed(request, decision, admitted, removed, ticket)

    async def _open_cache(
        self, request: MessagesRequest, context: RequestContext, decision: Decision, directive: Directive | None
    ) -> CacheTicket | None:
        if self.response_cache is None:
            return None
        return await self.response_cache.open(
            request, context, decision, self.table, directive=directive, deadline=self.dispatcher.policy.deadline
        )

    async def _check_key(
        self, request: MessagesRequest, context: RequestContext, meta: RequestMeta, decision: Decision, estimate: int
    ) -> tuple[MessagesRequest, Decision, Admitted]:
        """Check the caller's key against the route (rate windows, budget; ``_route`` checked its
        allow-list), stepping down to the budget route when the budget says so.

        The request comes back with the reasoning echo targets need restored (``reasoning.py``);
        that one store read, when needed at all, runs alongside admission's calls.
        """
        key = context.key
        missing = self._missing_reasoning(request, decision)
        if key is None or self.admission is None:
            request = await self._restore(request, key, missing)
            return request, decision, (OPEN if key is None else Admitted(key))
        asked = request

        def worst_case(routed: Decision) -> Callable[[], int]:  # computed only for a key with a budget
            return lambda: request_worst_case(
                asked, estimate, routed.targets, cache_writes=self._writes_cache(asked, routed)
            )

        admit = self.admission.admit(key, decision.route, estimate, worst_case(decision), context.project)
        if missing is None:
            admitted = await admit
        else:
            admitted, request = await asyncio.gather(admit, self._restore(request, key, missing))
        step_down = admitted.budget
        if step_down.action == "step_down" and step_down.route:
            meta = replace(meta, route_override=step_down.route, route_note=step_down.note)
            cheaper = await self.decide(request, meta, estimate)
            admitted = await self.admission.step_down(admitted, worst_case(cheaper))
            decision = cheaper
            if missing is None:  # the cheaper route may hold an echo target the first one did not
                request = await self._restore(request, key, self._missing_reasoning(request, decision))
        return request, decision, admitted

    def _writes_cache(self, request: MessagesRequest, decision: Decision) -> bool:
        """Whether the answer may hold prompt-cache writes (billed above the input rate): the request
        asks for caching, or a target's adapter may place breakpoints (``providers/prompt_cache.py``)."""
        if uses_prompt_cache(request):
            return True
        # Asked only for keys with a budget, after the adapters loaded it: kept off the cold start.
        from .providers.prompt_cache import may_place_breakpoints

        route = self.table.routes.get(decision.route)
        presets = (getattr(self.providers.get(target.provider), "preset", None) for target in decision.targets)
        return may_place_breakpoints(route.prompt_caching if route is not None else None, presets)

    def _missing_reasoning(self, request: MessagesRequest, decision: Decision) -> Missing | None:
        """What the first target would miss when it is an echo provider (no I/O; None otherwise).

        Only the first target: a store read for every request of a route that merely lists an echo
        provider as a fallback would cost more than it saves (a conversation served elsewhere has no
        reasoning of that provider to restore anyway)."""
        if self.reasoning is None or not decision.targets or not self._echoes(decision.targets[0].provider):
            return None
        return missing_reasoning(request)

    def _echoes(self, provider: str) -> bool:
        """Whether ``provider`` needs its reasoning back in tool loops (preset ``reasoning: echo``)."""
        preset = getattr(self.providers.get(provider), "preset", None)
        return getattr(preset, "reasoning", None) == "echo"

    async def _restore(self, request: MessagesRequest, key: object, missing: Missing | None) -> MessagesRequest:
        if missing is None or self.reasoning is None:
            return request
        return await self.reasoning.restore(request, scope_of(key), missing)

    async def _dispatched(self, dispatch: Awaitable[T], routed: _Routed) -> T:
        """``dispatch``'s result; when it fails (or the caller's task is cancelled mid-call) the budget hold
        is given back, the response cache's lease too (its duplicates fall back at once), and an aimux error
        names the route it took."""
        try:
            return await dispatch
        except BaseException as error:
            self._release(routed.admitted)
            self._abandon(routed.ticket)
            if isinstance(error, AimuxError):
                error.headers.setdefault("x-aimux-route", routed.decision.header)
            raise

    def _release(self, admitted: Admitted) -> None:
        if self.admission is not None:
            self.admission.release(admitted)

    def _abandon(self, ticket: CacheTicket | None) -> None:
        if ticket is not None and self.response_cache is not None:
            self.response_cache.abandon(ticket)


def _served_from_cache(routed: _Routed, ticket: CacheTicket) -> Served:
    """A hit: the route's decision, the target that produced the stored answer, no attempts, no tokens
    sent anywhere (so none removed)."""
    assert ticket.target is not None
    return Served(routed.decision, Outcome(ticket.target, []), routed.admitted, cache=ticket.status)


def _unserved(decision: Decision) -> NotFound:
    """The 404 for a decision without targets (none can serve the request; targets that are only down
    stay in a decision), naming why each target was dropped."""
    reasons = "; ".join(f"{label}: {why}" for label, why in decision.dropped) or "no target configured"
    return NotFound(f"model: no configured target can serve this request ({reasons})", param="model")


def request_worst_case(
    request: MessagesRequest, estimate: int, targets: tuple[Target, ...], *, cache_writes: bool | None = None
) -> int:
    """The most the request can cost in micro-dollars on any of ``targets`` (failover may reach the
    dearest one): its input estimate and ``max_tokens`` at each target's prices. ``cache_writes``: whether
    input may be billed as cache writes (default: the request carries ``cache_control``)."""
    prices = {target.entry.price for target in targets if target.entry is not None and target.entry.price}
    if not prices:
        return 0
    if cache_writes is None:
        cache_writes = uses_prompt_cache(request)
    return max(worst_case_micro_usd(estimate, request.max_tokens, price, cache_writes=cache_writes) for price in prices)


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
    """Cooldowns kept in this process (a gateway built without a guard that shares them: tests, the mock),
    counted in this process's metrics like the fleet's."""
    return Cooldowns(SystemClock(), on_start=partial(on_cooldown, Emission()))
