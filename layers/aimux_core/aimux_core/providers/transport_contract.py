"""What an upstream call promises whichever client moves its bytes: ``Timeouts``, ``Reply``, the failures.

``transport.HttpTransport`` has two paths, httpx (an explicit client, or ``AIMUX_UPSTREAM_TRANSPORT=httpx``)
and aiohttp without httpx (``aiohttp_session``). Both time out by the same ``Timeouts`` and turn each
failure into the same ``UpstreamError`` through the constructors here, so a caller (and failover) cannot
tell which path served: same kind, status and message for the same fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from .. import __version__
from ..errors import UpstreamError
from ..translate.upstream_errors import connection_error, timeout_error

USER_AGENT = f"aimux/{__version__}"
"""What every upstream call says it is, on both paths (an upstream's operator sees which gateway calls)."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The waits of an upstream call (what each bounds: ``transport``'s docstring)."""

    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 120.0
    total: float = 900.0
    min_output_rate: float | None = 10.0  # output tokens/s a buffered answer may be generated at, at worst

    def headers_within(self, output_tokens: int | None) -> float:
        """Seconds a buffered call waits for the answer's headers (see ``transport``'s docstring)."""
        wait = self.first_byte
        if output_tokens and self.min_output_rate:
            wait += output_tokens / self.min_output_rate
        return min(wait, self.total)


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete non-streaming answer (2xx only; errors raise). ``headers`` is case-insensitive
    (``httpx.Headers`` or aiohttp's ``CIMultiDictProxy``): look names up in lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


async def read_all(provider: str, idle: float, pieces: AsyncIterator[bytes]) -> bytes:
    """A buffered answer's (decoded) body, each piece within ``idle`` of the one before."""
    chunks: list[bytes] = []
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await anext(pieces, None)
        except TimeoutError:
            raise silent(provider, idle) from None
        if chunk is None:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if chunk:
            chunks.append(chunk)


# The one wording of each failure (both paths; tests and operators match on these messages).


def no_headers(provider: str, seconds: float) -> UpstreamError:
    return timeout_error(provider, f"no answer headers within {seconds:g}s")


def no_complete_answer(provider: str, t: Timeouts) -> UpstreamError:
    return timeout_error(provider, f"no complete answer within {t.total:g}s")


def no_first_byte(provider: str, t: Timeouts) -> UpstreamError:
    return timeout_error(provider, f"no first byte within {t.first_byte:g}s")


def past_total(provider: str, t: Timeouts) -> UpstreamError:
    return timeout_error(provider, f"stream exceeded the {t.total:g}s total deadline")


def silent(provider: str, idle: float) -> UpstreamError:
    return timeout_error(provider, f"no data for {idle:g}s")


def connect_timed_out(provider: str, t: Timeouts) -> UpstreamError:
    return timeout_error(provider, f"connect timed out after {t.connect:g}s")


def connection_failed(provider: str) -> UpstreamError:
    """Refused, unresolvable, TLS handshake or certificate: nothing was sent."""
    return connection_error(provider, "connection failed")


def timed_out(provider: str) -> UpstreamError:
    return timeout_error(provider, "timed out")


def connection_broken(provider: str, fault: str) -> UpstreamError:
    """The connection broke after it was made; ``fault`` names the class of fault as httpx does
    (``RemoteProtocolError``: closed early, cut short, malformed answer; ``ReadError``: reset...)."""
    return connection_error(provider, f"connection broken ({fault})")
