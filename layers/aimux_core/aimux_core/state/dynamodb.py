"""``DynamoStore``: the ``Store`` contract on one DynamoDB table (``pk``/``sk`` strings, TTL on ``expires_at``).

Every write is one atomic DynamoDB request carrying its own condition (a conditional put, an ``ADD``
counter, a transaction), never a read-modify-write, so any number of Lambda instances may race on
one item. ``<live>`` below is ``(attribute_not_exists(expires_at) OR expires_at > :now)`` with
``:now = clock.now()``: DynamoDB's TTL deletes days late, so expiry is enforced in every condition
and every read, and TTL only tidies up.

    Store operation        DynamoDB request (round trips)           condition / what happens
    ─────────────────────  ───────────────────────────────────────  ──────────────────────────────────────────
    get                    GetItem, ConsistentRead            (1)   an expired item is returned as None
    put(expect=ABSENT)     PutItem, version 1                 (1)   attribute_not_exists(pk) OR expires_at <= :now
    put(expect=n)          PutItem, version n + 1             (1)   version = :n AND <live>
    put(expect=None)       PutItem, version 0                 (1)   none (a blind overwrite)
    add                    UpdateItem ALL_NEW                 (1)   ADD version :1, a :da, ... [REMOVE r, ...]
                                                                    [SET expires_at = :e] if <live> [AND e = :e ...]
                                                                    AND, per limit L, (attribute_not_exists(L) OR
                                                                    (attribute_type(L, N) AND L <= :bound - :dL))
      refused              + GetItem, unless the refusal      (+1)  replay the condition on the item (exact decimal):
                             carried the item (ALL_OLD)             over a limit, or an expected value missing ->
                                                                    ConditionFailed carrying the item,
      expired item         + PutItem of the fresh item        (+1)    expired -> replace it if still expired,
                                                                    raced -> retry; at most ADD_ATTEMPTS rounds
    query                  Query pk = :p AND sk BETWEEN :a :b (1/page)  ConsistentRead; expired items skipped
    delete                 DeleteItem                         (1)   none
    transact               TransactWriteItems                 (1)   Put / Delete / Update with the conditions above;
      expired AddOp        + GetItem? + DeleteItem + again    (+2-3) DeleteItem only while still expired

Failed conditions raise ``ConditionFailed``; why an ``add`` failed is told from the item as read right
after (DynamoDB returns it with ``ReturnValuesOnConditionCheckFailure``; dynalite ignores that, so then
it costs a GetItem). The calls go out through ``dynamodb_http`` (DynamoDB's JSON API over aiohttp,
signed here: about a tenth of botocore's CPU per call) unless a boto3 client is given, which then runs on
worker threads (``dynamodb_client``: the boto3 client, threads and error mapping); expressions and values:
``dynamodb_expressions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .clock import Clock, SystemClock
from .dynamodb_client import (
    ConditionRefused,
    TransactionCancelled,
    create_table,
    executor,
    make_client,
    shared_client,
    translate,
)
from .dynamodb_expressions import (
    Params,
    Refusal,
    add_request,
    classify_refusal,
    decode_item,
    delete_expired_request,
    delete_request,
    fresh_add_item,
    get_request,
    is_live_raw,
    put_refusal_reason,
    put_request,
    query_request,
    replace_expired_request,
    transact_item,
)
from .dynamodb_http import DynamoHttp, shared_http
from .store import Absent, ConditionFailed, Item, StoreUnavailable
from .transaction import AddOp, Operation, prepare
from .values import add_args, check_key, put_args

__all__ = ["ADD_ATTEMPTS", "TRANSACT_ATTEMPTS", "DynamoStore", "create_table", "make_client"]

ADD_ATTEMPTS = 4  # an expired item in the way, or a racing writer, costs a round; 4 never runs out in practice
TRANSACT_ATTEMPTS = 3


class DynamoStore:
    """Items by ``(pk, sk)`` in one DynamoDB table; see the module docstring for the mapping."""

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not table_name:
            raise ValueError("DynamoStore needs a table name (AIMUX_TABLE)")
        self.table_name = table_name
        self._client = client
        self._endpoint_url = endpoint_url
        self._region = region
        self._clock: Clock = clock or SystemClock()
        self._http: DynamoHttp | None = None if client is not None else shared_http(endpoint_url, region)

    @property
    def client(self) -> Any:
        """The boto3 client (the process's shared one unless one was given); built on first use."""
        if self._client is None:
            self._client = shared_client(self._endpoint_url, self._region)
        return self._client

    # --- the contract ---

    async def get(self, pk: str, sk: str) -> Item | None:
        check_key(pk, sk)
        response = await self._call("get_item", pk, sk, self._table(get_request(pk, sk)))
        raw = response.get("Item")
        if raw is None or not is_live_raw(raw, self._clock.now()):
            return None
        return decode_item(raw)

    async def put(self, pk: str, sk: str, item: Mapping[str, Any], *, expect_version: int | Absent | None) -> int:
        attributes = put_args(pk, sk, item, expect_version)
        params, version = put_request(pk, sk, attributes, expect_version, self._clock.now())
        try:
            await self._call("put_item", pk, sk, self._table(params))
        except ConditionFailed:
            raise ConditionFailed(pk, sk, put_refusal_reason(expect_version)) from None
        return version

    async def add(
        self,
        pk: str,
        sk: str,
        deltas: Mapping[str, int | float],
        *,
        limit: tuple[str, int | float] | Mapping[str, int | float] | None = None,
        expect: Mapping[str, int | float] | None = None,
        remove: Collection[str] = (),
        expires_at: float | None = None,
        set: Mapping[str, Any] | None = None,
    ) -> Item:
        args = add_args(pk, sk, deltas, limit, expect, remove, expires_at, set)
        increments, limits, expected, expiry = args.deltas, args.limits, args.expect, args.expires_at
        for _ in range(ADD_ATTEMPTS):
            now = self._clock.now()
            params = add_request(
                pk, sk, increments, limits, expiry, now, expect=expected, remove=args.remove, overwrite=args.set
            )
            params |= {"ReturnValues": "ALL_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
            try:
                response = await self._call("update_item", pk, sk, self._table(params))
                return decode_item(response["Attributes"])
            except ConditionRefused as refused:
                current = refused.old if refused.old is not None else await self._raw_item(pk, sk)
            verdict = classify_refusal(current, increments, limits, now, expected)
            if verdict in (Refusal.OVER_LIMIT, Refusal.UNEXPECTED):
                seen = decode_item(current) if current is not None and is_live_raw(current, now) else None
                what = "an expected value is not there" if verdict is Refusal.UNEXPECTED else "a limit would be passed"
                raise ConditionFailed(pk, sk, what, item=seen)
            if verdict is Refusal.NOT_NUMERIC:
                raise TypeError(f"cannot add {sorted(increments)} to non-numeric attributes of ({pk!r}, {sk!r})")
            if verdict is Refusal.EXPIRED:
                fresh = fresh_add_item(pk, sk, increments, expiry, args.set)
                try:
                    await self._call("put_item", pk, sk, self._table(replace_expired_request(fresh, now)))
                except ConditionFailed:
                    continue  # someone else replaced or removed it first: go round again
                return decode_item(fresh)
        raise StoreUnavailable(f"add on ({pk!r}, {sk!r}) still contended after {ADD_ATTEMPTS} attempts")

    async def query(self, pk: str, sk_from: str, sk_to: str) -> list[Item]:
        check_key(pk, sk_from)
        check_key(pk, sk_to)
        if sk_from > sk_to:  # DynamoDB refuses an empty BETWEEN; UTF-8 byte order is code point order
            return []
        params = self._table(query_request(pk, sk_from, sk_to))
        found: list[Item] = []
        while True:
            response = await self._call("query", pk, sk_from, params)
            now = self._clock.now()
            found.extend(decode_item(raw) for raw in response.get("Items", []) if is_live_raw(raw, now))
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            params = {**params, "ExclusiveStartKey": last}

    async def delete(self, pk: str, sk: str) -> None:
        check_key(pk, sk)
        await self._call("delete_item", pk, sk, self._table(delete_request(pk, sk, None, self._clock.now())))

    async def transact(self, operations: Sequence[Operation]) -> None:
        prepared = prepare(operations)
        first = prepared[0]
        for _ in range(TRANSACT_ATTEMPTS):
            now = self._clock.now()
            items = [transact_item(self.table_name, op, now) for op in prepared]
            try:
                await self._call("transact_write_items", first.pk, first.sk, {"TransactItems": items})
                return
            except TransactionCancelled as cancelled:
                expired = await self._explain_cancellation(prepared, cancelled.reasons, now)
            for op in expired:  # a dead item in an AddOp's way: remove it (a no-op for the contract), go again
                params = self._table(delete_expired_request(op.pk, op.sk, now))
                with contextlib.suppress(ConditionFailed):  # already gone or replaced: fine either way
                    await self._call("delete_item", op.pk, op.sk, params)
        raise StoreUnavailable(f"transaction on ({first.pk!r}, {first.sk!r}), ...: contended {TRANSACT_ATTEMPTS} times")

    # --- helpers ---

    async def _explain_cancellation(
        self, prepared: list[Operation], reasons: list[dict[str, Any]], now: float
    ) -> list[AddOp]:
        """Raise the contract's error for a cancelled transaction, or return the expired AddOps to clear."""
        expired: list[AddOp] = []
        for op, reason in zip(prepared, reasons, strict=False):
            code = reason.get("Code") or "None"
            if code == "None":
                continue
            if code == "ConditionalCheckFailed":
                if not isinstance(op, AddOp):
                    raise ConditionFailed(op.pk, op.sk, "transaction: condition failed")
                current = reason.get("Item") or await self._raw_item(op.pk, op.sk)
                verdict = classify_refusal(current, op.deltas, () if op.limit is None else (op.limit,), now)
                if verdict is Refusal.NOT_NUMERIC:
                    raise TypeError(f"cannot add to non-numeric attributes of ({op.pk!r}, {op.sk!r})")
                if verdict is Refusal.OVER_LIMIT:
                    raise ConditionFailed(op.pk, op.sk, "transaction: the add would pass its limit")
                if verdict is Refusal.EXPIRED:
                    expired.append(op)
            elif code == "ValidationError":
                message = reason.get("Message", "")
                error = TypeError if "incorrect data type" in message else ValueError
                raise error(f"transaction refused ({op.pk!r}, {op.sk!r}): {message}")
            elif code != "TransactionConflict":  # a conflict: go round again; throttling and the rest: unavailable
                raise StoreUnavailable(f"transaction on ({op.pk!r}, {op.sk!r}): {code} {reason.get('Message', '')}")
        return expired

    async def _raw_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = await self._call("get_item", pk, sk, self._table(get_request(pk, sk)))
        return response.get("Item")

    def _table(self, params: Params) -> Params:
        return {"TableName": self.table_name, **params}

    async def _call(self, operation: str, pk: str, sk: str, params: Params) -> dict[str, Any]:
        """One call: over ``dynamodb_http``, or with the given boto3 client on the worker threads; either way
        its errors are the contract's."""
        if self._http is not None:
            return await self._http.call(operation, params, pk, sk)
        loop = asyncio.get_running_loop()
        call = functools.partial(self._invoke, operation, params)
        try:
            return await loop.run_in_executor(executor(), call)
        except Exception as error:
            translated = translate(error, operation, pk, sk)
            if translated is error:
                raise
            raise translated from error

    def _invoke(self, operation: str, params: Params) -> dict[str, Any]:
        response: dict[str, Any] = getattr(self.client, operation)(**params)
        return response
