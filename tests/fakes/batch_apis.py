"""Fake batch APIs: Anthropic Message Batches and OpenAI Files + Batch, on top of the fake Messages and Chat
Completions servers (the same scripted replies answer each request of a batch).

``AnthropicBatchUpstream`` adds ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
``GET .../results`` (JSONL at the ``results_url`` it announced) and ``POST .../cancel``.
``OpenAIBatchUpstream`` adds ``POST {base}/files`` (multipart, purpose ``batch``), ``GET {base}/files/{id}/content``,
``POST {base}/batches``, ``GET {base}/batches/{id}`` and ``POST {base}/batches/{id}/cancel``.

A batch ends on its ``polls``-th retrieval (default the first): each request is then answered by the next
scripted item (``Reply`` -> succeeded; ``Fault.http`` -> errored with that error), as the live endpoint
would answer it; a batch canceled before it ended answers none of its requests (all canceled). Requests
the real APIs would refuse (missing fields, no auth) get their 400/401. ``batches`` keeps what arrived.
"""

from __future__ import annotations

import json
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from fakes.anthropic_upstream import AnthropicUpstream
from fakes.base import Endpoint
from fakes.httpserver import RecordedRequest, Response
from fakes.openai_upstream import OpenAIUpstream
from fakes.script import Fault, Reply


def _as_request(path: str, body: dict[str, Any], headers: tuple[tuple[str, str], ...]) -> RecordedRequest:
    return RecordedRequest("POST", path, headers, json.dumps(body).encode())


