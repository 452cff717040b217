"""Pure parts of the DynamoDB store: attribute values in and out, request parameters, refusal analysis.

No I/O and no boto3 here (requests are built as plain dicts in DynamoDB's low-level JSON shape), so
the mapping can be read and unit-tested on its own; ``dynamodb.py`` sends what these functions build.

Attribute values: ``str`` S, ``bytes`` B, ``bool`` BOOL, ``None`` NULL, ``list`` L, ``dict`` M, numbers N. A number
goes out as its shortest round-tripping text (``0.1`` is sent as ``"0.1"``, i.e. ``Decimal(str(x))``)
and comes back as ``int`` when integral, else ``float``. Arithmetic that must be exact (a limit's
headroom, refusal analysis) is done on ``Decimal`` with DynamoDB's 38 significant digits.

Every attribute name goes through an ``#n`` placeholder (``state``, ``name`` and ``ttl`` are reserved
words in DynamoDB expressions), every value through a ``:v`` placeholder.
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .store import ABSENT, EXPIRES_AT, Absent, Item
from .transaction import DeleteOp, Operation, PutOp

AttributeValue = dict[str, Any]
Params = dict[str, Any]

# DynamoDB numbers have 38 significant digits; compute headrooms in that precision, not the default 28.
_CONTEXT = decimal.Context(prec=38)
_NUMBER_TYPE: AttributeValue = {"S": "N"}


# --- values ---


def number_text(value: int | float | Decimal) -> str:
    """The N text of a number: ints exactly, floats by their shortest repr (``Decimal(str(x))``)."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return str(value)


def encode_value(value: Any) -> AttributeValue:
    """One cleaned Python value (see ``values.clean_value``) as a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, int | float | Decimal):
        return {"N": number_text(value)}
    if isinstance(value, list):
        return {"L": [encode_value(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": {k: encode_value(v) for k, v in value.items()}}
    raise TypeError(f"unsupported attribute value {value!r} ({type(value).__name__})")


def decode_number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def decode_value(attribute: AttributeValue) -> Any:
    """A DynamoDB attribute value as a Python value (numbers as int/float)."""
    (kind, raw), *_ = attribute.items()
    if kind == "S":
        return raw
    if kind == "N":
        return decode_number(raw)
    if kind == "B":
        return bytes(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "L":
        return [decode_value(v) for v in raw]
    if kind == "M":
        return {k: decode_value(v) for k, v in raw.items()}
    raise TypeError(f"aimux never writes DynamoDB type {kind!r}")


def encode_item(attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {name: encode_value(value) for name, value in attributes.items()}


def decode_item(raw: Mapping[str, AttributeValue]) -> Item:
    return {name: decode_value(value) for name, value in raw.items()}


def key(pk: str, sk: str) -> dict[str, AttributeValue]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# --- expressions ---


class Expression:
    """Collects the ``#n`` name and ``:v`` value placeholders of one request's expressions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}
        self._placeholders: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        placeholder = self._placeholders.get(attribute)
        if placeholder is None:
            placeholder = self._placeholders[attribute] = f"#n{len(self._placeholders)}"
            self.names[placeholder] = attribute
        return placeholder

    def value(self, attribute_value: AttributeValue) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = attribute_value
        return placeholder

    def number(self, value: int | float | Decimal) -> str:
        return self.value({"N": number_text(value)})

    def params(self) -> Params:
        out: Params = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out

    def live(self, now: float) -> str:
        """The item has no expiry, or has not reached it (also true of a missing item)."""
        expires = self.name(EXPIRES_AT)
        return f"(attribute_not_exists({expires}) OR {expires} > {self.number(now)})"

    def expired(self, now: float) -> str:
        """The item exists and is past its expiry (the comparison is false on a missing attribute)."""
        return f"{self.name(EXPIRES_AT)} <= {self.number(now)}"


def headroom(bound: int | float, delta: int | float) -> Decimal:
    """The largest current value an add of ``delta`` may find and still end at most at ``bound``."""
    return _CONTEXT.subtract(Decimal(number_text(bound)), Decimal(number_text(delta)))


