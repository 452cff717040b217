"""A native batch's life: submit it once, poll it on the schedule, turn its results into result lines.

submit   claim the submission (the plan's ``lease_until``, compare-and-set), build each request for
         the upstream exactly as a live call would be (``routing.dispatch.upstream_call``, the adapter's own
         body), send them as one provider batch (custom ids ``r<index>``); a provider that refuses the
         batch itself (a non-retryable error) sends it back to the queue, request by request
poll     (the schedule) forward a cancel once; when the provider batch ended, read its results:
         each request's line is written once (``BatchBook.record_once``) and only the write that
         created it settles the request's cost at the batch price and publishes its record through
         the live path (``Exchange.answered``: spend, metrics, the log line); the batch's budget hold
         is released; the batch ends (``finish``)
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from ...errors import AimuxError, UpstreamError
from ...gateway import Served
from ...limits.admission import OPEN, Admitted
from ...providers.base import RequestContext
from ...routing.dispatch import Outcome, upstream_call
from ...routing.select import Decision
from ...routing.table import Target
from ...routing.unserved import Attempt
from ...state.store import Item
from ...wire.anthropic import Message
from ..finish import finish
from ..items import Answer, Prepared, RunContext, error_answer, prepare
from ..lines import answered_line, line_spans, request_of, unanswered_line
from ..records import Outcome as BatchOutcome
from .apis import native_for
from .base import NativeBatches
from .plan import stored_holds, targets_blob

if TYPE_CHECKING:
    from ...keys.record import ApiKeyRecord
    from ...limits.project import Project
    from ..records import BatchRecord
    from ..runtime import Jobs

log = logging.getLogger("aimux.jobs")
SUBMIT_ATTEMPTS = 3


async def submit(jobs: Jobs, record: BatchRecord, plan: Item, data: bytes, spans: list[tuple[int, int]]) -> None:
    book, now = jobs.book, jobs.clock.now()
    if plan.get("state") != "submitting" or float(plan.get("lease_until") or 0) > now:
        return  # submitted already, or another worker is submitting it right now
    attempts = int(plan.get("attempts") or 0) + 1
    claimed = {**plan, "lease_until": now + jobs.settings.lease_seconds, "attempts": attempts}
    if not await book.update_plan(record.id, claimed, int(plan["version"])):
        return
    version = int(plan["version"]) + 1
    provider = str(plan["provider"])
    api = native_for(jobs.gateway.providers.get(provider))
    try:
        if api is None:
            raise UpstreamError(f"provider {provider!r} has no batch API now", provider=provider, retryable=False)
        context = RunContext.from_item(record.dialect, record.context)
        targets = json.loads(await jobs.blobs.get(targets_blob(record.id)) or b"[]")
        calls = []
        for index, (start, end) in enumerate(spans):
            prepared = await prepare(jobs.gateway, context, request_of(record.dialect, data[start:end])[1])
            call_context = RequestContext(
                f"{record.id}:{index}", anthropic_version=context.anthropic_version, betas=list(context.betas)
            )
            target = _target(jobs, provider, targets[index])
            calls.append((f"r{index}", upstream_call(prepared.canonical, target, call_context)))
        upstream_id = await api.submit(calls)
    except AimuxError as error:
        retry = isinstance(error, UpstreamError) and error.retryable and attempts < SUBMIT_ATTEMPTS
        log.warning(
            "batch %s: %s batch API refused the batch (%s)%s",
            record.id,
            provider,
            error.kind,
            "; trying again" if retry else "; running it here instead",
        )
        if retry:
            await book.update_plan(record.id, {**claimed, "lease_until": 0}, version)
            raise
        await _to_queue(jobs, record, claimed, version)
        return
    await book.update_plan(
        record.id, {**claimed, "state": "submitted", "upstream_id": upstream_id, "submitted_at": now}, version
    )
    log.info("batch %s: %d requests sent to the %s batch API as %s", record.id, len(spans), provider, upstream_id)


async def _to_queue(jobs: Jobs, record: BatchRecord, plan: Item, version: int) -> None:
    await _release_hold(jobs, plan)
    if await jobs.book.update_plan(record.id, {"mode": "queue", "from_native": plan.get("provider")}, version):
        await jobs.queue.send([{"kind": "batch.start", "batch": record.id}])


async def cancel_native(jobs: Jobs, batch_id: str, plan: Item) -> None:
    api = native_for(jobs.gateway.providers.get(str(plan.get("provider"))))
    if api is None or plan.get("state") != "submitted" or plan.get("cancel_sent"):
        return
    with contextlib.suppress(UpstreamError):  # ended meanwhile, or unreachable: the next poll tries again
        await api.cancel(str(plan["upstream_id"]))
        await jobs.book.update_plan(batch_id, {**plan, "cancel_sent": True}, int(plan["version"]))


async def poll_native(jobs: Jobs, record: BatchRecord, plan: Item) -> None:
    if plan.get("state") != "submitted":
        if float(plan.get("lease_until") or 0) <= jobs.clock.now():
            await jobs.queue.send([{"kind": "batch.start", "batch": record.id}])  # a submission that died
        return
    if record.stop and not plan.get("cancel_sent"):
        await cancel_native(jobs, record.id, plan)
    api = native_for(jobs.gateway.providers.get(str(plan["provider"])))
    if api is None or not await api.ended(str(plan["upstream_id"])):
        return
    await _ingest(jobs, record, plan, api)


async def _ingest(jobs: Jobs, record: BatchRecord, plan: Item, api: NativeBatches) -> None:
    data = await jobs.blobs.get(record.input_blob) or b""
    targets = json.loads(await jobs.blobs.get(targets_blob(record.id)) or b"[]")
    context = RunContext.from_item(record.dialect, record.context)
    prepared: dict[int, Prepared] = {}
    for index, (start, end) in enumerate(line_spans(data)):
        prepared[index] = await prepare(jobs.gateway, context, request_of(record.dialect, data[start:end])[1])
    models = {f"r{i}": (p.client_model, p.tool_names) for i, p in prepared.items()}
    results = await api.results(str(plan["upstream_id"]), models)
    key = await jobs.owner_key(record.owner)
    project = await jobs.project_of(key) if key is not None else None  # before any result is kept
    custom_ids = {i: request_of(record.dialect, data[s:e])[0] for i, (s, e) in enumerate(line_spans(data))}
    for index, result in ((int(cid[1:]), r) for cid, r in results.items() if cid[1:].isdigit()):
        if index not in prepared:
            continue
        request_id, custom_id = f"{record.id}:{index}", custom_ids[index]
        if isinstance(result, str):
            unanswered: BatchOutcome = "expired" if result == "expired" else "canceled"
            await jobs.book.record_once(
                record.id, index, unanswered, custom_id, unanswered_line(record.dialect, custom_id, unanswered)
            )
            continue
        if isinstance(result, Message):
            answer = Answer(200, prepared[index].render(result), request_id)
        else:
            answer = error_answer(context, result, request_id)
        outcome: BatchOutcome = "succeeded" if answer.error is None else "errored"
        line = answered_line(record.dialect, custom_id, answer)
        if await jobs.book.record_once(record.id, index, outcome, custom_id, line):
            owners = (key, project)
            _account(jobs, record, owners, prepared[index], targets[index], str(plan["provider"]), request_id, result)
    await _release_hold(jobs, plan)
    current = await jobs.book.get(record.id)
    if current is not None and not current.closed:
        await finish(jobs, current, expired=not current.cancel_initiated_at)


def _target(jobs: Jobs, provider: str, stored: list[Any]) -> Target:
    model, entry_id, _ = stored
    return Target(provider, str(model), jobs.gateway.catalog.get(entry_id) if entry_id else None)


def _account(
    jobs: Jobs,
    record: BatchRecord,
    owners: tuple[ApiKeyRecord | None, Project | None],
    prepared: Prepared,
    stored: list[Any],
    provider: str,
    request_id: str,
    result: Message | AimuxError,
) -> None:
    """The request's record through the live path, at the batch price (its spend included: on the key, and
    on its project when the project has a budget, as a live request's settled holds record it)."""
    key, project = owners
    exchange = jobs.ledgers(record.dialect, request_id)
    exchange.key, exchange.project = key, project
    exchange.client_model = prepared.client_model
    if isinstance(result, AimuxError):
        exchange.failed(result)
        return
    target = _target(jobs, provider, stored)
    decision = Decision((target,), "batch", str(stored[2]), f"{provider} batch API", decided_by="native batch")
    admitted = Admitted(key, project=project) if key is not None else OPEN
    served = Served(decision, Outcome(target, [Attempt(target, "ok")]), admitted, batch=True)
    exchange.settled(jobs.gateway, served, result.usage)


async def _release_hold(jobs: Jobs, plan: Item) -> None:
    """Give the batch's budget holds back, the key's and its project's (each request's cost was recorded on
    its own); a plan stored with the older single ``hold`` too (``plan.stored_holds``)."""
    holds = stored_holds(plan)
    if not holds:
        return
    # the budget holds: only for a batch that held some
    from ...limits.reservations import BudgetHolds
    from ...state.store import StoreError

    budget = BudgetHolds(jobs.store, jobs.clock)
    for hold in holds:
        with contextlib.suppress(StoreError):  # unreachable store: the hold expires on its own
            await budget.settle(hold, 0)
