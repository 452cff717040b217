"""A stand-in for a deployed admin API behind API Gateway's ``AWS_IAM`` auth: it verifies SigV4.

Each request's signature is recomputed with botocore from the known secret of the one access key it
trusts, over exactly the headers the request says it signed, its method, path, query and body hash,
for service ``execute-api`` in ``region``, within 5 minutes of now. Anything else gets API Gateway's
403 ``{"message": ...}``; a verified request is answered by ``app`` (the real admin app in the tests).
What it saw is kept in ``seen`` (caller key id and verdict per request).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class SigV4Verifier:
    """ASGI app: verify, then pass to ``app``."""

    app: ASGIApp
    access_key: str
    secret_key: str
    region: str
    session_token: str | None = None
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        verdict = self.verify(scope, body)
        self.seen.append((scope["path"], verdict))
        if verdict != "ok":
            await JSONResponse({"message": verdict}, status_code=403)(scope, receive, send)
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def verify(self, scope: Scope, body: bytes) -> str:
        headers = Headers(scope=scope)
        match = _AUTH.match(headers.get("authorization", ""))
        if match is None:
            return "Missing Authentication Token"
        if match["key"] != self.access_key:
            return "The security token included in the request is invalid."
        if (match["region"], match["service"]) != (self.region, "execute-api"):
            return f"Credential should be scoped to a valid region and service: {match['region']}/{match['service']}"
        amz_date = headers.get("x-amz-date", "")
        try:
            signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return "missing or malformed x-amz-date"
        if abs((dt.datetime.now(dt.UTC) - signed_at).total_seconds()) > 300 or match["date"] != amz_date[:8]:
            return "Signature expired"
        if headers.get("x-amz-security-token") != self.session_token:
            return "The security token included in the request is invalid."
        signed = match["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "host and x-amz-date must be signed"
        query = scope.get("query_string", b"").decode()
        url = f"http://{headers['host']}{scope.get('raw_path', scope['path'].encode()).decode()}" + (
            f"?{query}" if query else ""
        )
        request = AWSRequest(method=scope["method"], url=url, data=body,
                             headers={name: headers[name] for name in signed if name in headers})  # fmt: skip
        if len(request.headers) != len(signed):
            return "a signed header is missing"
        request.context["timestamp"] = amz_date
        auth = SigV4Auth(Credentials(self.access_key, self.secret_key, self.session_token), "execute-api", self.region)
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        if expected != match["signature"]:
            return (
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            )
        return "ok"
