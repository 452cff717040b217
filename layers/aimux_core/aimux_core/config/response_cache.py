"""The ``response_cache`` section: which requests may be answered from a stored answer, and for how long.

    response_cache:
      mode: off              # off | use | shared: the default for every request
      ttl_seconds: 3600      # how long a stored answer is served
      sampling: false        # also cache requests that sample (temperature unset or > 0)
      dedup: true            # identical requests in flight wait for the first one's answer
      client_opt_in: true    # a request may ask with ``x-aimux-cache: use`` where the mode is off
      lease_seconds: 10      # how long a running request holds its dedup lease between renewals
      max_wait_seconds: 120  # the longest a duplicate waits before calling the upstream itself
      routes:   {evals: {mode: use, ttl_seconds: 86400}}
      projects: {ci: {mode: shared}}
      keys:     {key_0123456789ab: {mode: off}}

A rule under ``routes``, ``projects`` or ``keys`` overrides the fields it sets; the most specific wins
(key, then project, then route, then the section's own fields). ``use`` keeps a project's entries to
its keys (a key without a project: to itself); ``shared`` shares one namespace between every request
whose rule says ``shared``. What the modes mean at run time is in ``cache/policy.py``; the names rules use
are checked in ``checks.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PositiveFloat

from .sections import Section


def _yaml_off(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``off`` as false: ``mode: off`` means the mode ``off``."""
    return "off" if value is False else value


CacheMode = Annotated[Literal["off", "use", "shared"], BeforeValidator(_yaml_off)]
MAX_TTL_SECONDS = 30 * 24 * 3600  # a month: an exact-match answer older than that is a liability


class CacheRule(Section):
    """A route's, project's or key's cache settings; fields left out come from the section's own."""

    mode: CacheMode | None = None
    """``off``: not cached (a request may still opt in); ``use``: cached per project (or key);
    ``shared``: cached in one namespace shared by every request whose rule says ``shared``."""
    ttl_seconds: int | None = Field(None, ge=1, le=MAX_TTL_SECONDS)
    """Seconds a stored answer is served."""
    sampling: bool | None = None
    """Cache requests that sample too (temperature unset or above 0): their answers vary by design."""
    dedup: bool | None = None
    """Identical requests that arrive while the first runs wait for its answer."""


class ResponseCacheConfig(Section):
    """The exact-match response cache and in-flight dedup (README "Spending less")."""

    mode: CacheMode = "off"
    """The mode of a request no rule below names."""
    ttl_seconds: int = Field(3600, ge=1, le=MAX_TTL_SECONDS)
    """Seconds a stored answer is served."""
    sampling: bool = False
    """Cache requests that sample too (temperature unset or above 0)."""
    dedup: bool = True
    """Identical requests that arrive while the first runs wait for its answer instead of calling the upstream."""
    client_opt_in: bool = True
    """Honour ``x-aimux-cache: use`` (and ``refresh``) on requests whose mode is ``off``."""
    lease_seconds: float = Field(10.0, ge=1, le=300)
    """Lifetime of a running request's dedup lease; renewed every third of it while the request runs, so a
    request whose instance died is given up on within this long."""
    max_wait_seconds: PositiveFloat = 120.0
    """The longest a duplicate waits for the first request (also at most half the retry deadline)
    before calling the upstream itself."""
    routes: dict[str, CacheRule] = Field(default_factory=dict)
    """Rules by route name (a scenario or a custom route)."""
    projects: dict[str, CacheRule] = Field(default_factory=dict)
    """Rules by the ``project`` of the caller's key."""
    keys: dict[str, CacheRule] = Field(default_factory=dict)
    """Rules by key id (``key_`` + 12 hex, as ``aimux keys list`` shows it)."""
