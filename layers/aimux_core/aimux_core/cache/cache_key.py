"""The name of a request's entry: a SHA-256 of everything that decides the answer, and nothing else.

What goes in:

- the canonical request: the typed ``MessagesRequest`` (after translation for OpenAI clients) serialised
  by pydantic with the fields the client sent, in the model's field order, without ``stream`` (a stream
  and a buffered answer are the same answer, encoded twice) and ``metadata`` (an end-user id, never seen
  by the model). Free-form objects inside it (tool schemas, tool inputs, unknown fields) keep the
  client's key order: a client sends the same request the same way, and sorting every key of a 50 KB
  Claude Code turn would cost more CPU than the rest of a cache hit (``bench/README.md``);
- ``anthropic-version`` and the ``anthropic-beta`` flags (they change what the upstream does);
- the route the request was routed to (and, for an explicit ``provider/model`` or provider choice, its
  targets): the same body sent to another route asks another model;
- the namespace (``policy.py``): entries of one project are never named by another's requests.

The target that served is not in the digest: any target of the route may have answered (failover), and
the entry records which one (``entry.py``), so a lookup knows before routing picks a target, and a stored
answer whose target left the route is not served.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..providers.base import RequestContext
    from ..routing.select import Decision
    from ..wire.anthropic import MessagesRequest

IGNORED_FIELDS: set[str] = {"stream", "metadata"}  # never changed: a set only because pydantic types it so


def canonical_document(request: MessagesRequest, context: RequestContext, decision: Decision, namespace: str) -> bytes:
    """The bytes the digest is taken of: a sorted JSON line of the context, then the request's JSON."""
    explicit = [target.key for target in decision.targets] if decision.route == "explicit" else None
    context_line = {
        "namespace": namespace,
        "route": decision.route,
        "explicit": explicit,
        "anthropic_version": context.anthropic_version,
        "betas": sorted(set(context.betas)),
    }
    head = json.dumps(context_line, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    body = request.model_dump_json(exclude_unset=True, exclude=IGNORED_FIELDS).encode("utf-8")
    return head + b"\n" + body


def request_digest(request: MessagesRequest, context: RequestContext, decision: Decision, namespace: str) -> str:
    """64 hex digits naming the request's entry."""
    return hashlib.sha256(canonical_document(request, context, decision, namespace)).hexdigest()
