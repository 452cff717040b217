"""Selection: request + routing table + health snapshot → ordered targets and the reason why.

A pure function apart from the injected randomness and rotation counters:

1. Explicit choice: ``provider/model`` as the model, or a provider named by the path
   (``/v1/{provider}/messages``), the ``x-aimux-provider`` header or the body's ``backend``.
   An explicit choice is honoured alone: no silent substitution.
2. Aliases (glob patterns on the client's model name, e.g. ``claude-sonnet-*``) name a route or a
   model; a catalog model id names itself (first, with its route as fallback); unknown names use
   the default route.
3. Classification (``classify``) picks the scenario; a route configured for that scenario replaces
   the alias's route.
4. Capability filter: targets that cannot see images, call tools or hold the request are dropped,
   each with the reason recorded.
5. Strategy orders each tier; tiers stay in order. With ``session_pinning`` a request with a session
   is ordered by its session under ``weighted`` and ``round_robin`` (``stickiness``): the same target
   on every instance, so prompt caches stay warm and thinking signatures stay valid.
6. Health: targets that are down (circuit open, or cooling down after a rate limit, an overload, an
   exhausted quota or a refused key) move behind the others, soonest to recover first, and are noted
   in ``Decision.down``. They stay in the list as a last resort: dispatch skips them while another
   target can serve and falls back on them when none can (``routing.dispatch``), so a request is never
   refused only because its targets looked busy a moment ago. A session whose target is down thus goes
   to its own next choice, and back when the target is up again.

A budget step-down (``RequestMeta.route_override``) replaces steps 2-3 with the cheaper route.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import NotFound
from ..wire.anthropic import MessagesRequest
from .classify import Classification, classify
from .strategies import STICKY_STRATEGIES, OrderingContext, RoundRobin, order_tier
from .table import Route, RoutingTable, Target


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Routing inputs from outside the body."""

    explicit_provider: str | None = None
    session_id: str | None = None
    route_override: str | None = None  # a budget step-down: this route, whatever the scenario
    route_note: str | None = None  # why, for ``x-aimux-route``


@dataclass(frozen=True, slots=True)
class Resting:
    """Why a target is down now, and in how many seconds it may serve again (None: unknown)."""

    why: str
    recovers_in: float | None = None


_OPEN = Resting("circuit open")
TOO_SMALL = "context window"  # how a target whose context window cannot hold the request is dropped


@dataclass(frozen=True, slots=True)
class HealthView:
    """What selection needs from health: targets that are down (``resting`` by target key, or
    ``open_circuits`` by target or provider key), recent latencies, and requests in flight per provider."""

    open_circuits: frozenset[str] = frozenset()
    latencies_ms: Mapping[str, float] = field(default_factory=dict)
    resting: Mapping[str, Resting] = field(default_factory=dict)
    inflight: Mapping[str, int] = field(default_factory=dict)

    def down(self, target: Target) -> Resting | None:
        found = self.resting.get(target.key)
        if found is None and (target.key in self.open_circuits or target.provider in self.open_circuits):
            return _OPEN
        return found

    def latency(self, key: str) -> float | None:
        return self.latencies_ms.get(key)

    def in_flight(self, provider: str) -> int | None:
        return self.inflight.get(provider)


@dataclass(frozen=True, slots=True)
class Decision:
    """The ordered targets and what chose them.

    ``scenario`` is the request's classification; ``decided_by`` is ``"scenario"`` when that
    scenario's route was used, else what chose the route in words (``explicit provider x``,
    ``model m``, ``alias p->d``, a budget step-down note, ``default route``).
    """

    targets: tuple[Target, ...]
    scenario: str
    route: str
    reason: str
    dropped: tuple[tuple[str, str], ...] = ()
    classification: Classification | None = None
    decided_by: str = "scenario"
    down: tuple[tuple[str, str], ...] = ()  # targets kept last because they are down, and why

    @property
    def chosen_by(self) -> str:
        """``explicit`` for an explicit choice, the scenario when its route was used, else ``default``."""
        if self.route == "explicit":
            return "explicit"
        return self.scenario if self.decided_by == "scenario" else "default"

    @property
    def header(self) -> str:
        """The ``x-aimux-route`` value: what chose the route (``chosen_by``), the route and why."""
        return f"{self.chosen_by}; route={self.route}; {self.reason}"

    @property
    def overflowed(self) -> bool:
        """No target left, and some were dropped for being too small (the others could not serve the
        request either: no vision, no tools). Targets that are only down are never dropped."""
        return not self.targets and any(why.startswith(TOO_SMALL) for _, why in self.dropped)


