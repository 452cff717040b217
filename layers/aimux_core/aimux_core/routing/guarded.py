"""Selection under the route's token guards (``limits/token_guards.py``).

A route's guards are known only once selection picked the route, and they change the request: tool
results and images capped make it smaller (so its size class and scenario may change, and selection
runs again on what is left), and a request no target of the route can hold is refused with a 400
naming the limit, or sent to the route ``context_overflow`` names. Routes without guards cost one
dictionary lookup more than plain selection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..accounting.tokens import estimate_input_tokens
from ..limits.token_guards import TokenGuards
from ..wire.anthropic import MessagesRequest
from .select import Decision, HealthView, RequestMeta, Selector


@dataclass(frozen=True, slots=True)
class GuardedSelection:
    """The request as the targets get it, its decision, its input estimate, and the tokens the guards
    removed (0: the request is the caller's, unchanged)."""

    request: MessagesRequest
    decision: Decision
    estimate: int
    removed: int = 0


def select_guarded(
    selector: Selector, request: MessagesRequest, meta: RequestMeta, view: HealthView, estimate: int
) -> GuardedSelection:
    """Select, then apply the chosen route's token guards; the decision may have no targets (the
    caller answers that as it answers plain selection). Raises ``ContextWindowExceeded`` for an
    overflow the route refuses, or that its overflow route cannot hold either."""
    decision = selector.select(request, meta, view, estimated_tokens=estimate)
    route = selector.table.routes.get(decision.route)
    guards = route.guards if route is not None else None
    if guards is None:
        return GuardedSelection(request, decision, estimate)
    removed = 0
    guarded = guards.apply(request)
    if guarded.request is not request:
        request, removed = guarded.request, guarded.removed
        estimate = estimate_input_tokens(request)
        decision = selector.select(request, meta, view, estimated_tokens=estimate)
    if guards.overflow and decision.overflowed:
        decision = _overflow(selector, request, meta, view, estimate, decision, guards)
    return GuardedSelection(request, decision, estimate, removed)


def _overflow(
    selector: Selector,
    request: MessagesRequest,
    meta: RequestMeta,
    view: HealthView,
    estimate: int,
    decision: Decision,
    guards: TokenGuards,
) -> Decision:
    """A request no target of its route can hold: the configured route, else a 400 naming the limit."""
    elsewhere = guards.overflow_route
    if elsewhere is not None:
        meta = replace(meta, route_override=elsewhere, route_note=f"context overflow of route {decision.route}")
        decision = selector.select(request, meta, view, estimated_tokens=estimate)
    if decision.overflowed:
        window = selector.table.routes[decision.route].context_window
        raise guards.overflow_error(decision.route, window, estimate)
    return decision
