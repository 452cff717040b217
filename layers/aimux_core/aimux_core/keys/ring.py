"""``KeyRing``: who is calling. Turns the key a request presents into its record, or a 401/403.

Round trips: none while a lookup is cached, else one strongly consistent read of ``key#<hash>``. A key's
project limits come from ``projects`` (``limits/project_directory.py``): while a key is read the directory is
loaded beside it when this process has no copy yet, so a cold caller with a project still costs one round
trip of latency here, and a warm one none.

Cache and revocation: what a hash resolved to (a record, or "unknown") is kept per process for
``cache_seconds`` (default 30). A key disabled, deleted or rotated by another process (the CLI, the
admin function, another Lambda) therefore keeps its old standing here for at most that long:
**revocation takes effect within ``cache_seconds``**. Changes made through this ring's process (the
admin routes of ``aimux serve``) refresh the cache at once. Set ``cache_seconds=0`` for immediate
revocation at the cost of a read per request.

Errors, for the surfaces to render in the caller's dialect (both are ``AimuxError``s):
  - no key, a key that is not an aimux key, or one no record exists for: ``AuthenticationFailed`` (401,
    ``authentication_error``; OpenAI ``invalid_request_error`` / ``invalid_api_key``);
  - a disabled key, or a model / route its allow-list excludes: ``PermissionDenied`` (403,
    ``permission_error``).
  ``KeyRing.authenticate`` lets ``StoreUnavailable`` through; ``authenticate_request`` turns it into a
  retryable 529 ``Overloaded`` (fail closed: an outage never lets unknown callers in).
"""

from __future__ import annotations

import hmac
import logging
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from ..errors import AuthenticationFailed, Overloaded, PermissionDenied
from ..settings import Settings
from ..state.backend import build_store
from ..state.clock import Clock, SystemClock
from ..state.store import Store, StoreUnavailable

if TYPE_CHECKING:
    from ..limits.project import Project
from ..limits.project_directory import ProjectDirectory
from .lookup import LookupCache
from .record import META_SK, ApiKeyRecord, hash_key, looks_like_key, record_pk

log = logging.getLogger("aimux.keys")

MISSING_KEY = "missing API key: send it as the x-api-key header or as Authorization: Bearer <key>"
INVALID_KEY = "invalid API key"
DISABLED_KEY = "this API key is disabled"


class KeyRing:
    """Authenticates presented keys against a ``Store``, with a short per-process lookup cache."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        cache_seconds: float = 30.0,
        *,
        max_cached_keys: int = 10_000,
        max_cached_unknown: int = 1_000,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.cache = LookupCache(self.clock, cache_seconds, max_known=max_cached_keys, max_unknown=max_cached_unknown)
        self.projects = ProjectDirectory(store, self.clock, cache_seconds)
        """Every project's limits, for the callers' keys that name one (same freshness as a key)."""

    @property
    def cache_seconds(self) -> float:
        return self.cache.ttl_seconds

    async def authenticate(self, presented: str | None) -> ApiKeyRecord:
        """The record of the key ``presented`` (the raw header value), or AuthenticationFailed / PermissionDenied."""
        if not presented:
            raise AuthenticationFailed(MISSING_KEY)
        if not looks_like_key(presented):
            raise AuthenticationFailed(INVALID_KEY)  # not ours: no store read for a foreign or garbled key
        digest = hash_key(presented)
        if not self.cache.peek(digest)[0]:
            self.projects.warm()  # the key is read now: read the project directory in the same round trip
        record = await self.cache.get(digest, lambda: self.read(digest))
        # The read was addressed by this hash already; comparing again in constant time keeps the
        # acceptance decision itself free of any early-exit timing on secret-derived data.
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            raise AuthenticationFailed(INVALID_KEY)
        if record.disabled:
            log.info("refused disabled API key %s", record.id)
            raise PermissionDenied(DISABLED_KEY)
        return record

    async def read(self, key_hash: str) -> ApiKeyRecord | None:
        """The record stored under ``key_hash``, fresh from the store (no cache)."""
        item = await self.store.get(record_pk(key_hash), META_SK)
        return ApiKeyRecord.from_item(item) if item is not None else None

    def remember(self, key_hash: str, record: ApiKeyRecord | None) -> None:
        """Record a change this process just wrote, so its own requests see it at once."""
        self.cache.put(key_hash, record)


def model_allowed(record: ApiKeyRecord, model: str) -> bool:
    """Whether the key's model allow-list admits ``model`` (``fnmatch`` globs, case-sensitive; empty: all)."""
    return not record.allowed_models or any(fnmatchcase(model, pattern) for pattern in record.allowed_models)


def check_model(record: ApiKeyRecord, model: str, route: str | None = None) -> None:
    """PermissionDenied (naming the model or route, never the key) unless the key's allow-lists admit them.

    Patterns are ``fnmatch`` globs matched case-sensitively (``claude-*``, ``gpt-4o?``); an empty list
    allows everything. ``route`` is checked only when given (routing decides it after authentication).
    """
    if not model_allowed(record, model):
        raise PermissionDenied(f"model {model!r} is not allowed for this API key", param="model")
    allowed_routes = record.allowed_routes
    if route is not None and allowed_routes and not any(fnmatchcase(route, p) for p in allowed_routes):
        raise PermissionDenied(f"route {route!r} is not allowed for this API key")


async def project_of(keys: KeyRing, record: ApiKeyRecord) -> Project | None:
    """The project whose limits apply to ``record``'s requests (None: no project, or one that is gone).

    Fails closed like the key lookup: a store outage on a cold directory is a retryable 529.
    """
    return await project_in(keys.projects, record)


async def project_in(directory: ProjectDirectory, record: ApiKeyRecord) -> Project | None:
    """``project_of`` from any ``ProjectDirectory`` (work off the request path keeps its own: ``jobs.runtime``)."""
    if not record.project:
        return None
    try:
        return await directory.get(record.project)
    except StoreUnavailable:
        log.warning("project lookup failed: the state store is unavailable")
        raise Overloaded("API key check temporarily unavailable; retry shortly", retry_after=1.0) from None


async def authenticate_request(
    keys: KeyRing | None, presented: str | None, model: str | None = None
) -> ApiKeyRecord | None:
    """What a client surface calls before routing: the caller's record, or None when auth is off (``keys`` None).

    ``presented`` is ``surfaces.http.api_key_of(request)``. Raises AuthenticationFailed (401) or
    PermissionDenied (403), which the surface renders in its dialect like any ``AimuxError``; a store
    outage becomes ``Overloaded`` (529 for Anthropic clients, 503 for OpenAI ones) with retry-after 1.
    """
    if keys is None:
        return None
    try:
        record = await keys.authenticate(presented)
    except StoreUnavailable:
        log.warning("API key lookup failed: the state store is unavailable")
        raise Overloaded("API key check temporarily unavailable; retry shortly", retry_after=1.0) from None
    if model is not None:
        check_model(record, model)
    return record


def build_keyring(settings: Settings, clock: Clock | None = None, *, store: Store | None = None) -> KeyRing:
    """The ``KeyRing`` of a process: ``store`` (the gateway's, so that one in-memory store holds a local
    process's keys and spend alike), else ``build_store``; lookups cached ``AIMUX_KEY_CACHE_SECONDS``."""
    return KeyRing(store if store is not None else build_store(settings, clock), clock, settings.key_cache_seconds)
