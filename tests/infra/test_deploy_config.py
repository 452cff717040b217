"""Shipping a configuration, and the template's safe defaults.

A deployment's aimux.yaml lives in one place, infra/aimux.yaml: ``sam build`` (the layer Makefile's
ship-config step) copies it into the layer as /opt/aimux.yaml after checking it, and the deployed app
reads it (tests/config/test_config_deployed.py). Without it the deployment configures itself from the
SSM path. The defaults below are what a public deployment should start with.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_template import ROOT, load_template, properties, render_sub, sub_body
from lambda_python import find_lambda_python

LAYER_MAKEFILE = ROOT / "layers" / "aimux_core" / "Makefile"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "AimuxCoreLayer" / "python"
GOOD = "version: 1\nproviders:\n  mock: {preset: mock}\nmodels:\n  team-model: {provider: mock}\n"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _ship(tmp_path: Path, config: str | None) -> subprocess.CompletedProcess[str]:
    """The layer Makefile's ship-config step, as sam build runs it, with the built layer's packages."""
    python = find_lambda_python()
    if python is None or not BUILT_LAYER.is_dir():
        reason = "needs the runtime's Python and a sam build (make sam-check)"
        pytest.fail(reason) if os.environ.get("AIMUX_REQUIRE_SAM") == "1" else pytest.skip(reason)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "python").symlink_to(BUILT_LAYER)
    source = tmp_path / "aimux.yaml"
    if config is not None:
        source.write_text(config)
    return subprocess.run(
        ["make", "-f", str(LAYER_MAKEFILE), "ship-config", f"ARTIFACTS_DIR={artifacts}", f"DEPLOY_CONFIG={source}",
         f"PY={python}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_build_ships_a_valid_configuration_as_opt_aimux_yaml(tmp_path: Path) -> None:
    shipped = _ship(tmp_path, GOOD)
    assert shipped.returncode == 0, shipped.stderr
    assert f"ships {tmp_path / 'aimux.yaml'} as /opt/aimux.yaml" in shipped.stdout
    assert (tmp_path / "artifacts" / "aimux.yaml").read_text() == GOOD
    assert "team-model -> mock/mock" in shipped.stdout or "team-model" in shipped.stdout  # aimux config check


def test_the_build_refuses_a_configuration_aimux_would_refuse(tmp_path: Path) -> None:
    refused = _ship(tmp_path, "version: 1\nprovidres: {}\n")
    assert refused.returncode != 0
    assert "providres" in refused.stdout + refused.stderr


def test_without_a_configuration_nothing_is_shipped(tmp_path: Path) -> None:
    shipped = _ship(tmp_path, None)
    assert shipped.returncode == 0, shipped.stderr
    assert "the deployment configures itself from SSM" in shipped.stdout
    assert not (tmp_path / "artifacts" / "aimux.yaml").exists()


def test_the_example_configurations_ssm_keys_are_readable_by_the_functions(template: dict[str, Any]) -> None:
    """Every api_key_ssm in aimux.example.yaml lies under the path ProviderKeysReadPolicy allows."""
    example = yaml.safe_load((ROOT / "aimux.example.yaml").read_text())
    paths = [p["api_key_ssm"] for p in example["providers"].values() if "api_key_ssm" in p]
    assert paths
    statement = template["Resources"]["ProviderKeysReadPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    allowed = render_sub(template, sub_body(statement["Resource"]))  # ...:parameter/aimux/providers/*
    prefix = "/" + allowed.split(":parameter/", 1)[1].removesuffix("*")
    assert [p for p in paths if not p.startswith(prefix)] == []


def test_the_public_function_url_has_a_concurrency_cap_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["StreamReservedConcurrency"]
    assert int(parameter["Default"]) > 0
    stream = properties(template, "MessagesStreamFunction")
    assert stream["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasStreamConcurrencyLimit", {"Ref": "StreamReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_http_api_access_logs_are_on_and_carry_no_headers(template: dict[str, Any]) -> None:
    settings = properties(template, "GatewayApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    group = properties(template, "ApiAccessLogGroup")
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fields = re.findall(r"\$context\.([\w.]+)", settings["Format"])
    assert {"requestId", "routeKey", "status", "integrationLatency", "integrationErrorMessage"} <= set(fields)
    assert not [f for f in fields if "header" in f.lower() or "authorization" in f.lower()], fields
    assert isinstance(json.loads(re.sub(r"\$context\.[\w.]+", "x", settings["Format"])), dict)


def test_a_retained_table_can_be_adopted_by_a_new_stack(template: dict[str, Any]) -> None:
    """After `sam delete`, the table stays (keys, spend); a new stack of the stage uses it by name."""
    parameter = template["Parameters"]["ExistingStateTable"]
    assert parameter["Default"] == ""
    table = template["Resources"]["StateTable"]
    assert table["Condition"] == "CreateStateTable" and table["DeletionPolicy"] == "Retain"
    assert template["Conditions"]["CreateStateTable"] == {"Fn::Equals": [{"Ref": "ExistingStateTable"}, ""]}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["AIMUX_TABLE"] == {"Fn::If": ["CreateStateTable", {"Ref": "StateTable"}, {"Ref": "ExistingStateTable"}]}
    readme = (ROOT / "infra" / "README.md").read_text()
    assert "ExistingStateTable=aimux-state-" in readme
