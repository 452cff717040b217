"""Fixtures of the configuration tests: writing config files, a clean key cache, fake AWS credentials,
and moto's server on loopback HTTP with a log of the SSM calls it received."""

from __future__ import annotations

import io
import json
import logging
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aimux_core.config import secrets

MAX_AGE_ENV = "POWERTOOLS_PARAMETERS_MAX_AGE"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text (dedented) to ``aimux.yaml`` in a temporary directory and return its path."""

    def write(text: str, name: str = "aimux.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    secrets.clear_cache()
    yield
    secrets.clear_cache()


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and region for moto; nothing from the developer's own AWS setup leaks in."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", MAX_AGE_ENV):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@dataclass
class SsmServer:
    """moto's server on 127.0.0.1 and every SSM call it received: (operation, JSON request body)."""

    endpoint: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in list(self.calls) if name == operation]

    def client(self, region: str = "us-east-1") -> Any:
        """A plain boto3 client on the server, for the tests' own puts."""
        import boto3

        return boto3.session.Session().client("ssm", region_name=region, endpoint_url=self.endpoint)

    def put(self, values: Iterable[tuple[str, str]], kind: str = "SecureString", region: str = "us-east-1") -> None:
        client = self.client(region)
        for name, value in values:
            client.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)
        self.calls.clear()


@pytest.fixture(scope="session")
def _moto_ssm_server() -> Iterator[SsmServer]:
    """moto's WSGI app (what ``ThreadedMotoServer`` serves) behind a recorder, on a free loopback port."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    moto_app = DomainDispatcherApplication(create_backend_app)
    calls: list[tuple[str, dict[str, Any]]] = []

    def recorder(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if service == "AmazonSSM":
            calls.append((operation, json.loads(body or b"{}")))
        return moto_app(environ, start_response)

    server = make_server("127.0.0.1", 0, recorder, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-ssm", daemon=True)
    thread.start()
    try:
        yield SsmServer(f"http://127.0.0.1:{server.server_port}", calls)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def ssm_server(_moto_ssm_server: SsmServer, fake_aws: None, monkeypatch: pytest.MonkeyPatch) -> SsmServer:
    """The session's server, reached the way a deployment would configure it (``AWS_ENDPOINT_URL``)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_ssm_server.endpoint)
    _moto_ssm_server.calls.clear()
    return _moto_ssm_server