def limit_condition(expr: Expression, deltas: Mapping[str, int | float], limit: tuple[str, int | float]) -> str:
    """``current + delta <= bound`` as ``current <= bound - delta``, exact in decimal.

    A missing attribute counts as 0, so it passes exactly when ``delta <= bound``; that is decided
    here, in code, because an expression cannot hold a constant truth value. ``attribute_type`` keeps
    a non-numeric attribute from being compared with a number (a refusal, as in ``MemoryStore``).
    """
    name, bound = limit
    delta = deltas.get(name, 0)
    attribute = expr.name(name)
    room = expr.value({"N": str(headroom(bound, delta))})
    within = f"attribute_type({attribute}, {expr.value(_NUMBER_TYPE)}) AND {attribute} <= {room}"
    if Decimal(number_text(delta)) <= Decimal(number_text(bound)):
        return f"(attribute_not_exists({attribute}) OR ({within}))"
    return f"({within})"


# --- requests (without TableName: the store adds it) ---


def get_request(pk: str, sk: str) -> Params:
    return {"Key": key(pk, sk), "ConsistentRead": True}


def put_request(
    pk: str, sk: str, attributes: Item, expect_version: int | Absent | None, now: float
) -> tuple[Params, int]:
    """PutItem parameters for ``put`` and the version it writes."""
    expr = Expression()
    if expect_version is ABSENT:
        version = 1
        condition: str | None = f"attribute_not_exists({expr.name('pk')}) OR {expr.expired(now)}"
    elif expect_version is None:
        version, condition = 0, None
    else:
        version = expect_version + 1
        condition = f"{expr.name('version')} = {expr.number(expect_version)} AND {expr.live(now)}"
    params: Params = {"Item": encode_item({**attributes, "pk": pk, "sk": sk, "version": version})}
    if condition is not None:
        params |= {"ConditionExpression": condition, **expr.params()}
    return params, version


def add_request(
    pk: str,
    sk: str,
    deltas: Mapping[str, int | float],
    limits: Sequence[tuple[str, int | float]],
    expires_at: int | float | None,
    now: float,
    *,
    expect: Mapping[str, int | float] | None = None,
    remove: Sequence[str] = (),
    overwrite: Mapping[str, Any] | None = None,
) -> Params:
    """UpdateItem parameters for ``add``: ``ADD version :1, a :da ... [REMOVE r ...] [SET s = :s, ...,
    expires_at = :e]``, if the item is live, holds the ``expect``ed values and stays within every limit."""
    expr = Expression()
    additions = [f"{expr.name('version')} {expr.number(1)}"]
    additions += [f"{expr.name(name)} {expr.number(delta)}" for name, delta in deltas.items()]
    update = "ADD " + ", ".join(additions)
    if remove:
        update += " REMOVE " + ", ".join(expr.name(name) for name in remove)
    assignments = [f"{expr.name(n)} = {expr.value(encode_value(v))}" for n, v in (overwrite or {}).items()]
    if expires_at is not None:
        assignments.append(f"{expr.name(EXPIRES_AT)} = {expr.number(expires_at)}")
    if assignments:
        update += " SET " + ", ".join(assignments)
    conditions = [expr.live(now)]
    conditions += [f"{expr.name(name)} = {expr.number(value)}" for name, value in (expect or {}).items()]
    conditions += [limit_condition(expr, deltas, limit) for limit in limits]
    condition = " AND ".join(conditions)
    return {"Key": key(pk, sk), "UpdateExpression": update, "ConditionExpression": condition, **expr.params()}


def fresh_add_item(
    pk: str,
    sk: str,
    deltas: Mapping[str, int | float],
    expires_at: int | float | None,
    overwrite: Mapping[str, Any] | None = None,
) -> dict[str, AttributeValue]:
    """What ``add`` leaves when it finds no live item: the deltas and set values alone, version 1."""
    attributes: Item = {**(overwrite or {}), **deltas, "pk": pk, "sk": sk, "version": 1}
    if expires_at is not None:
        attributes[EXPIRES_AT] = expires_at
    return encode_item(attributes)


def replace_expired_request(item: dict[str, AttributeValue], now: float) -> Params:
    """PutItem parameters that overwrite an item only while it is still expired."""
    expr = Expression()
    return {"Item": item, "ConditionExpression": expr.expired(now), **expr.params()}


