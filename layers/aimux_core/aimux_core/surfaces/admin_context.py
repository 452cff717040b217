"""What the admin routes work with: the gateway (built on first use), the key ring and its store, who may
call, and the settings. One object, handed to each ``add_*_routes`` of ``surfaces/admin_*.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from ..routing.guard import BreakerGuard
from ..state.request_errors import RequestErrors
from ..state.usage import UsageCounters
from .admin_identity import caller_identity

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..keys.ring import KeyRing
    from ..settings import Settings
    from .admin_access import AdminAccess


@dataclass(frozen=True, slots=True)
class AdminContext:
    gateway: Callable[[], Gateway]
    """The gateway (configuration, providers, breakers, health), built on first use."""
    keys: KeyRing
    """The keys ``/admin/keys`` manages; its store holds projects, usage and error counts too."""
    access: AdminAccess
    settings: Settings

    def usage(self) -> UsageCounters:
        return UsageCounters(self.keys.store, self.keys.clock, retention_days=self.settings.usage_retention_days)

    def request_errors(self) -> RequestErrors:
        return RequestErrors(self.keys.store, self.keys.clock)

    def breakers(self) -> BreakerGuard | None:
        """The gateway's breakers and health (under its provider caps, if any); None without them."""
        guard = self.gateway().guard
        guard = getattr(guard, "inner", guard)
        return guard if isinstance(guard, BreakerGuard) else None

    def who(self, request: Request) -> str:
        """Who is making this admin call (for the log line of a change)."""
        return caller_identity(request, token_required=self.access.token_required)
