"""Provider keys: environment variables, or SSM SecureStrings read lazily and cached per process."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from aimux_core.config import secrets
from aimux_core.config.secrets import KeySource, SecretError, looks_like_key, read_key

SECRET = "sk-" "ant-api03-SECRETVALUE0123456789abcdef"


def test_env_key() -> None:
    assert read_key(KeySource(env="MY_KEY"), {"MY_KEY": f" {SECRET}\n"}) == SECRET


def test_missing_env_key_names_the_variable() -> None:
    with pytest.raises(SecretError, match="environment variable MY_KEY is not set"):
        read_key(KeySource(env="MY_KEY"), {})
    with pytest.raises(SecretError, match="is not set"):
        read_key(KeySource(env="MY_KEY"), {"MY_KEY": ""})


@pytest.mark.usefixtures("fake_aws")
def test_ssm_secure_string_is_read_decrypted_once_and_cached() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/aimux/test/anthropic", Value=SECRET, Type="SecureString")
        assert read_key(KeySource(ssm="/aimux/test/anthropic"), {"AWS_REGION": "us-east-1"}) == SECRET
        ssm.delete_parameter(Name="/aimux/test/anthropic")
        # cached per process: the deleted parameter is not read again
        assert read_key(KeySource(ssm="/aimux/test/anthropic"), {"AWS_REGION": "us-east-1"}) == SECRET
        secrets.clear_cache()
        with pytest.raises(SecretError, match="SSM parameter /aimux/test/anthropic does not exist"):
            read_key(KeySource(ssm="/aimux/test/anthropic"), {"AWS_REGION": "us-east-1"})


@pytest.mark.usefixtures("fake_aws")
def test_ssm_parameter_by_arn_uses_the_arn_region() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/aimux/eu", Value=SECRET, Type="SecureString")
        arn = ssm.get_parameter(Name="/aimux/eu")["Parameter"]["ARN"]
        assert read_key(KeySource(ssm=arn), {"AWS_REGION": "us-east-1"}) == SECRET


@pytest.mark.usefixtures("fake_aws")
def test_ssm_errors_never_contain_the_value(caplog: pytest.LogCaptureFixture) -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/aimux/plain", Value=SECRET, Type="String")
        assert read_key(KeySource(ssm="/aimux/plain"), {}) == SECRET
    assert "not a SecureString" in caplog.text
    assert SECRET not in caplog.text


def test_boto3_is_not_imported_for_env_keys() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from aimux_core.config.secrets import KeySource, read_key\n"
        "read_key(KeySource(env='K'), {'K': 'v'})\n"
        "print('boto3' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "value",
    ["sk-ant-api03-abc", "sk-proj-abc", "gsk_abc", "AIzaSyA", "AKIA" "ABCDEFGHIJKLMNOP",
     "3f9a1c2b7d8e4f6a9b0c1d2e3f4a5b6c.Xy7Zq9Wv", "Bearer abc", "eyJhbGciOiJIUzI1NiJ9"],
)  # fmt: skip
def test_looks_like_key(value: str) -> None:
    assert looks_like_key(value)


@pytest.mark.parametrize(
    "value",
    ["ANTHROPIC_API_KEY", "OPENROUTER_API_KEY_PRODUCTION_2024", "AZUREOPENAIKEYPRODUCTION2024",
     "/aimux/prod/anthropic-api-key", "arn:aws:ssm:us-east-1:123456789012:parameter/aimux/zai"],
)  # fmt: skip
def test_names_do_not_look_like_keys(value: str) -> None:
    assert not looks_like_key(value)
