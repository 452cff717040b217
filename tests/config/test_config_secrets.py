"""Provider keys: environment variables, or SSM SecureStrings read lazily with Powertools Parameters and
cached for max_age, against moto's server over loopback HTTP."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from aimux_core.config import secrets
from aimux_core.config.secrets import KeySource, SecretError, looks_like_key, read_key
from aimux_core.settings import Settings, SettingsError

if TYPE_CHECKING:
    from .conftest import SsmServer

MAX_AGE_ENV = "POWERTOOLS_PARAMETERS_MAX_AGE"


def ssm_access(region: str | None) -> secrets.SsmAccess:
    """SSM as the environment describes it (the moto endpoint the fixtures set), in ``region``."""
    access = secrets.SsmAccess.of(Settings.from_env())
    return secrets.SsmAccess(region, access.endpoint, access.max_age)


SECRET = "sk-" "ant-api03-SECRETVALUE0123456789abcdef"


def test_env_key() -> None:
    assert read_key(KeySource(env="MY_KEY"), {"MY_KEY": f" {SECRET}\n"}) == SECRET


def test_missing_env_key_names_the_variable() -> None:
    with pytest.raises(SecretError, match="environment variable MY_KEY is not set"):
        read_key(KeySource(env="MY_KEY"), {})
    with pytest.raises(SecretError, match="is not set"):
        read_key(KeySource(env="MY_KEY"), {"MY_KEY": ""})


def unique_path() -> str:
    """A parameter path of its own: the moto server lives for the whole session."""
    return f"/aimux/test-{uuid.uuid4().hex[:8]}"


def test_ssm_secure_string_is_read_decrypted_and_cached_for_max_age(ssm_server: SsmServer) -> None:
    name = unique_path() + "/anthropic"
    ssm_server.put([(name, SECRET)])
    env = {"AWS_REGION": "us-east-1"}
    assert read_key(KeySource(ssm=name), env) == SECRET
    assert ssm_server.requests("GetParameter") == [{"Name": name, "WithDecryption": True}]
    ssm_server.put([(name, SECRET + "-rotated")])
    # within max_age (300 s by default): the cached value, no second call
    assert read_key(KeySource(ssm=name), env) == SECRET
    assert ssm_server.requests("GetParameter") == []
    secrets.clear_cache()
    assert read_key(KeySource(ssm=name), env) == SECRET + "-rotated"
    assert len(ssm_server.requests("GetParameter")) == 1


def test_max_age_comes_from_the_powertools_variable(ssm_server: SsmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().ssm_max_age == 300
    assert Settings.from_env({MAX_AGE_ENV: "60"}).ssm_max_age == 60
    for bad in ("soon", "-1", "1.5"):
        with pytest.raises(SettingsError, match=f"POWERTOOLS_PARAMETERS_MAX_AGE must be .* got '{bad}'"):
            Settings.from_env({MAX_AGE_ENV: bad})
    monkeypatch.setenv(MAX_AGE_ENV, "0")  # no cache: every read goes to SSM, a rotation shows at once
    name = unique_path() + "/zai"
    ssm_server.put([(name, SECRET)])
    assert secrets.read_ssm(name, region="us-east-1") == SECRET
    ssm_server.put([(name, SECRET + "-rotated")])
    assert secrets.read_ssm(name, region="us-east-1") == SECRET + "-rotated"
    assert len(ssm_server.requests("GetParameter")) == 1  # put() cleared the log after the first read's call


def test_a_bad_max_age_stops_the_read_with_a_clear_error(
    ssm_server: SsmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_AGE_ENV, "5m")
    with pytest.raises(SettingsError, match="POWERTOOLS_PARAMETERS_MAX_AGE must be a whole number"):
        secrets.read_ssm("/aimux/any", region="us-east-1")
    assert ssm_server.calls == []


def test_missing_parameter_is_named_and_not_cached(ssm_server: SsmServer) -> None:
    name = unique_path() + "/absent"
    with pytest.raises(SecretError, match=f"API key SSM parameter {name} does not exist") as caught:
        read_key(KeySource(ssm=name), {"AWS_REGION": "us-east-1"})
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no SDK text in tracebacks
    ssm_server.put([(name, SECRET)])
    assert read_key(KeySource(ssm=name), {"AWS_REGION": "us-east-1"}) == SECRET


def test_ssm_parameter_by_arn_uses_the_arn_region(ssm_server: SsmServer) -> None:
    name = unique_path() + "/eu"
    ssm_server.put([(name, SECRET)], region="eu-west-1")
    arn = ssm_server.client("eu-west-1").get_parameter(Name=name)["Parameter"]["ARN"]
    assert arn.startswith("arn:aws:ssm:eu-west-1:")
    assert read_key(KeySource(ssm=arn), {"AWS_REGION": "us-east-1"}) == SECRET


def test_keys_under_a_path_are_listed_page_by_page_and_cached(ssm_server: SsmServer) -> None:
    path = unique_path()
    keys = {f"{path}/provider-{i:02d}": f"{SECRET}-{i:02d}" for i in range(13)}  # moto pages by 10
    ssm_server.put([*keys.items(), (f"{path}/nested/deeper", SECRET), (f"{path}-sibling/x", SECRET)])
    ssm_server.put([(f"{path}/blank", " ")], kind="String")
    assert sorted(secrets.ssm_keys_under(path + "/", ssm_access("us-east-1"))) == sorted(keys)
    pages = ssm_server.requests("GetParametersByPath")
    assert len(pages) == 2 and pages[1]["NextToken"]
    assert all(p["Path"] == path and p["WithDecryption"] is True and p["Recursive"] is False for p in pages)
    # the listing's values serve the reads that follow, and a second listing within max_age
    assert all(secrets.read_ssm(name, region="us-east-1") == value for name, value in keys.items())
    assert secrets.ssm_keys_under(path, ssm_access("us-east-1"))
    assert len(ssm_server.calls) == 2


def test_ssm_errors_name_the_parameter_never_the_value(
    ssm_server: SsmServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="aimux")
    path = unique_path()
    ssm_server.put([(f"{path}/plain", SECRET)], kind="String")
    ssm_server.put([(f"{path}/blank", " ")])
    assert read_key(KeySource(ssm=f"{path}/plain"), {}) == SECRET
    assert f"SSM parameter {path}/plain holds an API key but is a String, not a SecureString" in caplog.text
    with pytest.raises(SecretError, match=f"API key SSM parameter {path}/blank is empty"):
        read_key(KeySource(ssm=f"{path}/blank"), {})
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    secrets.clear_cache()  # the region-less provider took its region from the environment when it was built
    with pytest.raises(SecretError, match=f"cannot list API key SSM parameters under {path} \\(NoRegionError\\)"):
        secrets.ssm_keys_under(path, ssm_access(None))
    with pytest.raises(SecretError, match=f"cannot read API key SSM parameter {path}/plain \\(NoRegionError\\)"):
        secrets.read_ssm(f"{path}/plain")
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "code",
    [
        "from aimux_core.config import secrets",
        "from aimux_core.config.secrets import KeySource, read_key\nread_key(KeySource(env='K'), {'K': 'v'})",
    ],
)
def test_importing_secrets_imports_no_aws_sdk(code: str) -> None:
    """Cold start: boto3, botocore and Powertools Parameters are imported on the first SSM read only."""
    shown = "sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore'})"
    probe = f"import sys\n{code}\nprint({shown}, 'aws_lambda_powertools.utilities.parameters' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[] False"


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


def test_ssm_values_are_redacted_by_value_as_they_arrive(ssm_server: SsmServer) -> None:
    """SSM keys arrive lazily (first request, or a listing): each is redacted from then on, whatever its shape."""
    from aimux_core.redaction import redact

    path = unique_path()
    listed, read = f"{uuid.uuid4().hex}.PLANTEDlisted0001", f"{uuid.uuid4().hex}.PLANTEDread00001"  # Z.AI's shape
    ssm_server.put([(f"{path}/zai", listed), (f"{path}-other/zai", read)])
    assert redact(f"echo {listed} {read}") == f"echo {listed} {read}"  # not known yet, and no known shape
    secrets.ssm_keys_under(path, ssm_access("us-east-1"))
    secrets.read_ssm(f"{path}-other/zai", region="us-east-1")
    assert redact(f"echo {listed} {read}") == "echo [redacted] [redacted]"