class AnthropicBatchUpstream(AnthropicUpstream):
    def __init__(self, *, polls: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls = polls
        self.batches: dict[str, dict[str, Any]] = {}

    def route(self, request: RecordedRequest) -> Endpoint | None:
        parts = request.path.rstrip("/").split("/")
        if parts[:4] != ["", "v1", "messages", "batches"]:
            return super().route(request)
        if len(parts) == 4 and request.method == "POST":
            return self._create
        if len(parts) == 5 and request.method == "GET":
            return self._retrieve
        if len(parts) == 6 and parts[5] == "results" and request.method == "GET":
            return self._results
        if len(parts) == 6 and parts[5] == "cancel" and request.method == "POST":
            return self._cancel
        return None

    async def _create(self, request: RecordedRequest, response: Response) -> None:
        body = request.json
        if "x-api-key" not in request.headers or "anthropic-version" not in request.headers:
            refused = self.render_error(401, None, "x-api-key and anthropic-version are required")
            await self.emit(response, refused, None)
            return
        if not isinstance(body, dict) or not body.get("requests"):
            await self.emit(response, self.render_error(400, None, "requests: Field required"), None)
            return
        batch_id = self.next_id("msgbatch_")
        self.batches[batch_id] = {
            "requests": body["requests"],
            "headers": request.raw_headers,
            "status": "in_progress",
            "polls": 0,
            "results": None,
            "created": time.time(),
        }
        await self._send_json(response, self._object(batch_id))

    def _object(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        ended = batch["status"] == "ended"
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": batch["status"],
            "request_counts": {
                "processing": 0 if ended else len(batch["requests"]),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-02T00:00:00Z",
            "ended_at": None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{self.origin}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    async def _retrieve(self, request: RecordedRequest, response: Response) -> None:
        batch_id = request.path.rstrip("/").split("/")[4]
        batch = self.batches.get(batch_id)
        if batch is None:
            await self.emit(response, self.render_error(404, None, None), None)
            return
        batch["polls"] += 1
        if batch["status"] != "ended" and (batch["status"] == "canceling" or batch["polls"] >= self.polls):
            batch["results"] = [self._answer(r, batch) for r in batch["requests"]]
            batch["status"] = "ended"
        await self._send_json(response, self._object(batch_id))

    def _answer(self, item: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] == "canceling":
            return {"custom_id": item["custom_id"], "result": {"type": "canceled"}}
        scripted = self.queue.pop()
        if isinstance(scripted, Fault):
            error_type = scripted.error_type or "invalid_request_error"
            error = {"type": "error", "error": {"type": error_type, "message": scripted.message or "refused"}}
            return {"custom_id": item["custom_id"], "result": {"type": "errored", "error": error}}
        reply: Reply = scripted
        rendered = self.render_reply(reply, _as_request("/v1/messages", item["params"], batch["headers"]), False)
        message = json.loads(rendered.frames[0])
        return {"custom_id": item["custom_id"], "result": {"type": "succeeded", "message": message}}

    async def _results(self, request: RecordedRequest, response: Response) -> None:
        batch = self.batches.get(request.path.rstrip("/").split("/")[4])
        if batch is None or batch["results"] is None:
            await self.emit(response, self.render_error(404, None, None), None)
            return
        lines = "".join(json.dumps(result) + "\n" for result in batch["results"]).encode()
        await response.send(200, {"content-type": "application/binary"}, lines)

    async def _cancel(self, request: RecordedRequest, response: Response) -> None:
        batch_id = request.path.rstrip("/").split("/")[4]
        batch = self.batches.get(batch_id)
        if batch is None:
            await self.emit(response, self.render_error(404, None, None), None)
            return
        if batch["status"] == "in_progress":
            batch["status"] = "canceling"
        await self._send_json(response, self._object(batch_id))

    async def _send_json(self, response: Response, value: dict[str, Any]) -> None:
        await response.send(
            200, {"content-type": "application/json", "request-id": self.next_id("req_")}, json.dumps(value).encode()
        )


class OpenAIBatchUpstream(OpenAIUpstream):
    def __init__(self, *, polls: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls = polls
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def route(self, request: RecordedRequest) -> Endpoint | None:
        path = request.path.rstrip("/")
        if not path.startswith(self.base_path + "/"):
            return super().route(request)
        parts = path[len(self.base_path) :].split("/")  # ["", "files", id, "content"]
        if parts[1:2] == ["files"]:
            if len(parts) == 2 and request.method == "POST":
                return self._upload
            if len(parts) == 4 and parts[3] == "content" and request.method == "GET":
                return self._content
        if parts[1:2] == ["batches"]:
            if len(parts) == 2 and request.method == "POST":
                return self._create
            if len(parts) == 3 and request.method == "GET":
                return self._retrieve
            if len(parts) == 4 and parts[3] == "cancel" and request.method == "POST":
                return self._cancel
        return super().route(request)

    async def _upload(self, request: RecordedRequest, response: Response) -> None:
        head = f"content-type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        form = BytesParser(policy=HTTP).parsebytes(head + request.body)
        fields = {
            part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in form.iter_parts()
        }
        if fields.get("purpose") != b"batch" or not fields.get("file"):
            await self.emit(response, self._refusal(400, "file and purpose=batch"), None)
            return
        file_id = self.next_id("file-")
        self.files[file_id] = fields["file"]
        await self._send_json(
            response, {"id": file_id, "object": "file", "purpose": "batch", "bytes": len(fields["file"])}
        )

    async def _content(self, request: RecordedRequest, response: Response) -> None:
        data = self.files.get(request.path.rstrip("/").split("/")[-2])
        if data is None:
            await self.emit(response, self._refusal(404, "No such File object"), None)
            return
        await response.send(200, {"content-type": "application/octet-stream"}, data)

    async def _create(self, request: RecordedRequest, response: Response) -> None:
        body = request.json or {}
        if body.get("input_file_id") not in self.files or body.get("completion_window") != "24h":
            await self.emit(response, self._refusal(400, "bad batch"), None)
            return
        batch_id = self.next_id("batch_")
        self.batches[batch_id] = {
            "input_file_id": body["input_file_id"],
            "endpoint": body.get("endpoint"),
            "status": "validating",
            "polls": 0,
            "headers": request.raw_headers,
        }
        await self._send_json(response, self._object(batch_id))

    def _object(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        return {
            "id": batch_id,
            "object": "batch",
            "endpoint": batch["endpoint"],
            "status": batch["status"],
            "input_file_id": batch["input_file_id"],
            "completion_window": "24h",
            "created_at": 1,
            "output_file_id": batch.get("output_file_id"),
            "error_file_id": batch.get("error_file_id"),
        }

    async def _retrieve(self, request: RecordedRequest, response: Response) -> None:
        batch_id = request.path.rstrip("/").split("/")[-1]
        batch = self.batches.get(batch_id)
        if batch is None:
            await self.emit(response, self._refusal(404, "No batch"), None)
            return
        batch["polls"] += 1
        if batch["status"] in ("validating", "in_progress") and batch["polls"] >= self.polls:
            self._finish(batch, "completed")
        elif batch["status"] == "cancelling":
            self._finish(batch, "cancelled")
        await self._send_json(response, self._object(batch_id))

    def _finish(self, batch: dict[str, Any], status: str) -> None:
        output, errors = [], []
        for raw in self.files[batch["input_file_id"]].splitlines():
            line = json.loads(raw)
            entry: dict[str, Any] = {"id": self.next_id("batch_req_"), "custom_id": line["custom_id"]}
            if status == "cancelled":
                errors.append({**entry, "response": None, "error": {"code": "batch_cancelled", "message": "cancelled"}})
                continue
            scripted = self.queue.pop()
            if isinstance(scripted, Fault):
                body = {"error": {"message": scripted.message or "refused", "type": "invalid_request_error"}}
                errors.append(
                    {**entry, "response": {"status_code": scripted.status or 400, "body": body}, "error": None}
                )
                continue
            path = self.base_path + "/chat/completions"
            rendered = self.render_reply(scripted, _as_request(path, line["body"], batch["headers"]), False)
            response = {"status_code": 200, "request_id": "req_x", "body": json.loads(rendered.frames[0])}
            output.append({**entry, "response": response, "error": None})
        for name, lines in (("output_file_id", output), ("error_file_id", errors)):
            if lines:
                file_id = self.next_id("file-")
                self.files[file_id] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                batch[name] = file_id
        batch["status"] = status

    async def _cancel(self, request: RecordedRequest, response: Response) -> None:
        batch_id = request.path.rstrip("/").split("/")[-2]
        batch = self.batches.get(batch_id)
        if batch is None:
            await self.emit(response, self._refusal(404, "No batch"), None)
            return
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelling"
        await self._send_json(response, self._object(batch_id))

    def _refusal(self, status: int, message: str) -> Any:
        return self._error(status, "invalid_request_error", None, message, param=None)

    async def _send_json(self, response: Response, value: dict[str, Any]) -> None:
        await response.send(200, {"content-type": "application/json"}, json.dumps(value).encode())
