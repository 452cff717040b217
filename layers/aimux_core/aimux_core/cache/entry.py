"""One request's entry in the state store: a running request's lease, then its stored answer.

    pk ``rcache#<digest>``  (``cache_key.request_digest``: 64 hex)   sk ``entry``

    lease   leases 1, token <random int>, beats <renewals>; expires_at = now + lease_seconds
    answer  leases 1, body <zlib of the Message JSON>, target <provider/model>, stored_at;
            expires_at = now + ttl_seconds

One item holds both, so one conditional write (``dedup.claim``) tells a request whether the answer is
there (hit), someone is computing it (wait), or it is the one to compute it (lead). ``leases`` stays 1 in
both shapes: the claim's ``add`` with ``limit leases <= 1`` is refused by either.

``body`` is binary (DynamoDB ``B``): the compact JSON of the canonical ``Message``, compressed with zlib,
at most ``MAX_BODY_BYTES``. DynamoDB items hold 400 KB; the rest is headroom for keys and attributes.
An answer that does not fit is not cached (``x-aimux-cache: bypass``, reason ``too_large``).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any

from ..wire.anthropic import Message

PK_PREFIX = "rcache#"
SK = "entry"
MAX_BODY_BYTES = 350_000
COMPRESSION_LEVEL = 6  # zlib's default: ~30 us for a 4 KB answer, JSON shrinks 3-10x
MAX_INFLATED_BYTES = 64 * 1024 * 1024  # a corrupt body must not inflate without bound

log = logging.getLogger("aimux.cache")


def entry_pk(digest: str) -> str:
    return PK_PREFIX + digest


def pack(message: Message) -> bytes | None:
    """The stored form of ``message``, or None when it is too large for an item."""
    body = zlib.compress(message.dump_json().encode("utf-8"), COMPRESSION_LEVEL)
    return body if len(body) <= MAX_BODY_BYTES else None


def unpack(body: bytes) -> Message:
    """The ``Message`` a ``pack``ed body holds (ValueError / zlib.error when it is not one)."""
    inflater = zlib.decompressobj()
    text = inflater.decompress(body, MAX_INFLATED_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("stored answer inflates past the bound")
    return Message.model_validate_json(text)


def answer_item(body: bytes, target_key: str, now: float, ttl_seconds: int) -> dict[str, Any]:
    """The attributes of an entry holding an answer (a blind put replaces the lease with it)."""
    return {"leases": 1, "body": body, "target": target_key, "stored_at": now, "expires_at": now + ttl_seconds}


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    message: Message
    target_key: str


def stored_answer(item: dict[str, Any] | None) -> StoredAnswer | None:
    """The answer an entry holds; None for a lease, no item, or a body that cannot be read (logged)."""
    if item is None:
        return None
    body, target = item.get("body"), item.get("target")
    if not isinstance(body, bytes) or not isinstance(target, str):
        return None
    try:
        return StoredAnswer(unpack(body), target)
    except (ValueError, zlib.error) as exc:
        log.warning("unreadable response cache entry %s ignored (%s)", item.get("pk"), type(exc).__name__)
        return None


def is_lease(item: dict[str, Any] | None) -> bool:
    """An entry some request is still computing (no answer yet)."""
    return item is not None and "body" not in item and isinstance(item.get("token"), int)
