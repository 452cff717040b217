"""What a finished request adds to the fleet-wide counters, after its answer: usage, and error answers.

``Exchange`` hands every request's ``RequestRecord`` here right after publishing it (metrics and log
line), for every way a request ends: served, streamed, refused or failed. Each becomes:

- one usage ``UpdateItem`` (``state/usage.py``): the request, its tokens, its cost in the micro-dollars
  the client was told (``record.micro_usd``), and whether it was an error, a client error, a fallback or
  refused by aimux's limits;
- for an error answer (status 400 and up), one more ``UpdateItem`` counting it in its minute
  (``state/request_errors.py``), with an excerpt of the message (redacted).

Both run in the background (``BackgroundWrites``): the client never waits, ``drain`` does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..state.background import BackgroundWrites
from .record import micro_usd

if TYPE_CHECKING:
    from ..state.request_errors import RequestErrors
    from ..state.usage import UsageCounters
    from .record import RequestRecord

log = logging.getLogger("aimux.usage")


def usage_counts(record: RequestRecord) -> dict[str, int]:
    """The usage counters one request adds (``state/usage.py`` ``COUNTERS``)."""
    return {
        "requests": 1,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cache_read_tokens": record.cache_read_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "cost_micro_usd": micro_usd(record.cost_usd),
        "errors": int(record.is_error),
        "client_errors": int(400 <= record.status < 500),
        "fallbacks": int(record.fell_back),
        "rate_limited": int(record.rate_limited),
    }


class FleetCounters:
    """Counts finished requests into the shared usage and error items (see the module docstring)."""

    def __init__(self, usage: UsageCounters, errors: RequestErrors | None = None) -> None:
        self.usage = usage
        self.errors = errors
        self._writes = BackgroundWrites(log)

    def count(self, record: RequestRecord, *, message: str | None = None) -> None:
        """Count ``record`` (``message``: the error answer's text, for the recent-errors excerpt)."""
        self._writes.later(
            self.usage.add(
                project=record.project,
                key_id=record.key_id,
                provider=record.provider,
                model=record.model,
                counts=usage_counts(record),
            ),
            f"usage counters of {record.request_id}",
        )
        if self.errors is not None and record.status >= 400:
            self._writes.later(
                self.errors.record(
                    status=record.status,
                    kind=record.error_kind or "api_error",
                    provider=record.provider,
                    message=message,
                    request_id=record.request_id,
                    key_id=record.key_id,
                ),
                f"error count of {record.request_id}",
            )

    async def drain(self) -> None:
        await self._writes.drain()
