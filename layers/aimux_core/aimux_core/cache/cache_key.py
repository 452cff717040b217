"""The name of a request's entry: a SHA-256 of everything that decides the answer, and nothing else.

What goes in, as one canonical JSON document (keys sorted, compact, UTF-8):

- the canonical request (``MessagesRequest.dump()``: the fields the client sent, after translation for
  OpenAI clients) without ``stream`` (a stream and a buffered answer are the same answer, encoded twice)
  and ``metadata`` (an end-user id, never seen by the model);
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

IGNORED_FIELDS = ("stream", "metadata")


def canonical_document(
    request: MessagesRequest, context: RequestContext, decision: Decision, namespace: str
) -> str:
    """The canonical JSON text the digest is taken of (see the module docstring)."""
    body = request.dump()
    for name in IGNORED_FIELDS:
        body.pop(name, None)
    explicit = [target.key for target in decision.targets] if decision.route == "explicit" else None
    document = {
        "namespace": namespace,
        "route": decision.route,
        "explicit": explicit,
        "anthropic_version": context.anthropic_version,
        "betas": sorted(set(context.betas)),
        "request": body,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_digest(request: MessagesRequest, context: RequestContext, decision: Decision, namespace: str) -> str:
    """64 hex digits naming the request's entry."""
    text = canonical_document(request, context, decision, namespace)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
