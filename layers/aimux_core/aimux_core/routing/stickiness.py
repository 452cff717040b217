"""Session stickiness across the fleet: every turn of a session goes to the same target, on every instance.

Why: each switch of provider loses the provider's prompt cache (and the thinking signatures only the
first provider accepts). On Lambda every container routes on its own, so a per-process memory of
"where did this session go" scatters a session over a weighted or round-robin tier as soon as two
containers serve it. Stickiness here needs no memory and no state round trip.

How: rendezvous (highest random weight) hashing. Each target of a tier gets a score from a hash of
(session id, target key) that every process computes alike (BLAKE2b, not Python's salted ``hash``):
``u`` uniform in (0, 1), score ``-ln(u) / weight``: an exponential race where the target with the
lowest score wins with probability ``weight / sum(weights)``, so the tier's weighted share holds
across sessions. The tier is ordered by score, which is also its failover order.

When a session moves, and back:
- it moves only while its target is unavailable: dropped by selection (circuit open, read from the
  shared store, so fleet-wide), skipped by dispatch (cooling down after a ``retry-after``), or failing
  (the walk goes on to the next target of this same order). Every instance computes the same order, so
  a failed target's sessions spread over the others by weight and no other session moves;
- it comes back when its target recovers. There is nothing to forget: the order is a function of the
  session and the tier. Coming back is deliberate: the first target's cache is still warm after an
  outage shorter than its TTL, and a sticky-to-fallback rule would drift load away from the
  configured weights after every outage (and would need shared state to agree across instances).

Used by the ``weighted`` (by weight) and ``round_robin`` (equal weights) strategies when the request
has a session (``x-claude-code-session-id`` or ``metadata.user_id``); ``priority`` and ``cheapest``
orders are the same on every instance anyway, and ``lowest_latency`` and ``least_connections``
deliberately follow the fleet-shared latency and in-flight figures.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence

from .table import Target

_SCALE = float(1 << 64)


def _uniform(session: str, key: str) -> float:
    """A number in (0, 1), the same in every process for the same (session, target)."""
    digest = hashlib.blake2b(f"{session}\0{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


def sticky_score(session: str, target: Target, weight: float) -> float:
    """The target's score for the session (lower wins); weight 0 never wins while another can."""
    if weight <= 0:
        return math.inf
    return -math.log(_uniform(session, target.key)) / weight


def sticky_order(tier: Sequence[Target], session: str, weight: Callable[[Target], float]) -> list[Target]:
    """The tier's targets in the session's rendezvous order: first choice first, then its failovers."""
    scored = [(sticky_score(session, target, weight(target)), _uniform(session, target.key), target) for target in tier]
    scored.sort(key=lambda item: (item[0], item[1]))
    return [target for _, _, target in scored]
