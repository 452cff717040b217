"""Ending a batch: its result files written once, then the batch closed (``records.BatchBook.close``).

Anthropic: ``batches/<id>/results.jsonl``, every request's line in request order (requests never run are
``canceled`` or ``expired``). OpenAI: the output file (``succeeded`` lines) and the error file (the others),
each also a ``file`` record of the batch's owner (ids ``batches_openai.output_file_id``/``error_file_id``).

The files are written before the close, from the items as read; if a request commits meanwhile, the
close refuses (``done`` moved) and the whole step runs again, so the files always match the counts.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from ..state.store import ConditionFailed
from .batches_openai import error_file_id, output_file_id
from .files import FILE_RETENTION_SECONDS, FileRecord
from .lines import line_spans, request_of, unanswered_line
from .records import BatchRecord

if TYPE_CHECKING:
    from .runtime import Jobs

log = logging.getLogger("aimux.jobs")
_ATTEMPTS = 5


def results_blob(batch_id: str) -> str:
    return f"batches/{batch_id}/results.jsonl"


def output_blob(batch_id: str, kind: str) -> str:
    return f"batches/{batch_id}/{kind}.jsonl"


async def finish(jobs: Jobs, record: BatchRecord, *, expired: bool) -> BatchRecord | None:
    """Write the results and close ``record``'s batch; None when it kept changing (try again later)."""
    book = jobs.book
    current: BatchRecord | None = record
    for _ in range(_ATTEMPTS):
        if current is None or current.closed:
            return current
        if current.dialect == "openai" and not current.finalizing_at:
            with contextlib.suppress(ConditionFailed):
                await book.add(current.id, {"finalizing_at": jobs.clock.now()}, expect={"finalizing_at": 0})
        await _write_results(jobs, current, expired=expired)
        closed = await book.close(current, expired=expired)
        if closed is not None:
            log.info(
                "batch %s ended: %d succeeded, %d errored, %d canceled, %d expired",
                closed.id,
                closed.n_succeeded,
                closed.n_errored,
                closed.n_canceled,
                closed.n_expired,
            )
            return closed
        current = await book.get(record.id)
    return None


async def _write_results(jobs: Jobs, record: BatchRecord, *, expired: bool) -> None:
    items = {item.index: item for item in await jobs.book.items(record.id) if item.state == "done"}
    lines: list[tuple[int, str, str]] = []  # index, outcome, line
    missing = [index for index in range(record.total) if index not in items]
    custom_ids = await _custom_ids(jobs, record) if missing else {}
    for index in range(record.total):
        item = items.get(index)
        if item is None:
            outcome = "expired" if expired else "canceled"
            lines.append((index, outcome, unanswered_line(record.dialect, custom_ids.get(index, str(index)), outcome)))
            continue
        text = item.line
        if item.line_blob:
            data = await jobs.blobs.get(item.line_blob)
            text = data.decode() if data is not None else ""
        lines.append((index, item.outcome, text))
    if record.dialect == "anthropic":
        await jobs.blobs.put(results_blob(record.id), _join(line for _, _, line in lines))
        return
    good = _join(line for _, outcome, line in lines if outcome == "succeeded")
    bad = _join(line for _, outcome, line in lines if outcome != "succeeded")
    for file_id, kind, data in ((output_file_id(record.id), "output", good), (error_file_id(record.id), "errors", bad)):
        if not data:
            continue
        blob = output_blob(record.id, kind)
        await jobs.blobs.put(blob, data)
        now = jobs.clock.now()
        name = f"{record.id}_{kind}.jsonl"
        await jobs.files.save(
            FileRecord(file_id, record.owner, name, len(data), "batch_output", now, now + FILE_RETENTION_SECONDS, blob)
        )


async def _custom_ids(jobs: Jobs, record: BatchRecord) -> dict[int, str]:
    data = await jobs.blobs.get(record.input_blob) or b""
    ids: dict[int, str] = {}
    for index, (start, end) in enumerate(line_spans(data)):
        try:
            ids[index] = request_of(record.dialect, data[start:end])[0]
        except (ValueError, KeyError, TypeError):
            ids[index] = str(index)
    return ids


def _join(lines: object) -> bytes:
    text = "".join(f"{line}\n" for line in lines)  # type: ignore[attr-defined]
    return text.encode()
