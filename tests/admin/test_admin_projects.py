"""``/admin/projects`` and ``aimux projects``: create, list, show, update, delete; keys in projects.

Over real loopback HTTP against the local app, and the CLI against the same gateway (its admin routes)
and against a DynamoDB table (moto's server, ``AIMUX_TABLE``), as an operator runs both.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import anthropic
import pytest
from admin_conftest import Deployment, cost_micro

from aimux_core.cli import main
from aimux_core.keys import KeyRing
from aimux_core.projects.admin import create_project
from aimux_core.state.dynamodb import DynamoStore
from fakes import Reply, Usage
from support.dynamo import REGION, DynamoServer, fake_aws_env, moto_server  # noqa: F401  (session fixture)

VIEW_FIELDS = {"name", "description", "rpm", "tpm", "budget_daily_usd", "budget_monthly_usd", "created_at",
               "updated_at", "keys", "spend_today_usd", "spend_month_usd", "spend_held_usd"}  # fmt: skip


def test_project_lifecycle_over_http(deployment: Deployment) -> None:
    with deployment.admin() as http:
        created = http.post("/admin/projects", json={"name": "web", "rpm": 600, "budget_daily_usd": 50.0,
                                                     "description": "the web team"})  # fmt: skip
        assert created.status_code == 201, created.text
        view = created.json()
        assert set(view) == VIEW_FIELDS
        assert (view["name"], view["rpm"], view["tpm"], view["budget_daily_usd"]) == ("web", 600, None, 50.0)
        assert view["keys"] == [] and view["spend_today_usd"] == view["spend_month_usd"] == 0.0
        assert http.post("/admin/projects", json={"name": "web"}).status_code == 409

        key, key_id = deployment.key("site", project="web")
        listed = http.get("/admin/projects").json()["projects"]
        assert [p["name"] for p in listed] == ["web"] and listed[0]["keys"] == [key_id]
        assert http.get(f"/admin/keys/{key_id}").json()["project"] == "web"

        _, other_id = deployment.key("moving")
        moved = http.patch(f"/admin/keys/{other_id}", json={"project": "web"})
        assert moved.status_code == 200 and moved.json()["project"] == "web"
        assert sorted(http.get("/admin/projects/web").json()["keys"]) == sorted([key_id, other_id])
        assert http.patch(f"/admin/keys/{other_id}", json={"project": None}).json()["project"] is None
        refused = http.patch(f"/admin/keys/{other_id}", json={"project": "web", "rpm": 5})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "rpm"
        changed = http.patch("/admin/projects/web", json={"tpm": 100000, "budget_daily_usd": None})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["rpm"], changed.json()["tpm"], changed.json()["budget_daily_usd"]) == (600, 100000, None)
        assert changed.json()["updated_at"] is not None
        assert http.get("/admin/projects/web").json()["tpm"] == 100000

        in_use = http.delete("/admin/projects/web")
        assert in_use.status_code == 409 and in_use.json()["error"]["param"] == "force"
        assert key_id in in_use.json()["error"]["message"]
        forced = http.delete("/admin/projects/web", params={"force": "true"})
        assert forced.status_code == 204 and forced.content == b""
        assert http.get("/admin/projects/web").status_code == 404
        assert http.get(f"/admin/keys/{key_id}").json()["project"] is None  # detached, still working
    claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
    assert claude.messages.create(model="gpt-4.1", max_tokens=8, messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("POST", "/admin/projects", {"name": "no spaces"}, 400, "name"),
        ("POST", "/admin/projects", {"name": "-dash-first"}, 400, "name"),
        ("POST", "/admin/projects", {"name": "ok", "rpm": 0}, 400, "rpm"),
        ("POST", "/admin/projects", {"name": "ok", "budget_daily_usd": -1}, 400, "budget_daily_usd"),
        ("POST", "/admin/projects", {"name": "ok", "owner": "x"}, 400, "owner"),
        ("POST", "/admin/projects", {"rpm": 5}, 400, "name"),
        ("GET", "/admin/projects/missing", None, 404, "project"),
        ("PATCH", "/admin/projects/missing", {"rpm": 5}, 404, "project"),
        ("PATCH", "/admin/projects/bad name", {"rpm": 5}, 400, "name"),
        ("DELETE", "/admin/projects/missing", None, 404, "project"),
        ("DELETE", "/admin/projects/missing?force=maybe", None, 400, "force"),
    ],
)
def test_bad_project_calls_are_refused_naming_the_field(
    deployment: Deployment, method: str, path: str, body: Any, status: int, param: str
) -> None:
    with deployment.admin() as http:
        answer = http.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param


def test_a_projects_spend_is_what_its_keys_clients_were_told(deployment: Deployment) -> None:
    deployment.anthropic.default = Reply(text="hi", usage=Usage(input_tokens=100, output_tokens=10))
    deployment.project("web", budget_daily_usd=10.0)
    told = 0
    for name in ("one", "two"):
        key, _ = deployment.key(name, project="web")
        claude = anthropic.Anthropic(base_url=deployment.url, api_key=key, max_retries=0)
        raw = claude.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
        told += round(float(raw.headers["x-aimux-cost-usd"]) * 1_000_000)
    assert told == 2 * cost_micro("claude-sonnet-4-5", 100, 10)
    with deployment.admin() as http:
        view = http.get("/admin/projects/web").json()
    assert view["spend_today_usd"] == view["spend_month_usd"] == told / 1_000_000
    assert view["spend_held_usd"] == 0.0 and len(view["keys"]) == 2


def aimux(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_projects_cli_against_a_local_gateway(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMUX_PORT", str(urlsplit(deployment.url).port))
    code, _, err = aimux(capsys, "projects", "create", "data", "--rpm", "60", "--budget-daily", "5",
                         "--description", "the data team")  # fmt: skip
    assert code == 0 and "created project data" in err
    code, out, _ = aimux(capsys, "keys", "create", "--name", "etl", "--project", "data")
    assert code == 0 and out.startswith("amx-")
    code, out, _ = aimux(capsys, "keys", "create", "--name", "loose")
    loose = json.loads(aimux(capsys, "keys", "list", "--json")[1])["keys"][-1]["id"]
    assert aimux(capsys, "keys", "move", loose, "--project", "data")[1] == f"{loose}: project data\n"
    code, _, err = aimux(capsys, "keys", "move", loose, "--project", "nowhere")
    assert code == 1 and "404" in err
    assert aimux(capsys, "keys", "move", loose, "--project", "none")[1] == f"{loose}: project none\n"
    code, out, _ = aimux(capsys, "projects", "list")
    assert code == 0 and "data" in out.splitlines()[1] and "the data team" in out
    code, out, _ = aimux(capsys, "projects", "update", "data", "--rpm", "none", "--tpm", "1000", "--json")
    shown = json.loads(out)
    assert code == 0 and (shown["rpm"], shown["tpm"], shown["budget_daily_usd"]) == (None, 1000, 5.0)
    code, out, _ = aimux(capsys, "projects", "show", "data")
    assert code == 0 and "tpm: 1000" in out and "rpm: -" in out
    code, _, err = aimux(capsys, "projects", "delete", "data")
    assert code == 1 and "409" in err and "still has 1 key" in err
    assert aimux(capsys, "projects", "delete", "data", "--force")[:2] == (0, "data: deleted\n")
    code, _, err = aimux(capsys, "projects", "show", "data")
    assert code == 1 and "404" in err
    code, _, err = aimux(capsys, "projects", "create", "bad name")
    assert code == 1 and "400" in err and "name" in err


def test_projects_cli_against_the_table(
    moto_server: DynamoServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    fake_aws_env(monkeypatch)
    monkeypatch.setenv("AIMUX_TABLE", moto_server.table)
    monkeypatch.setenv("AIMUX_DYNAMODB_ENDPOINT", moto_server.endpoint_url)
    name = f"cli-{abs(hash(moto_server.endpoint_url)) % 10_000}"
    code, out, _ = aimux(capsys, "projects", "create", name, "--tpm", "5000", "--json")
    assert code == 0 and json.loads(out)["tpm"] == 5000
    store = DynamoStore(moto_server.table, client=moto_server.shared_client(), region=REGION)
    found = asyncio.run(store.get("projects", name))
    assert found is not None and found["tpm"] == 5000  # what the deployed gateway reads
    code, out, _ = aimux(capsys, "projects", "list", "--json")
    assert code == 0 and name in [p["name"] for p in json.loads(out)["projects"]]
    assert aimux(capsys, "projects", "delete", name)[0] == 0
    assert asyncio.run(store.get("projects", name)) is None
    with pytest.raises(Exception, match="exists already"):
        ring = KeyRing(store)

        async def twice() -> None:
            await create_project(ring, name)
            await create_project(ring, name)

        asyncio.run(twice())
