"""samconfig.toml: plain `sam build`, `sam validate` and `sam deploy --guided` work from the repository root."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from infra_template import ROOT, load_template

ENVIRONMENTS = ("default", "prod")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_commands_find_the_template_from_the_root(config: dict[str, Any], env: str) -> None:
    section = config[env]
    assert section["build"]["parameters"]["template_file"] == "infra/template.yaml"
    assert section["validate"]["parameters"]["template_file"] == "infra/template.yaml"
    assert section["validate"]["parameters"]["lint"] is True
    assert (ROOT / section["build"]["parameters"]["template_file"]).is_file()
    # sam validate without --lint and sam deploy need a region; SAM CLI does not read AWS_REGION.
    assert section["global"]["parameters"]["region"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_uses_the_built_template_with_the_capabilities_it_needs(config: dict[str, Any], env: str) -> None:
    deploy = config[env]["deploy"]["parameters"]
    assert deploy["template_file"] == ".aws-sam/build/template.yaml"  # with the layer's .pyc, not the sources
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["resolve_s3"] is True  # sam deploy --guided creates the artifact bucket


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_parameter_overrides_name_real_parameters(config: dict[str, Any], env: str) -> None:
    parameters = load_template()["Parameters"]
    overrides = dict(item.split("=", 1) for item in config[env]["deploy"]["parameters"]["parameter_overrides"].split())
    assert set(overrides) <= set(parameters), set(overrides) - set(parameters)
    for name, value in overrides.items():
        allowed = parameters[name].get("AllowedValues")
        assert allowed is None or value in [str(v) for v in allowed], (name, value)


def test_environments_deploy_separate_stacks(config: dict[str, Any]) -> None:
    stacks = {config[env]["global"]["parameters"]["stack_name"] for env in ENVIRONMENTS}
    stages = {config[env]["deploy"]["parameters"]["parameter_overrides"].split()[0] for env in ENVIRONMENTS}
    assert len(stacks) == len(stages) == len(ENVIRONMENTS)
