"""A deployed aimux stack as CloudFormation reports it (moto over loopback HTTP), and a keyed gateway.

``aimux claude --stack``, ``aimux env --stack`` and ``aimux dashboard --stack`` read a stack's outputs
with boto3 ``DescribeStacks``; here that call reaches moto's server (``AWS_ENDPOINT_URL_CLOUDFORMATION``)
holding a stack whose outputs point at servers the test runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import boto3
import pytest

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.keys import KeyRing
from aimux_core.keys.admin import create_key
from aimux_core.state import MemoryStore

from .dynamo import FAKE_AWS_ENV, REAL_AWS_ENV, REGION, running_moto
from .server import serve


@contextmanager
def stack_with_outputs(name: str, outputs: Mapping[str, str], region: str = REGION) -> Iterator[dict[str, str | None]]:
    """Create stack ``name`` with ``outputs`` in a fresh moto server; yield the environment that reaches it
    (fake credentials, the endpoint; None: a real AWS variable to unset) for monkeypatch or a subprocess."""
    with running_moto() as endpoint:
        env: dict[str, str | None] = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL_CLOUDFORMATION": endpoint}
        env.update(dict.fromkeys(REAL_AWS_ENV))
        client = boto3.client(
            "cloudformation", region_name=region, endpoint_url=endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        template = {
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},  # moto: no-op
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        client.create_stack(StackName=name, TemplateBody=json.dumps(template))
        yield env


def apply_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str | None]) -> None:
    """Set (or, for None, unset) each variable for the rest of the test."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@contextmanager
def keyed_mock_gateway() -> Iterator[tuple[str, str]]:
    """The local app over the mock provider, requiring keys: its URL and one valid key."""
    keys = KeyRing(MemoryStore())
    plaintext, _ = asyncio.run(create_key(keys, name="client-tools"))
    with serve(local_app(build_mock_gateway(), keys)) as url:
        yield url, plaintext
