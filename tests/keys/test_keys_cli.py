"""``aimux keys ...`` as an operator runs it: against a local gateway over loopback, and against ``aimux serve``."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.cli import main
from aimux_core.errors import AuthenticationFailed, PermissionDenied
from aimux_core.keys import KeyRing
from aimux_core.state import MemoryStore
from support.serve_process import aimux_serve
from support.server import free_port, serve

KEY = re.compile(r"^amx-[a-z2-7]{52}$")


@pytest.fixture
def gateway_keys() -> KeyRing:
    return KeyRing(MemoryStore(), cache_seconds=30)


@pytest.fixture
def local_url(gateway_keys: KeyRing, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local gateway (client API + admin) checking ``gateway_keys``; ``AIMUX_PORT`` points the CLI at it."""
    monkeypatch.delenv("AIMUX_TABLE", raising=False)
    with serve(local_app(build_mock_gateway(), gateway_keys)) as url:
        monkeypatch.setenv("AIMUX_PORT", str(urlsplit(url).port))
        yield url


def aimux(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_cli_against_a_local_gateway(
    local_url: str, gateway_keys: KeyRing, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = aimux(
        capsys, "keys", "create", "--name", "ci bot", "--owner", "ana", "--project", "p1", "--rpm", "60",
        "--tpm", "90000", "--budget-daily", "5", "--budget-monthly", "50", "--allow-model", "claude-*",
        "--allow-model", "gpt-4o", "--budget-route", "cheap",
    )  # fmt: skip
    assert code == 0, err
    plaintext = out.strip()
    assert KEY.match(plaintext)
    assert "cannot show it again" in err
    assert plaintext not in err
    record = asyncio.run(gateway_keys.authenticate(plaintext))  # the key the gateway checks
    assert (record.name, record.owner, record.project, record.rpm, record.tpm) == ("ci bot", "ana", "p1", 60, 90000)
    assert (record.budget_daily_usd, record.budget_monthly_usd, record.budget_route) == (5.0, 50.0, "cheap")
    assert record.allowed_models == ("claude-*", "gpt-4o")

    code, out, err = aimux(capsys, "keys", "list")
    assert code == 0 and record.id in out and "ci bot" in out and "active" in out and "claude-*,gpt-4o" in out
    code, out, _ = aimux(capsys, "keys", "list", "--json")
    assert [k["id"] for k in json.loads(out)["keys"]] == [record.id]
    code, out, _ = aimux(capsys, "keys", "show", record.id)
    assert code == 0 and f"id: {record.id}" in out and "rpm: 60" in out and "budget_daily_usd: 5" in out
    code, out, _ = aimux(capsys, "keys", "disable", record.id)
    assert code == 0 and out.strip() == f"{record.id}: disabled"
    with pytest.raises(PermissionDenied):
        asyncio.run(gateway_keys.authenticate(plaintext))  # same process as the admin routes: at once
    code, out, _ = aimux(capsys, "keys", "enable", record.id, "--json")
    assert code == 0 and json.loads(out)["disabled"] is False
    code, out, err = aimux(capsys, "keys", "rotate", record.id)
    new_plain = out.strip()
    assert code == 0 and KEY.match(new_plain) and new_plain != plaintext and record.id in err
    with pytest.raises(AuthenticationFailed):
        asyncio.run(gateway_keys.authenticate(plaintext))
    assert asyncio.run(gateway_keys.authenticate(new_plain)).id == record.id
    code, out, _ = aimux(capsys, "keys", "delete", record.id)
    assert code == 0 and out.strip() == f"{record.id}: deleted"

    code, out, err = aimux(capsys, "keys", "show", record.id)
    assert code == 1 and out == "" and err.startswith("aimux: 404: no API key with id")
    code, out, err = aimux(capsys, "keys", "create", "--name", "x", "--rpm", "0")
    assert code == 1 and "rpm" in err
    code, _, err = aimux(capsys, "keys", "list")
    assert code == 0 and "no keys at" in err

    for secret in (plaintext, new_plain):
        assert secret not in caplog.text and secret[4:] not in caplog.text


def test_keys_cli_explains_a_missing_gateway(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIMUX_TABLE", raising=False)
    code, out, err = aimux(capsys, "keys", "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 1 and out == ""
    assert "no aimux gateway answering" in err and "aimux serve" in err and "AIMUX_TABLE" in err


@pytest.mark.parametrize("auth", ["", "on"])
def test_serve_says_whether_keys_are_checked_and_the_cli_manages_its_keys(
    auth: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with aimux_serve({"AIMUX_AUTH": auth} if auth else {}) as served:
        monkeypatch.delenv("AIMUX_TABLE", raising=False)
        monkeypatch.delenv("AIMUX_ADMIN_TOKEN", raising=False)
        monkeypatch.setenv("AIMUX_PORT", str(served.port))
        code, out, err = aimux(capsys, "keys", "create", "--name", "laptop", "--rpm", "5")
        assert code == 0, err
        code, listed, _ = aimux(capsys, "keys", "list", "--json")
        assert [k["name"] for k in json.loads(listed)["keys"]] == ["laptop"]
    stderr = served.stderr
    if auth == "on":
        assert "AIMUX_AUTH=on - client requests need an API key" in stderr
        assert "serving without API keys" not in stderr
    else:
        assert "aimux: AIMUX_AUTH=off - serving without API keys" in stderr.splitlines()
    assert "aimux: /admin answers loopback callers only (no token)" in stderr.splitlines()
    assert out.strip() not in stderr


def test_the_cli_sends_the_admin_token_of_a_gateway_that_has_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "local-admin-token-" + "x" * 16
    with aimux_serve({"AIMUX_ADMIN_TOKEN": token}) as served:
        monkeypatch.delenv("AIMUX_TABLE", raising=False)
        monkeypatch.setenv("AIMUX_PORT", str(served.port))
        monkeypatch.delenv("AIMUX_ADMIN_TOKEN", raising=False)
        code, out, err = aimux(capsys, "keys", "list")
        assert code == 1 and out == "" and "401" in err and "admin token" in err
        monkeypatch.setenv("AIMUX_ADMIN_TOKEN", "wrong-" + token)
        assert aimux(capsys, "keys", "list")[0] == 1
        monkeypatch.setenv("AIMUX_ADMIN_TOKEN", token)
        code, out, err = aimux(capsys, "keys", "create", "--name", "with token")
        assert code == 0 and KEY.match(out.strip()), err
        code, out, _ = aimux(capsys, "keys", "list", "--url", served.url)
        assert code == 0 and "with token" in out
    assert "/admin answers loopback callers only (with AIMUX_ADMIN_TOKEN)" in served.stderr
    assert token not in served.stderr


def test_keys_against_a_table_without_boto3_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` installs the aws extra; a venv without it gets a sentence, not a traceback."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    def find_spec(name: str, *args: object) -> object:
        return None if name == "boto3" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("AIMUX_TABLE", "aimux-state-dev")
    assert main(["keys", "create", "--name", "laptop"]) == 1
    assert capsys.readouterr().err.strip() == (
        "aimux: AIMUX_TABLE=aimux-state-dev needs the AWS SDK, which is not installed: "
        "pip install 'aimux[aws]' (make install does)"
    )


def test_keys_show_reports_what_a_local_gateway_spent_and_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process keeps keys and spend in one memory store, so ``keys show`` sees what the gateway spent."""
    config = tmp_path / "aimux.json"
    price = {"input": 3000, "output": 15000}  # "hi" with max_tokens 6: 9 and 6 tokens, $0.117
    config.write_text(json.dumps({
        "providers": {"mock": {"preset": "mock"}},
        "models": {"big": {"provider": "mock", "max_output": 4096, "price": price}},
        "routes": {"default": ["big"]},
    }))  # fmt: skip
    with aimux_serve({"AIMUX_AUTH": "on", "AIMUX_CONFIG": str(config)}) as served:
        url = served.url
        monkeypatch.delenv("AIMUX_TABLE", raising=False)
        monkeypatch.delenv("AIMUX_ADMIN_TOKEN", raising=False)
        monkeypatch.setenv("AIMUX_PORT", str(served.port))
        code, created, err = aimux(capsys, "keys", "create", "--name", "spender", "--budget-daily", "1", "--json")
        assert code == 0, err
        key = json.loads(created)
        body = {"model": "big", "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": key["api_key"]}, timeout=10)
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 10
        while True:  # the settlement is written just after the answer
            code, out, _ = aimux(capsys, "keys", "show", key["id"], "--json")
            shown = json.loads(out)
            if shown["spend_today_usd"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (shown["spend_today_usd"], shown["spend_month_usd"], shown["spend_held_usd"]) == (0.117, 0.117, 0)
        code, out, _ = aimux(capsys, "keys", "show", key["id"])
        assert code == 0 and "spend_today_usd: 0.117" in out
