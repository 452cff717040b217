"""Whether a batch goes to a provider's batch API, decided once per batch (``BatchBook.decide_plan``).

It does when native batches are on (``AIMUX_NATIVE_BATCHES``) and every request:

- parses and passes the same checks as live (``items.prepare``) and the key's model and route
  allow-lists (``keys.ring.check_model``);
- is routed (``Gateway.decide``, the live routing) first to one and the same provider, and that provider
  has a batch API (``apis.native_for``: first-party Anthropic or OpenAI);

and the budgets of the key and of its project (``Jobs.project_of``, as live) can all hold the whole
batch's worst case at the batch price (one hold on each budgeted scope's spend item, taken together as
live admission takes them: ``limits/reservations.py``, ``admission.budget_claims``; lasting the 24 h a
batch may take; released when the batch ends, each request's real cost being recorded on the key and the
project as its result arrives). Otherwise the batch runs here, where each request is admitted on its own,
like a live one (rate windows, step-downs, refusals per request, the project's included).

The plan stores its holds as ``holds`` (a list); plans stored before projects were held kept the key's
one hold as ``hold``, which ``stored_holds`` still reads.

Rate windows (rpm/tpm) are not charged for a native batch: they pace live traffic, and the provider
queues batch requests under its own batch limits.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Literal

from ...accounting.pricing import batch_price, uses_prompt_cache, worst_case_micro_usd
from ...accounting.tokens import estimate_input_tokens
from ...errors import AimuxError
from ...limits.reservations import Hold
from ...routing.select import RequestMeta
from ...state.store import Item
from ..items import NO_OWNER, RunContext, prepare
from ..lines import Span, request_of
from ..records import PROCESSING_SECONDS
from .apis import native_for

if TYPE_CHECKING:
    from ...keys.record import ApiKeyRecord
    from ..records import BatchRecord
    from ..runtime import Jobs

log = logging.getLogger("aimux.jobs")
HOLD_SECONDS = PROCESSING_SECONDS + 3600.0


def targets_blob(batch_id: str) -> str:
    return f"batches/{batch_id}/native-targets.json"


async def plan_batch(jobs: Jobs, record: BatchRecord, data: bytes, spans: list[Span]) -> Item:
    """The batch's plan: the one decided before, else native (when it qualifies) or queue."""
    existing = await jobs.book.plan(record.id)
    if existing is not None:
        return existing
    candidate = await _native_plan(jobs, record, data, spans) if jobs.settings.native_batches else None
    return await jobs.book.decide_plan(record.id, candidate or {"mode": "queue"})


async def _native_plan(jobs: Jobs, record: BatchRecord, data: bytes, spans: list[Span]) -> dict[str, Any] | None:
    gateway = jobs.gateway
    if not any(native_for(provider) is not None for provider in gateway.providers.values()):
        return None
    key = await jobs.owner_key(record.owner)
    if record.owner != NO_OWNER and (key is None or key.disabled):
        return None
    from ...keys.ring import check_model  # the allow-list rule: with keys only

    context = RunContext.from_item(record.dialect, record.context)
    provider: str | None = None
    targets: list[list[Any]] = []
    worst = 0
    for start, end in spans:
        _, body = request_of(record.dialect, data[start:end])
        try:
            prepared = await prepare(gateway, context, body)
            if key is not None:
                check_model(key, prepared.client_model)
            meta = RequestMeta(explicit_provider=context.provider or prepared.backend)
            decision = await gateway.decide(prepared.canonical, meta)
            if key is not None:
                check_model(key, prepared.client_model, decision.route)
        except AimuxError:
            return None  # a request live would refuse: answered here, request by request
        target = decision.targets[0]
        if provider not in (None, target.provider):
            return None
        provider = target.provider
        entry = target.entry
        price = batch_price(entry.price if entry is not None else None)
        request = prepared.canonical
        worst += worst_case_micro_usd(
            estimate_input_tokens(request), request.max_tokens, price, cache_writes=uses_prompt_cache(request)
        )
        targets.append([target.model, entry.id if entry is not None else None, decision.route])
    if provider is None or native_for(gateway.providers.get(provider)) is None:
        return None
    holds = await _holds(jobs, key, worst)
    if holds is False:
        return None
    await jobs.blobs.put(targets_blob(record.id), json.dumps(targets).encode())
    return {"mode": "native", "provider": provider, "state": "submitting", "lease_until": 0, "holds": holds}


async def _holds(jobs: Jobs, key: ApiKeyRecord | None, micro: int) -> list[dict[str, Any]] | Literal[False]:
    """The batch's budget holds as stored (none to hold; False: a budget cannot cover it)."""
    if key is None or micro <= 0:
        return []
    project = await jobs.project_of(key)
    # the budget rules: only for a key with a budget, or in a project
    from ...limits.admission import budget_claims
    from ...limits.budget import BudgetLimits
    from ...limits.reservations import BudgetHolds

    claims = [
        (scope, limits) for scope, limits in budget_claims(key, BudgetLimits.from_record(key), project) if limits.any
    ]
    if not claims:
        return []
    holds = BudgetHolds(jobs.store, jobs.clock, hold_seconds=HOLD_SECONDS)
    reserved = await holds.reserve(claims, micro)
    if not isinstance(reserved, tuple):
        scope = reserved.scope or key.id
        log.info("batch budget of %s cannot hold %d micro-USD: running it request by request", scope, micro)
        return False
    return [{field.name: getattr(hold, field.name) for field in fields(Hold)} for hold in reserved]


def stored_holds(plan: Item) -> list[Hold]:
    """The budget holds a plan keeps: ``holds``, or the one ``hold`` of plans stored before projects were held."""
    stored = plan.get("holds")
    if not isinstance(stored, list):
        stored = [plan["hold"]] if isinstance(plan.get("hold"), dict) else []
    return [Hold(**{field.name: held[field.name] for field in fields(Hold)}) for held in stored]
