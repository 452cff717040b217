"""Anthropic's Message Batches API as a ``NativeBatches``: create, retrieve, results (JSONL), cancel."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ...errors import AimuxError
from ...providers.base import UpstreamCall
from ...translate.upstream_errors import malformed_answer
from .base import Result, call, json_of, result_error

if TYPE_CHECKING:
    from ...providers.anthropic import AnthropicProvider


class AnthropicBatches:
    def __init__(self, adapter: AnthropicProvider) -> None:
        self.adapter = adapter
        self.provider = adapter.name

    def _url(self, path: str = "") -> str:
        return f"{self.adapter.base_url}/v1/messages/batches{path}"

    async def submit(self, calls: Sequence[tuple[str, UpstreamCall]]) -> str:
        requests = [{"custom_id": custom_id, "params": self.adapter.batch_body(c)} for custom_id, c in calls]
        context = calls[0][1].context
        headers = self.adapter.batch_headers(context.anthropic_version, context.betas)
        answer = json_of(
            self.provider, await call(self.provider, "POST", self._url(), headers, json_body={"requests": requests})
        )
        batch_id = answer.get("id")
        if not isinstance(batch_id, str):
            raise malformed_answer(self.provider, "created a message batch without an id")
        return batch_id

    def _auth(self) -> dict[str, str]:
        return self.adapter.batch_headers()

    async def _retrieve(self, upstream_id: str) -> dict[str, object]:
        return json_of(self.provider, await call(self.provider, "GET", self._url(f"/{upstream_id}"), self._auth()))

    async def ended(self, upstream_id: str) -> bool:
        return (await self._retrieve(upstream_id)).get("processing_status") == "ended"

    async def results(self, upstream_id: str, models: Mapping[str, tuple[str, list[str]]]) -> dict[str, Result]:
        batch = await self._retrieve(upstream_id)
        url = batch.get("results_url")
        if not isinstance(url, str):
            raise malformed_answer(self.provider, "ended message batch without a results_url")
        response = await call(self.provider, "GET", url, self._auth())
        results: dict[str, Result] = {}
        for raw in response.content.splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            custom_id, result = str(line["custom_id"]), line["result"]
            kind = result.get("type")
            if kind == "succeeded":
                client_model = models.get(custom_id, ("", []))[0]
                try:
                    results[custom_id] = self.adapter.parse_answer(json.dumps(result["message"]).encode(), client_model)
                except AimuxError as error:
                    results[custom_id] = error
            elif kind == "errored":
                inner = (result.get("error") or {}).get("error") or {}
                results[custom_id] = result_error(
                    self.provider, str(inner.get("type") or "api_error"), str(inner.get("message") or "request failed")
                )
            else:
                results[custom_id] = "expired" if kind == "expired" else "canceled"
        return results

    async def cancel(self, upstream_id: str) -> None:
        await call(self.provider, "POST", self._url(f"/{upstream_id}/cancel"), self._auth())
