"""Who made an admin change, for the log line that records it (and the breaker record it changes).

Deployed, API Gateway's IAM authorizer has checked the caller's SigV4 signature and puts the principal
in the request context (Mangum passes the event as ``scope["aws.event"]``): its ARN, else its caller id.
Locally the access rules (``admin_access.py``) admitted a loopback caller, or a holder of the admin token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request


def iam_principal(scope: Mapping[str, Any]) -> str | None:
    """``requestContext.authorizer.iam`` of the Lambda event: ``userArn``, else ``callerId``; None off Lambda."""
    event = scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    if not isinstance(iam, Mapping):
        return None
    for field in ("userArn", "callerId", "userId", "accountId"):
        value = iam.get(field)
        if isinstance(value, str) and value:
            return value[:300]
    return None


def caller_identity(request: Request, *, token_required: bool) -> str:
    """The IAM principal deployed; ``token`` when the admin token admitted the caller; else ``loopback``."""
    principal = iam_principal(request.scope)
    if principal is not None:
        return principal
    if token_required:
        return "token"
    client = request.client
    return f"loopback ({client.host})" if client is not None else "loopback"