@dataclass(slots=True)
class Selector:
    """Holds the per-process mutable helpers (randomness, rotation) around the pure steps."""

    table: RoutingTable
    rng: random.Random = field(default_factory=random.Random)
    rotation: RoundRobin = field(default_factory=RoundRobin)

    def select(
        self, request: MessagesRequest, meta: RequestMeta, health: HealthView, *, estimated_tokens: int
    ) -> Decision:
        table = self.table
        threshold = table.long_context_threshold
        found = classify(request, estimated_tokens=estimated_tokens, long_context_threshold=threshold)
        explicit = _explicit_targets(request.model, meta.explicit_provider, table)
        if explicit is not None:
            chosen, why = explicit
            return Decision(tuple(chosen), found.scenario, "explicit", why, (), found, f"explicit {why}")

        if meta.route_override is not None and meta.route_override in table.routes:
            head: list[Target] = []
            route = table.routes[meta.route_override]
            reason = f"{meta.route_note or 'route override'}; {found.reason}"
            decided_by = meta.route_note or "route override"
        else:
            head, route, reason, decided_by = _base_route(request.model, found, table)
        strategy = route.strategy or table.strategy
        sticky = bool(table.session_pinning and meta.session_id) and strategy in STICKY_STRATEGIES
        ctx = OrderingContext(
            input_tokens=estimated_tokens,
            output_tokens=request.max_tokens,
            latency_ms=health.latency,
            rng=self.rng,
            rotation=self.rotation,
            inflight=health.in_flight,
            session=meta.session_id if sticky else None,
        )
        ordered: list[Target] = list(head)
        for tier in route.tiers:
            ordered += order_tier(tier, strategy, ctx)
        unique = list(dict.fromkeys(ordered))
        kept, dropped = _filter(unique, found, request.max_tokens)
        up, down = _by_health(kept, health)
        if sticky and any(len(tier) > 1 for tier in route.tiers):
            reason += "; session sticky"
        if down and not up:
            reason += "; all targets down"
        targets = tuple(up) + tuple(target for target, _ in down)
        notes = tuple((target.label, resting.why) for target, resting in down)
        return Decision(targets, found.scenario, route.name, reason, tuple(dropped), found, decided_by, notes)


def _explicit_targets(model: str, provider: str | None, table: RoutingTable) -> tuple[list[Target], str] | None:
    if provider:
        if provider not in table.providers:
            raise NotFound(f"provider {provider!r} is not configured", param="provider")
        entry = table.catalog.get(model)
        if entry is not None and entry.provider == provider:
            return [Target(provider, entry.upstream_model, entry)], f"provider {provider}"
        known = table.provider_models.get(provider, ())
        upstream = known[0] if known else Target(provider, model)
        return [upstream], f"provider {provider}"
    name, slash, upstream_model = model.partition("/")
    if slash and upstream_model and name in table.providers:
        entry = next((t.entry for t in table.provider_models.get(name, ()) if t.model == upstream_model), None)
        return [Target(name, upstream_model, entry)], f"model {model}"
    return None


def _base_route(model: str, found: Classification, table: RoutingTable) -> tuple[list[Target], Route, str, str]:
    """Targets named by the model itself, the route to use, why, and what decided (``scenario`` when
    the scenario's route is used, else the model, the alias or ``default route``)."""
    head: list[Target] = []
    route_name = "default"
    reason = f"{found.reason}"
    decided_by = "scenario" if found.scenario == "default" else "default route"
    direct = table.target_for(model)
    if direct is not None:
        head, reason, decided_by = [direct], f"model {model}; {reason}", f"model {model}"
    else:
        for pattern, destination in table.aliases:
            if fnmatch.fnmatchcase(model, pattern):
                aliased = table.target_for(destination)
                if aliased is not None:
                    head = [aliased]
                elif destination in table.routes:
                    route_name = destination
                reason = f"alias {pattern}->{destination}; {reason}"
                decided_by = f"alias {pattern}->{destination}" if head or route_name != "default" else decided_by
                break
    if found.scenario != "default" and found.scenario in table.routes and not head:
        route_name, decided_by = found.scenario, "scenario"
    route = table.routes.get(route_name) or table.routes["default"]
    return head, route, reason, decided_by


def _filter(
    targets: list[Target], found: Classification, max_tokens: int
) -> tuple[list[Target], list[tuple[str, str]]]:
    kept: list[Target] = []
    dropped: list[tuple[str, str]] = []
    for target in targets:
        why = _unfit(target, found, max_tokens)
        if why is None:
            kept.append(target)
        else:
            dropped.append((target.label, why))
    return kept, dropped


def _unfit(target: Target, found: Classification, max_tokens: int) -> str | None:
    """Why ``target`` can never serve the request, if it cannot. Capabilities come before health: a
    lasting reason says more than a passing one, and "down" then means "would serve, but not now"."""
    entry = target.entry
    if entry is not None:
        if found.needs_vision and "vision" not in entry.capabilities:
            return "no vision"
        if found.needs_tools and "tools" not in entry.capabilities:
            return "no tools"
        if found.estimated_tokens > entry.context_window:
            return f"{TOO_SMALL} {entry.context_window} < ~{found.estimated_tokens} tokens"
    return None


def _by_health(targets: list[Target], health: HealthView) -> tuple[list[Target], list[tuple[Target, Resting]]]:
    """The targets that are up (in order), and those that are down, soonest to recover first."""
    up: list[Target] = []
    down: list[tuple[Target, Resting]] = []
    for target in targets:
        resting = health.down(target)
        if resting is None:
            up.append(target)
        else:
            down.append((target, resting))
    inf = float("inf")
    down.sort(key=lambda pair: inf if pair[1].recovers_in is None else pair[1].recovers_in)  # stable
    return up, down
