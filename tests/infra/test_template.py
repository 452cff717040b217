"""infra/template.yaml: the deployment's decisions, each pinned where a lint cannot see it.

The runtime is written once; the streaming function is wired to the Lambda Web Adapter the way the
adapter and the function URL must agree; provider keys never sit in environment variables; every
policy is scoped; every function has a log group with retention.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from infra_template import ROOT, load_template, properties, resources
from lambda_python import runtime_version

LAYER_DIR = ROOT / "layers" / "aimux_core"
STREAM = "MessagesStreamFunction"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Serverless::Function")


def _env(template: dict[str, Any], function: str) -> dict[str, Any]:
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(properties(template, function).get("Environment", {}).get("Variables", {}))
    return merged


def test_runtime_is_one_literal_that_the_layer_build_reads(template: dict[str, Any]) -> None:
    runtime = template["Globals"]["Function"]["Runtime"]
    assert re.fullmatch(r"python3\.\d+", runtime), "a literal, never a parameter (cp3XX wheels and .pyc)"
    code = [line.split("#")[0] for line in (ROOT / "infra" / "template.yaml").read_text().splitlines()]
    assert re.findall(r"python3\.\d+", "\n".join(code)) == [runtime], "written once, in Globals"
    for name, function in _functions(template).items():
        assert "Runtime" not in function["Properties"], f"{name} overrides Globals.Function.Runtime"
    layer = template["Resources"]["AimuxCoreLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # SAM's python builder ships no .pyc
    assert layer["Properties"]["CompatibleArchitectures"] == template["Globals"]["Function"]["Architectures"]
    assert runtime == f"python{runtime_version()}"

    # What sam would run: the layer Makefile must pick the template's version on its own.
    dry_run = subprocess.run(
        ["make", "-n", "-f", str(LAYER_DIR / "Makefile"), "build-AimuxCoreLayer", "ARTIFACTS_DIR=/nonexistent"],
        cwd="/tmp",  # sam runs make in a scratch copy, not in the source directory
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert f"{runtime} -m compileall" in dry_run.stdout
    assert "--invalidation-mode unchecked-hash" in dry_run.stdout
    assert f"--python-version {runtime_version()}" in dry_run.stdout


def test_stream_function_is_wired_for_the_web_adapter_and_a_streaming_url(template: dict[str, Any]) -> None:
    stream = properties(template, STREAM)
    env = _env(template, STREAM)
    assert stream["Handler"] == "run.sh"
    assert (ROOT / "functions" / "messages" / "run.sh").is_file()
    assert stream["CodeUri"].rstrip("/").endswith("functions/messages")
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_PORT"] == "8000"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"
    assert stream["FunctionUrlConfig"] == {"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"}
    assert env["AIMUX_AUTH"] == "on", "a public URL: the app must check gateway keys"
    assert 30 < stream["Timeout"] <= 900
    # The adapter layer follows the one architecture line (tests/infra/test_architecture.py).
    adapter = json.dumps(stream["Layers"])
    assert "753240598075:layer:LambdaAdapterLayerX86:${LwaLayerVersion}" in adapter
    assert "753240598075:layer:LambdaAdapterLayerArm64:${LwaLayerVersion}" in adapter
    assert "IsArm64" in adapter and template["Conditions"]["IsArm64"]["Fn::Equals"][0] == {
        "Fn::FindInMap": ["Lambda", "Build", "Architecture"]
    }


def test_optional_rest_api_streams_to_the_same_function(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["RestApi"]
    assert parameter["Default"] == "none" and set(parameter["AllowedValues"]) == {"none", "open", "api-key"}
    method = template["Resources"]["StreamRestProxyMethod"]
    assert method["Condition"] == "WantsRestApi"
    integration = method["Properties"]["Integration"]
    assert integration["Type"] == "AWS_PROXY"
    assert integration["ResponseTransferMode"] == "STREAM"
    assert integration["TimeoutInMillis"] == 900_000
    uri = integration["Uri"]["Fn::Sub"]
    assert "/2021-11-15/functions/${MessagesStreamFunction.Arn}/response-streaming-invocations" in uri
    for name, resource in template["Resources"].items():
        if name.startswith("StreamRest"):
            assert resource.get("Condition") in ("WantsRestApi", "WantsRestApiKey", "WantsRestApiWaf"), name


def test_buffered_functions_use_mangum_and_fit_the_http_api(template: dict[str, Any]) -> None:
    for name in ("MessagesFunction", "AdminFunction"):
        props = properties(template, name)
        assert props["Handler"] == "app.handler"
        assert props.get("Timeout", template["Globals"]["Function"]["Timeout"]) <= 30
    for name in ("messages", "admin"):
        source = (ROOT / "functions" / name / "app.py").read_text()
        assert 'Mangum(app, lifespan="off")' in source, f"functions/{name}/app.py"


def test_state_table(template: dict[str, Any]) -> None:
    table = template["Resources"]["StateTable"]
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_no_secret_in_environment_variables(template: dict[str, Any]) -> None:
    for name in _functions(template):
        for variable, value in _env(template, name).items():
            assert not re.search(r"(API_KEY|SECRET|TOKEN|PASSWORD)", variable), f"{name}: {variable}"
            assert variable != "AIMUX_PROVIDER_KEY_PATH" or value == {"Fn::Sub": "/${ProviderKeyPath}"}
        assert _env(template, name)["AIMUX_PROVIDER_KEY_PATH"], name


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        found += [(name, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for name, role in resources(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(name, s) for s in inline["PolicyDocument"]["Statement"]]
    return found


def test_policies_are_least_privilege(template: dict[str, Any]) -> None:
    for name, statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), f"{name}: wildcard action {actions}"
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == "*":
            # The only action without resource-level permissions that aimux needs.
            assert actions == ["cloudwatch:GetMetricData"], f"{name}: {actions} on *"
    for name, function in _functions(template).items():
        props = function["Properties"]
        assert "Policies" not in props, f"{name}: SAM's generated role adds AWSLambdaBasicExecutionRole (any log group)"
        role = props["Role"]["Fn::GetAtt"][0]
        assert template["Resources"][role]["Type"] == "AWS::IAM::Role"


def test_ssm_by_path_is_authorised_against_the_path_itself(template: dict[str, Any]) -> None:
    by_resource: dict[str, set[str]] = {}
    for _, statement in _statements(template):
        if any(str(a).startswith("ssm:") for a in json.dumps(statement["Action"]).split('"')):
            resource = statement["Resource"]["Fn::Sub"]
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            by_resource.setdefault(resource, set()).update(actions)
    base = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${ProviderKeyPath}"
    assert by_resource == {
        f"{base}/*": {"ssm:GetParameter", "ssm:GetParameters"},
        base: {"ssm:GetParametersByPath"},
    }


def test_table_access_is_item_operations_only(template: dict[str, Any]) -> None:
    statements = template["Resources"]["StateTablePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    existing = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${ExistingStateTable}"
    assert [s["Resource"] for s in statements] == [
        {"Fn::If": ["CreateStateTable", {"Fn::GetAtt": ["StateTable", "Arn"]}, {"Fn::Sub": existing}]}
    ]
    actions = set(statements[0]["Action"])
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"} <= actions
    assert not actions & {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:CreateTable"}


def test_each_function_writes_only_its_own_log_group_with_retention(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")
    for name, function in _functions(template).items():
        props = function["Properties"]
        group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        group_name = groups[group]["Properties"]["LogGroupName"]["Fn::Sub"]
        assert group_name == "/aws/lambda/" + props["FunctionName"]["Fn::Sub"], name
        role = template["Resources"][props["Role"]["Fn::GetAtt"][0]]["Properties"]
        log_statements = [
            s
            for inline in role["Policies"]
            for s in inline["PolicyDocument"]["Statement"]
            if "logs:" in str(s["Action"])
        ]
        assert [s["Resource"] for s in log_statements] == [{"Fn::GetAtt": [group, "Arn"]}], name


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["StreamFunctionUrl"]["Value"] == {"Fn::GetAtt": [f"{STREAM}Url", "FunctionUrl"]}
    assert "GatewayApi" in json.dumps(outputs["HttpApiUrl"]["Value"])
    table = {"Fn::If": ["CreateStateTable", {"Ref": "StateTable"}, {"Ref": "ExistingStateTable"}]}
    assert outputs["StateTableName"]["Value"] == table
