"""How work off the request path is accounted: exactly like a live answer.

A batch request or an async job is settled (spend, token windows), counted (metrics) and logged as the
live path does it, by ``surfaces.exchange.Exchange`` without an HTTP request. ``jobs/`` sits below the
surfaces, so whoever builds a ``Jobs`` hands it ``Ledgers`` (the surfaces and the composition root pass
``surfaces.exchange.off_path_exchanges``) instead of this package importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..accounting.record import RequestRecord, Surface
    from ..errors import AimuxError
    from ..gateway import Gateway, Served
    from ..keys.record import ApiKeyRecord
    from ..limits.project import Project
    from ..wire.anthropic import Usage


class Ledger(Protocol):
    """The accounting of one request run off the request path (one per attempt)."""

    key: ApiKeyRecord | None
    project: Project | None
    client_model: str | None

    def check_model(self, model: str) -> None:
        """403 (``PermissionDenied``) unless ``key`` may use ``model``."""
        ...

    def settled(self, gateway: Gateway, served: Served, usage: Usage) -> RequestRecord:
        """Settle an answer's cost and publish its record."""
        ...

    def failed(self, error: AimuxError) -> None:
        """Publish the record of an error answer."""
        ...


Ledgers = Callable[["Surface", str], Ledger]
"""A new ``Ledger`` for a request of this dialect and id."""