def delete_request(pk: str, sk: str, expect_version: int | None, now: float) -> Params:
    params: Params = {"Key": key(pk, sk)}
    if expect_version is not None:
        expr = Expression()
        condition = f"{expr.name('version')} = {expr.number(expect_version)} AND {expr.live(now)}"
        params |= {"ConditionExpression": condition, **expr.params()}
    return params


def delete_expired_request(pk: str, sk: str, now: float) -> Params:
    """DeleteItem parameters that remove an item only while it is expired (a no-op for the contract)."""
    expr = Expression()
    return {"Key": key(pk, sk), "ConditionExpression": expr.expired(now), **expr.params()}


def query_request(pk: str, sk_from: str, sk_to: str) -> Params:
    expr = Expression()
    condition = (
        f"{expr.name('pk')} = {expr.value({'S': pk})} AND "
        f"{expr.name('sk')} BETWEEN {expr.value({'S': sk_from})} AND {expr.value({'S': sk_to})}"
    )
    return {"KeyConditionExpression": condition, "ConsistentRead": True, **expr.params()}


def transact_item(table: str, op: Operation, now: float) -> Params:
    """One TransactWriteItems entry; a failed condition reports the item it saw (ALL_OLD)."""
    if isinstance(op, PutOp):
        params, _ = put_request(op.pk, op.sk, dict(op.item), op.expect_version, now)
        kind = "Put"
    elif isinstance(op, DeleteOp):
        params, kind = delete_request(op.pk, op.sk, op.expect_version, now), "Delete"
    else:
        limits = () if op.limit is None else (op.limit,)
        params, kind = add_request(op.pk, op.sk, op.deltas, limits, op.expires_at, now), "Update"
    if "ConditionExpression" in params:
        params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {kind: {"TableName": table, **params}}


def put_refusal_reason(expect_version: int | Absent | None) -> str:
    if expect_version is ABSENT:
        return "a live item exists"
    return f"no live item with version {expect_version}"


# --- why an add's condition failed ---


class Refusal(enum.Enum):
    """What a failed add condition meant, decided from the item as it was read afterwards."""

    RETRY = "retry"  # no item (deleted meanwhile) or the values moved back under the limit: try again
    EXPIRED = "expired"  # a dead item is in the way: replace it with a fresh one
    OVER_LIMIT = "over_limit"  # the add really would pass a limit: ConditionFailed
    UNEXPECTED = "unexpected"  # an ``expect``ed value is not there: ConditionFailed
    NOT_NUMERIC = "not_numeric"  # a delta targets a non-numeric attribute: TypeError


def _raw_number(raw: Mapping[str, AttributeValue], name: str) -> Decimal | None:
    """The attribute as a Decimal; 0 when missing; None when it is not a number."""
    attribute = raw.get(name)
    if attribute is None:
        return Decimal(0)
    text = attribute.get("N")
    return None if text is None else Decimal(text)


def is_live_raw(raw: Mapping[str, AttributeValue], now: float) -> bool:
    expires = raw.get(EXPIRES_AT)
    return expires is None or "N" not in expires or Decimal(expires["N"]) > Decimal(number_text(now))


def classify_refusal(
    raw: Mapping[str, AttributeValue] | None,
    deltas: Mapping[str, int | float],
    limits: Sequence[tuple[str, int | float]],
    now: float,
    expect: Mapping[str, int | float] | None = None,
) -> Refusal:
    """Replays the add's condition exactly (in decimal) against the item read after it failed."""
    live = raw is not None and is_live_raw(raw, now)
    base: Mapping[str, AttributeValue] = raw if live and raw is not None else {}
    for name, value in (expect or {}).items():
        found = base.get(name, {}).get("N")
        if found is None or Decimal(found) != Decimal(number_text(value)):
            return Refusal.UNEXPECTED
    for name in deltas:
        if _raw_number(base, name) is None:
            return Refusal.NOT_NUMERIC
    for name, bound in limits:
        current = _raw_number(base, name)
        delta = Decimal(number_text(deltas.get(name, 0)))
        if current is None or _CONTEXT.add(current, delta) > Decimal(number_text(bound)):
            return Refusal.OVER_LIMIT
    if raw is not None and not live:
        return Refusal.EXPIRED
    return Refusal.RETRY
