"""infra/template.yaml: lint-clean, and consistent with the code it deploys.

cfn-lint checks CloudFormation/SAM schemas; these tests check what it cannot know: that every route
the app serves is routed to it, that the admin routes stay behind IAM, and that nothing behind the
HTTP API outlives its 30 s limit. The rest of the deployment's checks are in tests/infra.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
from lambda_harness import ROOT

from aimux_core.assembly import messages_app
from aimux_core.settings import Settings

sys.path.insert(0, str(ROOT / "infra"))
from cfn_yaml import load_template
from local_lambda import sam_venv

TEMPLATE = ROOT / "infra" / "template.yaml"
HTTP_API_MAX_SECONDS = 30

# App routes deliberately not exposed through the HTTP API: /healthz is the Lambda Web Adapter's
# readiness probe on the streaming function, not a client route.
NOT_ON_HTTP_API = {"/healthz"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def _http_routes(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    events = template["Resources"][function]["Properties"].get("Events", {})
    return [event["Properties"] for event in events.values() if event["Type"] == "HttpApi"]


def _http_api_matches(route_path: str, path: str) -> bool:
    """HTTP API path matching: literal segments, ``{name}`` one segment, trailing ``{name+}`` the rest."""
    pattern, actual = route_path.strip("/").split("/"), path.strip("/").split("/")
    for index, segment in enumerate(pattern):
        if segment.startswith("{") and segment.endswith("+}"):
            return len(actual) > index
        if index >= len(actual):
            return False
        if not (segment.startswith("{") and segment.endswith("}")) and segment != actual[index]:
            return False
    return len(actual) == len(pattern)


@pytest.mark.timeout(180)
def test_cfn_lint_passes() -> None:
    cfn_lint = sam_venv() / "bin" / "cfn-lint"  # pinned once, with the SAM CLI (infra/requirements-sam.in)
    if not cfn_lint.exists():
        reason = f"no {cfn_lint} (run `make sam-tools`)"
        pytest.fail(reason) if os.environ.get("AIMUX_REQUIRE_SAM") == "1" else pytest.skip(reason)
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, f"cfn-lint found problems:\n{result.stdout}{result.stderr}"


def test_every_client_route_of_the_app_is_routed_to_the_messages_function(template: dict[str, Any]) -> None:
    routes = _http_routes(template, "MessagesFunction")
    missing = []
    for route in messages_app(Settings()).routes:
        path: str = getattr(route, "path", "")
        if path in NOT_ON_HTTP_API:
            continue
        concrete = re.sub(r"\{[^}:]+:path\}", "org/some-model", re.sub(r"\{[^}:]+\}", "x", path))
        for method in sorted(set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"}):
            if not any(
                r["Method"].upper() in ("ANY", method) and _http_api_matches(r["Path"], concrete) for r in routes
            ):
                missing.append(f"{method} {path}")
    assert not missing, f"served by the app but not routed by infra/template.yaml: {missing}"


def test_admin_routes_require_iam_and_client_routes_stay_off_admin(template: dict[str, Any]) -> None:
    admin = _http_routes(template, "AdminFunction")
    assert admin
    for route in admin:
        assert route["Path"].startswith("/admin/")
        assert route.get("Auth", {}).get("Authorizer") == "AWS_IAM", route
    for route in _http_routes(template, "MessagesFunction"):
        assert not route["Path"].startswith("/admin"), route
        assert not _http_api_matches(route["Path"], "/admin/status"), route


def test_functions_behind_the_http_api_stop_before_its_30_second_limit(template: dict[str, Any]) -> None:
    """The app answers first (its request deadline), then Lambda stops it, and only then would API
    Gateway cut the request: each strictly before the next, so the client gets the app's own 504."""
    globals_ = template["Globals"]["Function"]
    for name, function in _resources(template, "AWS::Serverless::Function").items():
        routes = _http_routes(template, name)
        if not routes:
            continue
        timeout = function["Properties"].get("Timeout", globals_["Timeout"])
        assert timeout < HTTP_API_MAX_SECONDS, name
        for route in routes:
            assert route.get("TimeoutInMillis", 30_000) <= HTTP_API_MAX_SECONDS * 1000, (name, route)
        if name == "MessagesFunction":  # the one that calls upstreams
            variables = {**globals_["Environment"]["Variables"], **function["Properties"]["Environment"]["Variables"]}
            assert float(variables["AIMUX_DEADLINE_SECONDS"]) < timeout, name
