"""Which requests the response cache may answer, and whose entries they see.

Per request, in this order:

1. ``x-aimux-cache: off`` from the client: bypassed (reason ``client_off``).
2. The rule: the ``response_cache`` section's own fields, overridden by the rule of the request's
   route, then of its key's project, then of its key (``config/response_cache.py``).
3. Mode ``off``: not cached, unless the client sent ``x-aimux-cache: use`` (or ``refresh``) and
   ``client_opt_in`` allows it (then it is ``use``; refused opt-ins are bypassed, reason ``opt_in_off``).
   A request that neither asked nor is configured is not considered at all (no header).
4. Sampling: a request samples unless ``temperature`` is 0 or ``top_k`` is 1. Anthropic's and OpenAI's
   default temperature is 1, so a request without ``temperature`` samples, and so does every request with
   extended thinking (which requires temperature 1). A sampling request cached by configuration alone is
   bypassed (reason ``sampling``) unless the rule says ``sampling: true``: its client expects the answers
   to vary, and nobody asked otherwise. A request whose client sent ``x-aimux-cache: use`` (or
   ``refresh``) is cached whatever it samples: the client itself asked for a repeatable answer. (It must
   be so for Anthropic clients on ``anthropic-version: 2026-10-21``, the default of the SDK majors since
   then: that version refuses ``temperature``, ``top_p`` and ``top_k``, so such a client cannot send a
   deterministic request at all.)
5. Namespace: ``shared`` for mode ``shared``; else the key's project, else the key itself, else (auth
   off) one anonymous namespace. It is part of the entry's digest, so a key never reads another
   project's entries, and an entry is never looked up across namespaces.

``refresh`` skips the lookup (and dedup) but stores the fresh answer: a client's way to replace an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import InvalidRequest

if TYPE_CHECKING:
    from ..config.response_cache import CacheRule, ResponseCacheConfig
    from ..wire.anthropic import MessagesRequest

Directive = Literal["use", "off", "refresh"]
DIRECTIVES: tuple[Directive, ...] = ("use", "off", "refresh")
HEADER = "x-aimux-cache"
SHARED = "shared"
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class CachePlan:
    """How one request uses the cache: its namespace, the entry's life, and whether to look up and dedup."""

    namespace: str
    ttl_seconds: int
    dedup: bool
    lookup: bool = True


@dataclass(frozen=True, slots=True)
class Bypass:
    """The cache was considered and not used, and why (``x-aimux-cache-reason``, the log line)."""

    reason: str


def parse_directive(value: str | None) -> Directive | None:
    """The client's ``x-aimux-cache`` request header, or a 400 naming the allowed values."""
    if value is None:
        return None
    wanted = value.strip().lower()
    for directive in DIRECTIVES:
        if wanted == directive:
            return directive
    raise InvalidRequest(f"{HEADER}: must be one of {', '.join(DIRECTIVES)}", param=HEADER)


def samples(request: MessagesRequest) -> bool:
    """Whether the answer is drawn at random: anything but temperature 0 or top_k 1 (see the module docstring)."""
    return not (request.temperature == 0 or request.top_k == 1)


class CachePolicy:
    """The ``response_cache`` section applied to requests (see the module docstring)."""

    def __init__(self, config: ResponseCacheConfig) -> None:
        self.config = config

    def plan(
        self, request: MessagesRequest, route: str, key: object, directive: Directive | None
    ) -> CachePlan | Bypass | None:
        """The plan for one request, a ``Bypass`` with its reason, or None when the cache is not involved.

        ``key`` is the caller's ``ApiKeyRecord`` (None with auth off); only its ``id`` and ``project`` are read.
        """
        if directive == "off":
            return Bypass("client_off")
        key_id: str | None = getattr(key, "id", None)
        project: str | None = getattr(key, "project", None)
        mode, ttl, sampling, dedup = self._rule(route, project, key_id)
        if mode == "off":
            if directive is None:
                return None
            if not self.config.client_opt_in:
                return Bypass("opt_in_off")
            mode = "use"
        if not sampling and directive is None and samples(request):
            return Bypass("sampling")
        if mode == SHARED:
            namespace = SHARED
        elif project:
            namespace = f"project:{project}"
        elif key_id:
            namespace = f"key:{key_id}"
        else:
            namespace = ANONYMOUS
        lookup = directive != "refresh"
        return CachePlan(namespace, ttl, dedup=dedup and lookup, lookup=lookup)

    def _rule(self, route: str, project: str | None, key_id: str | None) -> tuple[str, int, bool, bool]:
        section = self.config
        mode, ttl, sampling, dedup = section.mode, section.ttl_seconds, section.sampling, section.dedup
        rules: list[CacheRule | None] = [
            section.routes.get(route),
            section.projects.get(project) if project else None,
            section.keys.get(key_id) if key_id else None,
        ]
        for rule in rules:
            if rule is None:
                continue
            mode = rule.mode if rule.mode is not None else mode
            ttl = rule.ttl_seconds if rule.ttl_seconds is not None else ttl
            sampling = rule.sampling if rule.sampling is not None else sampling
            dedup = rule.dedup if rule.dedup is not None else dedup
        return mode, ttl, sampling, dedup
