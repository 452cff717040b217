"""OpenAI's Files and Batch APIs as a ``NativeBatches``: upload the JSONL, create, retrieve, output files, cancel."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import AimuxError
from ...providers.base import UpstreamCall
from ...translate.upstream_errors import malformed_answer
from .base import Result, call, json_of, result_error

if TYPE_CHECKING:
    from ...providers.openai import OpenAIProvider

ENDPOINT = "/v1/chat/completions"


class OpenAIBatches:
    def __init__(self, adapter: OpenAIProvider) -> None:
        self.adapter = adapter
        self.provider = adapter.name

    def _headers(self, *, json_body: bool = True) -> dict[str, str]:
        headers = self.adapter.headers
        if not json_body:
            headers.pop("content-type", None)  # httpx sets the multipart boundary
        return headers

    async def submit(self, calls: Sequence[tuple[str, UpstreamCall]]) -> str:
        lines = []
        for custom_id, upstream_call in calls:
            body, _ = self.adapter.build_body(upstream_call.request, upstream_call.model, stream=False)
            lines.append(
                json.dumps(
                    {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": json.loads(body)},
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
            )
        content = ("\n".join(lines) + "\n").encode()
        base = self.adapter.base_url
        uploaded = json_of(
            self.provider,
            await call(
                self.provider,
                "POST",
                f"{base}/files",
                self._headers(json_body=False),
                files={"file": ("aimux-batch.jsonl", content, "application/jsonl")},
                data={"purpose": "batch"},
            ),
        )
        batch = json_of(
            self.provider,
            await call(
                self.provider,
                "POST",
                f"{base}/batches",
                self._headers(),
                json_body={"input_file_id": uploaded.get("id"), "endpoint": ENDPOINT, "completion_window": "24h"},
            ),
        )
        batch_id = batch.get("id")
        if not isinstance(batch_id, str):
            raise malformed_answer(self.provider, "created a batch without an id")
        return batch_id

    async def _retrieve(self, upstream_id: str) -> dict[str, Any]:
        response = await call(self.provider, "GET", f"{self.adapter.base_url}/batches/{upstream_id}", self._headers())
        return json_of(self.provider, response)

    async def ended(self, upstream_id: str) -> bool:
        status = (await self._retrieve(upstream_id)).get("status")
        return status in ("completed", "failed", "expired", "cancelled")

    async def results(self, upstream_id: str, models: Mapping[str, tuple[str, list[str]]]) -> dict[str, Result]:
        batch = await self._retrieve(upstream_id)
        results: dict[str, Result] = {}
        ended_as = "expired" if batch.get("status") == "expired" else "canceled"
        for name in ("output_file_id", "error_file_id"):
            file_id = batch.get(name)
            if not isinstance(file_id, str) or not file_id:
                continue
            url = f"{self.adapter.base_url}/files/{file_id}/content"
            content = (await call(self.provider, "GET", url, self._headers())).content
            for raw in content.splitlines():
                if raw.strip():
                    line = json.loads(raw)
                    results[str(line["custom_id"])] = self._result(line, models, ended_as)
        return results

    def _result(self, line: dict[str, Any], models: Mapping[str, tuple[str, list[str]]], ended_as: str) -> Result:
        response, error = line.get("response"), line.get("error")
        if isinstance(response, dict) and response.get("status_code") == 200:
            client_model, tool_names = models.get(str(line["custom_id"]), ("", []))
            try:
                return self.adapter.parse_answer(response.get("body") or {}, client_model, tool_names)
            except AimuxError as failure:
                return failure
        if isinstance(response, dict):
            inner = (response.get("body") or {}).get("error") or {}
            kind = "invalid_request_error" if int(response.get("status_code") or 500) < 500 else "api_error"
            return result_error(self.provider, kind, str(inner.get("message") or "request failed"))
        code = str((error or {}).get("code") or "")
        if code in ("batch_expired", "batch_cancelled"):
            return "expired" if code == "batch_expired" else "canceled"
        if error:
            return result_error(self.provider, "api_error", str(error.get("message") or "request failed"))
        return ended_as

    async def cancel(self, upstream_id: str) -> None:
        await call(self.provider, "POST", f"{self.adapter.base_url}/batches/{upstream_id}/cancel", self._headers())
