"""OpenAI Files for batches: uploads (``purpose=batch``) and the output/error files batches produce.

    file#<id>          meta   ``owner``, ``filename``, ``bytes``, ``purpose``, ``created_at``, ``blob``
                              (the content's key in the blob store); TTL at its expiry
    files#<owner>      <id>   the owner's list index (ids sort by creation time)

An upload is one blob write and one transaction (record and index). Files are visible only to the key
that uploaded them (or, with auth off, to everyone); a batch's output and error files belong to the
batch's owner. Uploads expire after 30 days like OpenAI's batch files (``expires_after`` may shorten it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..state.clock import Clock
from ..state.store import ABSENT, Store
from ..state.transaction import DeleteOp, PutOp
from .blobs import Blobs
from .ids import ALL, FILE, new_id

META = "meta"
FILE_RETENTION_SECONDS = 30 * 86_400
PURPOSES = frozenset({"batch", "batch_output"})


def file_pk(file_id: str) -> str:
    return f"file#{file_id}"


def files_pk(owner: str) -> str:
    return f"files#{owner}"


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    owner: str
    filename: str
    bytes: int
    purpose: str
    created_at: float
    expires: float
    blob: str

    def wire(self) -> dict[str, Any]:
        """The ``file`` object of OpenAI's API."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": int(self.created_at),
            "expires_at": int(self.expires),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileBook:
    def __init__(self, store: Store, blobs: Blobs, clock: Clock) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock

    async def upload(self, owner: str, filename: str, purpose: str, data: bytes, seconds: float | None) -> FileRecord:
        now = self.clock.now()
        file_id = new_id(FILE, now)
        record = FileRecord(
            file_id,
            owner,
            filename,
            len(data),
            purpose,
            now,
            now + (seconds or FILE_RETENTION_SECONDS),
            f"files/{file_id}",
        )
        await self.blobs.put(record.blob, data)
        await self.save(record, expect_new=True)
        return record

    async def save(self, record: FileRecord, *, expect_new: bool = False) -> None:
        """Write the record and its index entry (a batch's output files: again on a retry, same content)."""
        item = {
            "owner": record.owner,
            "filename": record.filename,
            "bytes": record.bytes,
            "purpose": record.purpose,
            "created_at": record.created_at,
            "expires": record.expires,
            "blob": record.blob,
            "expires_at": record.expires,
        }
        expect = ABSENT if expect_new else None
        await self.store.transact(
            [
                PutOp(file_pk(record.id), META, item, expect),
                PutOp(files_pk(record.owner), record.id, {"expires_at": record.expires}, expect),
            ]
        )

    async def get(self, file_id: str) -> FileRecord | None:
        item = await self.store.get(file_pk(file_id), META)
        if item is None:
            return None
        return FileRecord(
            file_id,
            str(item["owner"]),
            str(item["filename"]),
            int(item["bytes"]),
            str(item["purpose"]),
            float(item["created_at"]),
            float(item["expires"]),
            str(item["blob"]),
        )

    async def list_ids(self, owner: str) -> list[str]:
        return [str(item["sk"]) for item in await self.store.query(files_pk(owner), *ALL)]

    async def content(self, record: FileRecord) -> bytes:
        data = await self.blobs.get(record.blob)
        return data if data is not None else b""

    async def delete(self, record: FileRecord) -> None:
        await self.store.transact([DeleteOp(file_pk(record.id), META), DeleteOp(files_pk(record.owner), record.id)])
        await self.blobs.delete(record.blob)
