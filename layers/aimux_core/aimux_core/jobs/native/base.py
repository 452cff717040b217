"""What a provider's batch API offers aimux, and the HTTP calls the implementations share.

A ``NativeBatches`` submits requests already built for its upstream (``custom_id`` -> ``UpstreamCall``),
reports whether the batch ``ended``, returns one ``Result`` per ``custom_id`` (a canonical ``Message``, an
``AimuxError``, or ``canceled`` / ``expired``) and cancels. HTTP failures become ``UpstreamError``s via
``translate/upstream_errors.py`` (the key is never part of one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from ...errors import AimuxError, InvalidRequest, UpstreamError
from ...providers.base import UpstreamCall
from ...providers.transport import shared_client
from ...translate.upstream_errors import connection_error, malformed_answer, upstream_error
from ...wire.anthropic import Message

Result = Message | AimuxError | str  # str: "canceled" or "expired"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class NativeBatches(Protocol):
    provider: str

    async def submit(self, calls: Sequence[tuple[str, UpstreamCall]]) -> str: ...

    async def ended(self, upstream_id: str) -> bool: ...

    async def results(self, upstream_id: str, models: Mapping[str, tuple[str, list[str]]]) -> dict[str, Result]:
        """Each ``custom_id``'s result; ``models`` gives each request's client model and tool names."""
        ...

    async def cancel(self, upstream_id: str) -> None: ...


def result_error(provider: str, kind: str, message: str) -> AimuxError:
    """A request's error as the provider's batch reported it, as the live error of that kind would be."""
    if kind == "invalid_request_error":
        return InvalidRequest(message)
    status = {"rate_limit_error": 429, "overloaded_error": 529, "timeout_error": 504, "not_found_error": 404}
    return UpstreamError(
        f"upstream {provider}: {message}",
        provider=provider,
        retryable=False,
        status=status.get(kind, 500),
        kind=kind if kind in status else "api_error",
    )


async def call(
    provider: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    json_body: Any = None,
    files: Any = None,
    data: Any = None,
) -> httpx.Response:
    """One call to a provider's batch or files API; ``UpstreamError`` for transport failures and 4xx/5xx."""
    client = shared_client()
    try:
        response = await client.request(
            method, url, headers=dict(headers), json=json_body, files=files, data=data, timeout=TIMEOUT
        )
    except httpx.HTTPError as exc:
        raise connection_error(provider, f"batch API call failed ({type(exc).__name__})") from None
    if response.status_code >= 400:
        raise upstream_error(provider, response.status_code, response.headers, response.content)
    return response


def json_of(provider: str, response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise malformed_answer(provider, "batch API answered with a body that is not a JSON object")
    return data
