"""What an item is, and the argument rules every ``Store`` enforces, so memory and DynamoDB accept the same calls.

A value that DynamoDB cannot hold (a tuple, a set, NaN, a datetime, a dict with non-string keys) is
rejected here, in tests against ``MemoryStore``, instead of surfacing for the first time in AWS.
Numbers are normalised the way DynamoDB returns them: integral values become ``int``. Each backend
starts ``put`` with ``put_args`` and ``add`` with ``add_args``; a bad argument is a programming error
(``ValueError``/``TypeError``), never a ``StoreError``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]
RESERVED = frozenset({"pk", "sk", "version"})
EXPIRES_AT = "expires_at"
Limit = tuple[str, int | float]
Limits = tuple[Limit, ...]


class Absent(enum.Enum):
    """The type of ``ABSENT``: "the item must not exist" for ``put(..., expect_version=ABSENT)``."""

    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent.ABSENT


def check_key(pk: str, sk: str) -> None:
    """Keys are non-empty strings (DynamoDB refuses empty key attributes)."""
    for name, value in (("pk", pk), ("sk", sk)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def normalize_number(value: int | float) -> int | float:
    """``2.0`` becomes ``2``; non-integral floats stay; NaN and infinities are refused."""
    if type(value) is int:  # the usual case (counters), before the checks a bool or a float needs
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"numbers must be finite, got {value!r}")
        if value.is_integer():
            return int(value)
    return value


def clean_value(value: Any) -> Any:
    """A validated, normalised deep copy of one attribute value (``bytes`` is DynamoDB's binary type)."""
    if value is None or isinstance(value, str | bool | bytes):
        return value
    if isinstance(value, int | float):
        return normalize_number(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise TypeError(f"map keys must be non-empty strings, got {k!r}")
            out[k] = clean_value(v)
        return out
    raise TypeError(f"unsupported attribute value {value!r} ({type(value).__name__})")


def clean_item(item: Mapping[str, Any]) -> Item:
    """A validated copy of a caller's item without the store-owned attributes."""
    if not isinstance(item, Mapping):
        raise TypeError(f"an item is a mapping of attributes, got {type(item).__name__}")
    cleaned: Item = clean_value({k: v for k, v in item.items() if k not in RESERVED})
    if EXPIRES_AT in cleaned:
        if cleaned[EXPIRES_AT] is None:
            del cleaned[EXPIRES_AT]  # "no expiry" is no attribute (a stored NULL would fail `expires_at > :now`)
        else:
            normalize_number(cleaned[EXPIRES_AT])
    return cleaned


def clean_deltas(deltas: Mapping[str, int | float]) -> dict[str, int | float]:
    """Deltas are numbers for ordinary attribute names (not keys, version or expiry)."""
    if not deltas:
        raise ValueError("add needs at least one delta")
    out: dict[str, int | float] = {}
    for name, delta in deltas.items():
        _check_counter_name(name, "add to")
        out[name] = delta if type(delta) is int else normalize_number(delta)
    return out


def clean_expect(expect: Mapping[str, int | float] | None) -> dict[str, int | float]:
    """Expected values of ``add``: numbers for ordinary attribute names."""
    if not expect:
        return {}
    out: dict[str, int | float] = {}
    for name, value in expect.items():
        _check_counter_name(name, "expect a value of")
        out[name] = normalize_number(value)
    return out


def clean_remove(remove: Collection[str], deltas: Mapping[str, int | float]) -> tuple[str, ...]:
    """Attribute names ``add`` removes: ordinary names, none of them also given a delta."""
    if isinstance(remove, str):
        raise TypeError("remove is a collection of attribute names, not one string")
    names = tuple(dict.fromkeys(remove))
    for name in names:
        _check_counter_name(name, "remove")
        if name in deltas:
            raise ValueError(f"cannot both add to and remove attribute {name!r}")
    return names


def clean_set(values: Mapping[str, Any] | None, deltas: Mapping[str, int | float], remove: Collection[str]) -> Item:
    """Attributes ``add`` overwrites: ordinary names, values an item may hold, none also added to or removed."""
    if not values:
        return {}
    out: Item = {}
    for name, value in values.items():
        _check_counter_name(name, "set")
        if name in deltas or name in remove:
            raise ValueError(f"cannot both set and add to (or remove) attribute {name!r}")
        out[name] = clean_value(value)
    return out


def _check_counter_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name or name in RESERVED or name == EXPIRES_AT:
        raise ValueError(f"cannot {what} attribute {name!r}")


def is_live(item: Mapping[str, Any], now: float) -> bool:
    """An item is live until ``now`` reaches its ``expires_at`` (no ``expires_at``: forever)."""
    expires_at = item.get(EXPIRES_AT)
    return expires_at is None or now < expires_at


def check_expect_version(expect_version: object, *, allow_absent: bool = True) -> None:
    """``expect_version`` is None, an int (not a bool), or ABSENT where allowed."""
    if expect_version is None or (allow_absent and expect_version is ABSENT):
        return
    if isinstance(expect_version, int) and not isinstance(expect_version, bool):
        return
    allowed = "an int, None or ABSENT" if allow_absent else "an int or None"
    raise TypeError(f"expect_version must be {allowed}, got {expect_version!r}")


def check_limit(limit: Limit) -> Limit:
    """A limit is ``(attribute name, numeric bound)``; the bound comes back normalised."""
    name, bound = limit
    if not isinstance(name, str) or not name:
        raise ValueError(f"a limit names a non-empty attribute, got {name!r}")
    return name, normalize_number(bound)


def check_limits(limit: Limit | Mapping[str, int | float] | None) -> Limits:
    """``add``'s ``limit``: one ``(name, bound)`` pair, or a mapping of several names to their bounds."""
    if limit is None:
        return ()
    if isinstance(limit, Mapping):
        return tuple(check_limit((name, bound)) for name, bound in limit.items())
    return (check_limit(limit),)


def put_args(pk: str, sk: str, item: Mapping[str, Any], expect_version: object) -> Item:
    """The checked arguments of ``Store.put``: the attributes to write."""
    check_key(pk, sk)
    attributes = clean_item(item)
    check_expect_version(expect_version)
    return attributes


@dataclass(frozen=True, slots=True)
class AddArgs:
    """The checked, normalised arguments of ``Store.add``."""

    deltas: dict[str, int | float]
    limits: Limits
    expect: dict[str, int | float]
    remove: tuple[str, ...]
    expires_at: int | float | None
    set: Item


def add_args(
    pk: str,
    sk: str,
    deltas: Mapping[str, int | float],
    limit: Limit | Mapping[str, int | float] | None,
    expect: Mapping[str, int | float] | None,
    remove: Collection[str],
    expires_at: float | None,
    set: Mapping[str, Any] | None = None,
) -> AddArgs:
    check_key(pk, sk)
    increments = clean_deltas(deltas)
    removed = clean_remove(remove, increments)
    return AddArgs(
        increments,
        check_limits(limit),
        clean_expect(expect),
        removed,
        None if expires_at is None else normalize_number(expires_at),
        clean_set(set, increments, removed),
    )
