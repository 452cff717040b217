"""``GET /admin/health`` and ``POST /admin/breakers/{provider}/{action}``: the fleet's providers, and a
hand on their circuit breakers.

Health is ``reports/health.py`` over the shared state. Breaker actions go through ``state/breaker.py``
(compare-and-set on the record, so they are exact against every instance's own transitions):

    open    open it and hold it open, without probes, until an operator closes or resets it
    close   close it now if it is open or half-open (a closed one is left as it is)
    reset   close it and clear its counts (consecutive failures; the window restarts)

With per-model breakers (``breaker.scope: model``) the action applies to each model of the provider.
Each change is logged (``aimux.admin``, WARNING) with who made it, and kept in the record
(``changed_by``). Other instances see it within their breaker cache time (2 s).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from ..errors import AimuxError, InvalidRequest, NotFound
from ..reports.health import health_report
from ..reports.params import whole
from ..routing.table import Target
from .admin_context import AdminContext

log = logging.getLogger("aimux.admin")

ACTIONS = ("open", "close", "reset")
MAX_MINUTES = 24 * 60


class NoBreakers(AimuxError):
    status = 409
    kind = "invalid_request_error"


def add_health_routes(app: FastAPI, context: AdminContext) -> None:
    router = APIRouter(prefix="/admin", tags=["health"])

    @router.get("/health")
    async def health(minutes: str | None = None) -> dict[str, Any]:
        """Every provider and model: state, breaker, cooldown, success rate, latency and TTFT percentiles
        over the last ``minutes`` (default 15, at most 1440), and the last errors."""
        window = whole(minutes, "minutes", default=15, low=1, high=MAX_MINUTES)
        gateway = context.gateway()
        local = gateway.cooldowns.live(target.key for target in gateway.targets)
        return await health_report(context.breakers(), gateway.targets, gateway.providers, window, local)

    @router.post("/breakers/{provider}/{action}")
    async def breaker(provider: str, action: str, request: Request) -> dict[str, Any]:
        """Open (and hold open), close or reset ``provider``'s circuit breaker; logged with who did it."""
        if action not in ACTIONS:
            raise InvalidRequest(f"action: {action[:40]!r} is not one of {', '.join(ACTIONS)}", param="action")
        gateway = context.gateway()
        if provider not in gateway.providers:
            raise NotFound(f"provider: {provider[:100]!r} is not configured", param="provider")
        guard = context.breakers()
        if guard is None:
            raise NoBreakers("this gateway has no circuit breakers (it was built without state)")
        by = context.who(request)
        targets = [t for t in gateway.targets if t.provider == provider] or [Target(provider, "")]
        keys = {guard.breaker_key(t): t for t in targets} if guard.scope == "model" else {provider: targets[0]}

        async def apply(key: str, target: Target) -> None:
            breaker = guard.breaker_for(target)
            change = {"open": breaker.hold_open, "close": breaker.close, "reset": breaker.reset}[action]
            await change(key, by)

        await asyncio.gather(*(apply(key, target) for key, target in keys.items()))
        log.warning("admin: breaker %s %s by %s", provider, action, by)
        report = await health_report(guard, targets, [provider], 1)
        return {"provider": provider, "action": action, "breaker": report["providers"][0]["breaker"], "by": by}

    app.include_router(router)
