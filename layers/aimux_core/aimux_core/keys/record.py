"""What a virtual API key is: its secret's format, its hash, its record and how that maps onto items.

The plaintext key exists only twice: in the answer to create/rotate, and in the client's requests.
The store holds its SHA-256 (the key is 256 random bits, so a fast unsalted hash is enough: there is
nothing to brute-force), and the record is addressed by that hash so authentication is one read.

Items (one table, see docs/architecture.md):

    pk ``key#<sha256 hex>``  sk ``meta``   the record: limits, allow-lists, disabled, ...; ``key_hash`` again
    pk ``keys``              sk ``<id>``   the index entry: ``key_hash`` of the id's current secret

The id (``key_`` + 12 hex, random, not derived from the secret) names a key in logs, admin views and
spend counters; it survives rotation. The hash never leaves the store layer: ``public()`` omits it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..state.store import Item

KEY_PREFIX = "amx-"
SECRET_BYTES = 32
# lowercase RFC 4648 base32 of 32 bytes without padding: a-z and 2-7, URL-safe, no 0/O or 1/l/I to confuse
_SECRET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz234567")
_SECRET_LENGTH = 52
KEY_LENGTH = len(KEY_PREFIX) + _SECRET_LENGTH

META_SK = "meta"
INDEX_PK = "keys"
ID_PREFIX = "key_"
# every index sort key (an id) lies in [ID_PREFIX, ID_PREFIX + "~"]: ids are ID_PREFIX + hex
INDEX_RANGE = (ID_PREFIX, ID_PREFIX + "~")
ITEM_KIND = "api_key"
_PRIVATE_ITEM_FIELDS = frozenset({"kind", "key_hash"})


def generate_key() -> str:
    """A new plaintext key: ``amx-`` + 256 bits from ``secrets`` as 52 lowercase base32 characters."""
    raw = base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")
    return KEY_PREFIX + raw.rstrip("=").lower()


def looks_like_key(presented: str) -> bool:
    """Whether ``presented`` has the shape of an aimux key (so anything else is refused without a store read)."""
    return (
        len(presented) == KEY_LENGTH
        and presented.startswith(KEY_PREFIX)
        and all(c in _SECRET_CHARS for c in presented[len(KEY_PREFIX) :])
    )


def hash_key(plaintext: str) -> str:
    """SHA-256 of the whole key (prefix included), as 64 lowercase hex digits."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def new_key_id() -> str:
    """A short, non-secret, random id (``key_`` + 12 hex); creation retries on the rare collision."""
    return ID_PREFIX + secrets.token_hex(6)


def is_key_id(value: str) -> bool:
    """Whether ``value`` has the shape of a key id (admin routes refuse anything else before a read)."""
    hexpart = value[len(ID_PREFIX) :]
    return value.startswith(ID_PREFIX) and len(hexpart) == 12 and all(c in "0123456789abcdef" for c in hexpart)


def record_pk(key_hash: str) -> str:
    return f"key#{key_hash}"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One virtual key as the gateway sees it. Limits left as None are unlimited; empty allow-lists allow all.

    ``version`` is the store version of the record item (compare-and-set for admin changes).
    ``key_hash`` addresses the item; it is kept out of ``repr`` and ``public()`` so it never reaches a log.
    """

    id: str
    name: str
    key_hash: str = field(repr=False)
    created_at: float
    owner: str | None = None
    project: str | None = None
    disabled: bool = False
    disabled_at: float | None = None
    rotated_at: float | None = None
    allowed_models: tuple[str, ...] = ()
    """Glob patterns (``fnmatch``, case-sensitive) of model names this key may ask for."""
    allowed_routes: tuple[str, ...] = ()
    """Glob patterns of route names this key may be served by."""
    rpm: int | None = None
    tpm: int | None = None
    budget_daily_usd: float | None = None
    budget_monthly_usd: float | None = None
    budget_route: str | None = None
    """A cheaper route to step down to when a budget cannot cover a request (None: refuse instead)."""
    version: int = 0

    def to_item(self) -> Item:
        """The record item's attributes (the store adds pk, sk and version)."""
        return {
            "kind": ITEM_KIND,
            "id": self.id,
            "key_hash": self.key_hash,
            "name": self.name,
            "owner": self.owner,
            "project": self.project,
            "created_at": self.created_at,
            "disabled": self.disabled,
            "disabled_at": self.disabled_at,
            "rotated_at": self.rotated_at,
            "allowed_models": list(self.allowed_models),
            "allowed_routes": list(self.allowed_routes),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_daily_usd": self.budget_daily_usd,
            "budget_monthly_usd": self.budget_monthly_usd,
            "budget_route": self.budget_route,
        }

    @classmethod
    def from_item(cls, item: Item) -> ApiKeyRecord:
        """The record a store item holds (missing optional attributes read as their defaults)."""
        return cls(
            id=item["id"],
            name=item["name"],
            key_hash=item["key_hash"],
            created_at=item["created_at"],
            owner=item.get("owner"),
            project=item.get("project"),
            disabled=bool(item.get("disabled", False)),
            disabled_at=item.get("disabled_at"),
            rotated_at=item.get("rotated_at"),
            allowed_models=tuple(item.get("allowed_models") or ()),
            allowed_routes=tuple(item.get("allowed_routes") or ()),
            rpm=item.get("rpm"),
            tpm=item.get("tpm"),
            budget_daily_usd=_dollars(item.get("budget_daily_usd")),
            budget_monthly_usd=_dollars(item.get("budget_monthly_usd")),
            budget_route=item.get("budget_route"),
            version=int(item.get("version", 0)),
        )

    def public(self) -> dict[str, Any]:
        """What admin views show: everything but the hash (and the plaintext, which nobody keeps)."""
        return {name: value for name, value in self.to_item().items() if name not in _PRIVATE_ITEM_FIELDS}


def _dollars(value: int | float | None) -> float | None:
    """Stores give integral numbers back as ``int``; budgets are always ``float`` in a record."""
    return None if value is None else float(value)
