"""Where batch inputs, results and async-job bodies live: S3 when deployed, a local folder otherwise.

Keys are relative paths (``batches/<id>/input.jsonl``); nothing else is shared between the two
implementations. Every ``put`` replaces the whole object (callers write each key once, or the same
content again on a retry), ``get`` returns the bytes or None when the key does not exist, and ``get``
with ``start``/``end`` returns that byte range (inclusive start, exclusive end): a worker reads only
its part of a batch's input. S3 calls run on a worker thread (boto3 is synchronous) and boto3 is
imported on first use.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Protocol


class Blobs(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


def _check(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid blob key {key!r}")


class LocalBlobs:
    """Files under ``root`` (``AIMUX_DATA_DIR``, default ``./.aimux``); written atomically by rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        _check(key)
        return self.root / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes | None:
        return await asyncio.to_thread(self._read, self._path(key), start, end)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(lambda: path.unlink(missing_ok=True))

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{id(data):x}.part")
        partial.write_bytes(data)
        partial.replace(path)

    @staticmethod
    def _read(path: Path, start: int | None, end: int | None) -> bytes | None:
        try:
            with path.open("rb") as handle:
                if start:
                    handle.seek(start)
                if end is None:
                    return handle.read()
                return handle.read(max(0, end - (start or 0)))
        except FileNotFoundError:
            return None


class S3Blobs:
    """Objects in ``bucket`` (``AIMUX_BUCKET``), encrypted at rest by the bucket's default (SSE-S3 or KMS)."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self._endpoint = endpoint_url
        self._client = client

    def _s3(self) -> Any:
        if self._client is None:
            from .aws import client  # boto3 on the first blob read or write (cold start)

            self._client = client("s3", self._endpoint)
        return self._client

    async def put(self, key: str, data: bytes) -> None:
        _check(key)
        await asyncio.to_thread(lambda: self._s3().put_object(Bucket=self.bucket, Key=key, Body=data))

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes | None:
        _check(key)
        return await asyncio.to_thread(self._get, key, start, end)

    async def delete(self, key: str) -> None:
        _check(key)
        await asyncio.to_thread(lambda: self._s3().delete_object(Bucket=self.bucket, Key=key))

    def _get(self, key: str, start: int | None, end: int | None) -> bytes | None:
        s3 = self._s3()
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start is not None or end is not None:
            if end is not None and end <= (start or 0):
                return b""
            last = "" if end is None else str(end - 1)
            arguments["Range"] = f"bytes={start or 0}-{last}"
        try:
            answer = s3.get_object(**arguments)
        except s3.exceptions.NoSuchKey:
            return None
        return bytes(answer["Body"].read())
