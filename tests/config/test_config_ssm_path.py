"""Deployed without a config file: providers come from the key parameters under AIMUX_PROVIDER_KEY_PATH
(in-process moto, and moto's server over loopback HTTP for the paging test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from aimux_core.assembly import build_gateway
from aimux_core.config import config_from_environment
from aimux_core.config.secrets import clear_cache
from aimux_core.state import MemoryStore

if TYPE_CHECKING:
    from .conftest import SsmServer

ENV = {"AIMUX_PROVIDER_KEY_PATH": "/aimux/providers", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clear_cache()
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        yield client
    clear_cache()


def test_presets_are_enabled_by_their_key_parameters(ssm: object) -> None:
    ssm.put_parameter(Name="/aimux/providers/anthropic", Value="sk-ant-test-anthropic", Type="SecureString")  # type: ignore[attr-defined]
    ssm.put_parameter(Name="/aimux/providers/zai", Value="zai-test-key-value", Type="SecureString")  # type: ignore[attr-defined]
    ssm.put_parameter(Name="/aimux/providers/not-a-preset", Value="x", Type="SecureString")  # type: ignore[attr-defined]
    config = config_from_environment(ENV)
    assert set(config.providers) == {"anthropic", "zai"}
    assert config.providers["anthropic"].api_key_ssm == "/aimux/providers/anthropic"
    gateway = build_gateway(config, env=ENV, store=MemoryStore())
    assert set(gateway.providers) == {"anthropic", "zai"}


def test_an_empty_path_falls_back_to_the_mock(ssm: object) -> None:
    assert set(config_from_environment(ENV).providers) == {"mock"}


def test_key_variables_win_over_the_parameter_path(ssm: object) -> None:
    ssm.put_parameter(Name="/aimux/providers/zai", Value="zai-test-key-value", Type="SecureString")  # type: ignore[attr-defined]
    config = config_from_environment({**ENV, "OPENAI_API_KEY": "sk-test-openai"})
    assert set(config.providers) == {"openai"}


def test_a_path_of_many_parameters_is_paged_and_its_values_serve_the_providers(ssm_server: SsmServer) -> None:
    path = f"/aimux/providers-{uuid.uuid4().hex[:8]}"
    others = [(f"{path}/other-{i:02d}", f"other-test-key-{i:02d}") for i in range(11)]  # moto pages by 10
    ssm_server.put([*others, (f"{path}/zai", "zai-test-key-value"), (f"{path}/anthropic", "sk-ant-test-anthropic")])
    env = {**ENV, "AIMUX_PROVIDER_KEY_PATH": path}
    config = config_from_environment(env)
    assert set(config.providers) == {"anthropic", "zai"}
    gateway = build_gateway(config, env=env, store=MemoryStore())
    assert set(gateway.providers) == {"anthropic", "zai"}
    assert len(ssm_server.requests("GetParametersByPath")) == 2
    assert ssm_server.requests("GetParameter") == []  # the listing's decrypted values were enough
