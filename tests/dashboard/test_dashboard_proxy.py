"""``aimux dashboard``: the page on 127.0.0.1, its admin calls SigV4-signed to the deployed admin API.

The deployed side is a stand-in that verifies every signature (``support/sigv4_standin.py``) in front of
the real admin app, so a proxy that signed wrongly (other credentials, region or service, an unsigned
body or query) gets API Gateway's 403 and these tests fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import httpx
import pytest

from aimux_core.assembly import build_mock_gateway
from aimux_core.dashboard.proxy import create_proxy_app
from aimux_core.dashboard.signing import SigV4Signer, region_of
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin import create_admin_app
from aimux_core.surfaces.admin_access import AdminAccess
from support.server import free_port, serve
from support.sigv4_standin import SigV4Verifier
from support.stacks import stack_with_outputs

ACCESS_KEY, SECRET_KEY, REGION = "AKIA" + "OPERATOR00000001", "operator-secret-key/abc+def", "eu-west-1"


@dataclass
class Deployed:
    url: str
    verifier: SigV4Verifier


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    """The admin app as the admin function runs it (IAM-guarded), behind a verifying API Gateway stand-in."""
    deployed = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "aimux-admin-test"})
    admin = create_admin_app(build_mock_gateway(), KeyRing(MemoryStore()), access=AdminAccess(deployed))
    verifier = SigV4Verifier(admin, ACCESS_KEY, SECRET_KEY, REGION)
    with serve(verifier) as url:
        yield Deployed(url, verifier)


def signer(secret: str = SECRET_KEY, region: str = REGION, access_key: str = ACCESS_KEY) -> SigV4Signer:
    session = boto3.Session(aws_access_key_id=access_key, aws_secret_access_key=secret, region_name=region)
    return SigV4Signer(session, region)


@pytest.fixture
def dashboard(deployed: Deployed) -> Iterator[str]:
    port = free_port()
    with serve(create_proxy_app(deployed.url, signer(), port=port), port=port) as url:
        yield url


def test_reads_and_changes_reach_the_deployed_admin_api_signed(dashboard: str, deployed: Deployed) -> None:
    intent = {"x-aimux-admin": "dashboard"}
    with httpx.Client(base_url=dashboard, timeout=10) as http:
        assert http.get("/admin/status").json()["providers"] == ["mock"]
        created = http.post("/admin/keys", json={"name": "from-the-page", "rpm": 5}, headers=intent)
        assert created.status_code == 201, created.text
        assert created.json()["api_key"].startswith("amx-") and created.headers["cache-control"] == "no-store"
        key_id = created.json()["id"]
        assert http.post(f"/admin/keys/{key_id}/disable", headers=intent).json()["disabled"] is True  # no body
        listed = http.get("/admin/keys", params={"x": "a b&c"})  # a query is signed too
        assert [k["id"] for k in listed.json()["keys"]] == [key_id]
        assert http.delete(f"/admin/keys/{key_id}", headers=intent).json()["deleted"] is True
        missing = http.get(f"/admin/keys/{key_id}")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"  # relayed as is
    assert deployed.verifier.seen and all(verdict == "ok" for _, verdict in deployed.verifier.seen[-6:])


def test_the_stand_in_refuses_wrong_signatures(deployed: Deployed) -> None:
    """The negative control: the same proxy with other credentials, region or key is refused."""
    wrongs = (
        signer(secret="not-the-secret"),
        signer(region="us-east-1"),
        signer(access_key="AKIA" + "SOMEONEELSE00001"),
    )
    for wrong in wrongs:
        port = free_port()
        with serve(create_proxy_app(deployed.url, wrong, port=port), port=port) as url:
            refused = httpx.get(f"{url}/admin/status", timeout=10)
        assert refused.status_code == 403, wrong.region
        assert "message" in refused.json()
    unsigned = httpx.get(f"{deployed.url}/admin/status", timeout=10)
    assert unsigned.status_code == 403 and unsigned.json() == {"message": "Missing Authentication Token"}


def test_the_page_is_served_locally_and_the_browser_gets_no_credentials(dashboard: str) -> None:
    page = httpx.get(f"{dashboard}/admin/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{dashboard}/admin/ui/app.js", timeout=10).status_code == 200
    for answer in (page, httpx.get(f"{dashboard}/admin/status", timeout=10)):
        assert not any(name.startswith("x-amz") or name == "authorization" for name in answer.headers)
        assert SECRET_KEY not in answer.text and ACCESS_KEY not in answer.text


def test_only_its_own_page_may_drive_it(dashboard: str, deployed: Deployed) -> None:
    """It signs with the operator's credentials: other sites' pages, rebound host names and forms are refused."""
    port = dashboard.rsplit(":", 1)[1]
    before = len(deployed.verifier.seen)
    cases = [
        ("GET", {"host": f"evil.example:{port}"}),  # DNS rebinding: another name resolving to 127.0.0.1
        ("GET", {"origin": "https://evil.example"}),
        ("POST", {"content-type": "application/x-www-form-urlencoded"}),  # a cross-site form: no x-aimux-admin
        ("POST", {"origin": "https://evil.example", "x-aimux-admin": "1"}),
    ]
    for method, headers in cases:
        refused = httpx.request(method, f"{dashboard}/admin/keys", headers=headers, content=b"name=x", timeout=10)
        assert refused.status_code == 403, headers
        assert refused.json()["error"]["type"] == "permission_error"
    assert len(deployed.verifier.seen) == before  # nothing was forwarded
    own = {"origin": f"http://localhost:{port}", "host": f"localhost:{port}"}
    assert httpx.get(f"{dashboard}/admin/keys", headers=own, timeout=10).status_code == 200


def test_an_unreachable_admin_api_is_a_clear_502() -> None:
    port = free_port()
    with serve(create_proxy_app(f"http://127.0.0.1:{free_port()}", signer(), port=port), port=port) as url:
        answer = httpx.get(f"{url}/admin/health", timeout=10)
    assert answer.status_code == 502 and "did not answer" in answer.json()["error"]["message"]


def test_the_region_is_read_from_the_api_host() -> None:
    assert region_of("abc123defg.execute-api.eu-west-1.amazonaws.com") == "eu-west-1"
    assert region_of("abc123defg.execute-api.cn-north-1.amazonaws.com.cn") == "cn-north-1"
    assert region_of("127.0.0.1") is None


def test_aimux_dashboard_serves_a_stack_with_the_operators_credentials(deployed: Deployed) -> None:
    """The command as an operator runs it: --stack reads HttpApiUrl, credentials come from the environment."""
    port = free_port()
    outputs = {"HttpApiUrl": deployed.url + "/", "StreamFunctionUrl": "https://x"}
    with stack_with_outputs("aimux-prod", outputs, region=REGION) as aws:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMUX_", "AWS_"))}
        env.update({k: v for k, v in aws.items() if v is not None})
        env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
        process = subprocess.Popen(
            [sys.executable, "-m", "aimux_core.cli", "dashboard", "--stack", "aimux-prod", "--region", REGION,
             "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            status = _wait_for(f"http://127.0.0.1:{port}/admin/status", process)
            assert status.json()["providers"] == ["mock"]
            assert httpx.get(f"http://127.0.0.1:{port}/admin/", timeout=10).status_code == 200
        finally:
            process.terminate()
            _, err = process.communicate(timeout=10)
    assert f"dashboard of {deployed.url} at http://127.0.0.1:{port}/admin/" in err
    assert deployed.verifier.seen[-1] == ("/admin/status", "ok")


def test_aimux_dashboard_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMUX_", "AWS_"))}
    env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true"})  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "aimux_core.cli", "dashboard", "--url", "https://abc.execute-api.eu-west-1.amazonaws.com"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "no AWS credentials found" in done.stderr


def _wait_for(url: str, process: subprocess.Popen[str], seconds: float = 20) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")
