"""One architecture, written once: the functions, the layer's wheels, the adapter and the check follow it.

The bug this guards against: ``sam build --parameter-overrides Architecture=arm64`` built arm64 functions
with an x86_64 layer and said "Build Succeeded"; infra/check_build.py then said OK, because its CPU came
from the layer Makefile's LAMBDA_ARCH and not from the template. Now the CPU is one mapping line;
``make sam-check`` builds the template's CPU and the other one, and checks both from their built templates.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfn_yaml import build_architecture
from check_build import check_build
from infra_template import ROOT, TEMPLATE, load_template, properties
from template_variant import variant

LAYER_MAKEFILE = ROOT / "layers" / "aimux_core" / "Makefile"
OTHER_BUILD = ROOT / "build" / "sam" / "other-arch" / "build"
ARCH_REF = {"Fn::FindInMap": ["Lambda", "Build", "Architecture"]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _layer_make(
    target: str, tmp_path: Path, template: Path = TEMPLATE, *, dry_run: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """What sam runs: the layer Makefile by absolute path, from a scratch directory."""
    return subprocess.run(
        ["make", "-f", str(LAYER_MAKEFILE), target, f"ARTIFACTS_DIR={tmp_path}", *(["-n"] if dry_run else [])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "TEMPLATE": str(template), **env},
    )


def test_the_architecture_is_one_mapping_that_everything_references(template: dict[str, Any]) -> None:
    code = [line.split("#")[0] for line in TEMPLATE.read_text().splitlines()]
    assert len([line for line in code if re.match(r"^\s*Architecture:", line)]) == 1
    assert build_architecture(template) in ("x86_64", "arm64")
    assert "Architecture" not in template["Parameters"], "a deploy-time value could disagree with the build"
    assert template["Globals"]["Function"]["Architectures"] == [ARCH_REF]
    layer = template["Resources"]["AimuxCoreLayer"]
    assert layer["Properties"]["CompatibleArchitectures"] == [ARCH_REF]
    assert layer["Metadata"]["BuildArchitecture"] == ARCH_REF  # part of sam build's cache key
    for name, resource in template["Resources"].items():
        assert "Architectures" not in resource.get("Properties", {}), f"{name} sets its own architecture"


@pytest.mark.parametrize("arch, wheels", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_the_layer_makefile_picks_wheels_for_the_templates_cpu(tmp_path: Path, arch: str, wheels: str) -> None:
    copy = tmp_path / "template.yaml"
    copy.write_text(variant(TEMPLATE.read_text(), arch, TEMPLATE.parent))
    dry_run = _layer_make("build-AimuxCoreLayer", tmp_path, copy)
    assert dry_run.returncode == 0, dry_run.stderr
    assert f"--platform manylinux_2_28_{wheels}" in dry_run.stdout
    assert f"_{'aarch64' if wheels == 'x86_64' else 'x86_64'}" not in dry_run.stdout


def test_the_layer_makefile_refuses_a_stale_lambda_arch_or_an_unknown_cpu(tmp_path: Path) -> None:
    arch = build_architecture(load_template())
    other = "arm64" if arch == "x86_64" else "x86_64"
    assert _layer_make("check-env", tmp_path, dry_run=False, LAMBDA_ARCH=arch).returncode == 0
    stale = _layer_make("check-env", tmp_path, dry_run=False, LAMBDA_ARCH=other)
    assert stale.returncode != 0
    assert f"LAMBDA_ARCH={other} is set, but the architecture is '{arch}'" in stale.stderr
    assert "Mappings/Lambda/Build/Architecture, the one place it is written" in stale.stderr
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace(f"Architecture: {arch}", "Architecture: aarch64", 1))
    refused = _layer_make("check-env", tmp_path, broken, dry_run=False)
    assert refused.returncode != 0
    assert "must be x86_64 or arm64, got 'aarch64'" in refused.stderr


def test_the_variant_changes_only_the_architecture_and_the_code_paths(template: dict[str, Any]) -> None:
    other = "arm64" if build_architecture(template) == "x86_64" else "x86_64"
    copy = variant(TEMPLATE.read_text(), other, TEMPLATE.parent)
    from cfn_yaml import loads

    changed = loads(copy)
    assert build_architecture(changed) == other
    assert properties(changed, "MessagesFunction")["CodeUri"] == f"{ROOT}/functions/messages/"
    assert changed["Resources"]["AimuxCoreLayer"]["Properties"]["ContentUri"] == f"{ROOT}/layers/aimux_core/"
    with pytest.raises(ValueError, match="x86_64 or arm64"):
        variant(TEMPLATE.read_text(), "aarch64", TEMPLATE.parent)


def test_the_other_architecture_builds_and_passes_the_artifact_check(template: dict[str, Any]) -> None:
    """`make sam-check` builds the CPU the template does not name too; both must pass the same check."""
    if not (OTHER_BUILD / "template.yaml").is_file():
        reason = f"no {OTHER_BUILD} (make sam-check builds it)"
        pytest.fail(reason) if os.environ.get("AIMUX_REQUIRE_SAM") == "1" else pytest.skip(reason)
    other = "arm64" if build_architecture(template) == "x86_64" else "x86_64"
    report = check_build(OTHER_BUILD)
    assert report.problems == []
    assert f"architecture {other} (Mappings.Lambda.Build.Architecture)" in report.facts
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[other]
    modules = list((OTHER_BUILD / "AimuxCoreLayer" / "python").rglob("*.so"))
    assert modules and all(machine in m.name or m.name.endswith(".abi3.so") for m in modules)


# ---------------------------------------------------------------- the Web Adapter layer, per partition
def _evaluate(node: Any, template: dict[str, Any], context: dict[str, str]) -> Any:
    """CloudFormation's evaluation of the intrinsics the adapter's ARN uses (Sub, FindInMap, If, Ref)."""
    if isinstance(node, list):
        return [_evaluate(item, template, context) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        name = node["Ref"]
        return context[name] if name in context else str(template["Parameters"][name]["Default"])
    if "Fn::FindInMap" in node:
        mapping, first, second = _evaluate(node["Fn::FindInMap"], template, context)
        return template["Mappings"][mapping][first][second]
    if "Fn::If" in node:
        condition, then, otherwise = node["Fn::If"]
        return _evaluate(then if _condition(condition, template, context) else otherwise, template, context)
    if "Fn::Equals" in node:
        left, right = _evaluate(node["Fn::Equals"], template, context)
        return left == right
    if "Fn::Sub" in node:
        body, variables = node["Fn::Sub"] if isinstance(node["Fn::Sub"], list) else (node["Fn::Sub"], {})
        values = {**context, **{k: _evaluate(v, template, context) for k, v in variables.items()}}

        def value(match: re.Match[str]) -> str:
            return str(values.get(match.group(1)) or _evaluate({"Ref": match.group(1)}, template, context))

        return re.sub(r"\$\{([^}]+)\}", value, body)
    raise AssertionError(f"not evaluated here: {node}")


def _condition(name: str, template: dict[str, Any], context: dict[str, str]) -> bool:
    return bool(_evaluate(template["Conditions"][name], template, context))


def _adapter_arn(template: dict[str, Any], partition: str, region: str, arch: str) -> str:
    changed = {**template, "Mappings": {**template["Mappings"], "Lambda": {"Build": {"Architecture": arch}}}}
    layers = properties(template, "MessagesStreamFunction")["Layers"]
    context = {"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": "123456789012"}
    return str(_evaluate(layers[0], changed, context))


@pytest.mark.parametrize(
    "partition, region, arch, arn",
    [
        ("aws", "us-east-1", "x86_64", "arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:27"),
        ("aws", "eu-west-1", "arm64", "arn:aws:lambda:eu-west-1:753240598075:layer:LambdaAdapterLayerArm64:27"),
        ("aws-cn", "cn-north-1", "x86_64", "arn:aws-cn:lambda:cn-north-1:041581134020:layer:LambdaAdapterLayerX86:27"),
        (
            "aws-cn", "cn-northwest-1", "x86_64",
            "arn:aws-cn:lambda:cn-northwest-1:069767869989:layer:LambdaAdapterLayerX86:27",
        ),
    ],
)  # fmt: skip
def test_the_adapter_layer_arn_is_the_one_aws_publishes(
    template: dict[str, Any], partition: str, region: str, arch: str, arn: str
) -> None:
    assert _adapter_arn(template, partition, region, arch) == arn


def test_partitions_without_the_adapter_are_refused_before_anything_is_created(template: dict[str, Any]) -> None:
    # No arm64 adapter in China: the stack names a layer that cannot exist, and why, so the deploy stops.
    refused = _adapter_arn(template, "aws-cn", "cn-north-1", "arm64")
    assert refused.endswith(":123456789012:layer:no-arm64-lambda-web-adapter-in-china-build-x86_64:1")
    assertions = template["Rules"]["WebAdapterIsPublishedHere"]["Assertions"]
    partitions = assertions[0]["Assert"]["Fn::Contains"]
    assert partitions == [["aws", "aws-cn"], {"Ref": "AWS::Partition"}]  # aws-us-gov, aws-iso*: refused
    assert "not in GovCloud" in assertions[0]["AssertDescription"]
    china = assertions[1]["Assert"]["Fn::Or"][1]["Fn::Contains"]
    assert china == [["cn-north-1", "cn-northwest-1"], {"Ref": "AWS::Region"}]
    assert set(template["Mappings"]["WebAdapterChina"]) == set(china[0])
