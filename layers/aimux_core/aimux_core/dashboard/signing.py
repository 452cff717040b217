"""SigV4 signatures for calls to a deployed admin API (API Gateway ``AWS_IAM`` routes, service ``execute-api``).

botocore does the signing (``SigV4Auth``), with the operator's credentials as botocore resolves them
(environment, profile, SSO, role), frozen per request so refreshed temporary credentials are used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

SERVICE = "execute-api"
_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class Signer(Protocol):
    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """The headers to send: ``headers`` plus the signature's (``authorization``, ``x-amz-date``...)."""
        ...


class SigningError(Exception):
    """No credentials to sign with; the message says what to do."""


def region_of(url_host: str) -> str | None:
    """The region in an API Gateway host name (``abc123.execute-api.eu-west-1.amazonaws.com``)."""
    match = _API_HOST.match(url_host.lower())
    return match.group(1) if match else None


class SigV4Signer:
    """Signs with the credentials of a boto3 session, for one region."""

    def __init__(self, session: Any, region: str) -> None:
        self.region = region
        self._credentials = session.get_credentials()
        if self._credentials is None:
            raise SigningError(
                "no AWS credentials found (environment, ~/.aws, SSO or an instance role): the admin API is "
                "IAM-only, and requests are signed with your own credentials"
            )

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        # deferred: botocore (the aws extra) loads with the first signed call
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self._credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())
