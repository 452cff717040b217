"""CORS on the client API (``surfaces/cors.py``): real preflights over loopback HTTP, and the SDKs' calls.

A browser running the preflight itself is in ``tests/browser/test_cors_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from aimux_core.assembly import build_mock_gateway, local_app
from aimux_core.settings import Settings, SettingsError
from aimux_core.surfaces.cors import CorsPolicy, cors_policy
from support.serve_process import aimux_serve, start, stop
from support.server import serve

APP = "https://app.example.com"
DEV = "http://localhost:5173"
OTHER = "https://evil.example.net"
# What the Anthropic SDK asks for in a browser (dangerouslyAllowBrowser) and the OpenAI SDK's own headers.
SDK_HEADERS = "anthropic-version, content-type, x-api-key, x-stainless-os, anthropic-dangerous-direct-browser-access"


def cors_settings(origins: str) -> Settings:
    """The settings of a gateway started with ``AIMUX_CORS_ORIGINS=<origins>``."""
    return Settings.from_env({"AIMUX_CORS_ORIGINS": origins})


def preflight(url: str, origin: str, method: str = "POST", headers: str = SDK_HEADERS) -> httpx.Response:
    return httpx.options(
        url,
        headers={"origin": origin, "access-control-request-method": method, "access-control-request-headers": headers},
        timeout=10,
    )


@pytest.fixture(scope="module")
def gateway_with_cors() -> Iterator[str]:
    app = local_app(build_mock_gateway(), settings=cors_settings(f"{APP}, {DEV}/"))
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def gateway_without_cors() -> Iterator[str]:
    with serve(local_app(build_mock_gateway(), settings=Settings())) as url:
        yield url


def test_origins_are_parsed_as_browsers_send_them() -> None:
    assert cors_policy(cors_settings("").cors_origins) is None
    assert cors_policy(cors_settings(" , ").cors_origins) is None
    policy = cors_policy(cors_settings("HTTPS://App.Example.com:443, http://localhost:5173/").cors_origins)
    assert policy == CorsPolicy(frozenset({"https://app.example.com", "http://localhost:5173"}))
    assert cors_policy(cors_settings("*").cors_origins) == CorsPolicy(frozenset(), any_origin=True)
    for bad in ("app.example.com", "https://app.example.com/path", "ftp://x.example", "https://x:99999"):
        with pytest.raises(SettingsError, match="AIMUX_CORS_ORIGINS"):
            cors_settings(bad)


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions", "/v1/models", "/anthropic/v1/messages"])
def test_a_preflight_from_an_allowed_origin_is_answered_on_both_surfaces(gateway_with_cors: str, path: str) -> None:
    answer = preflight(gateway_with_cors + path, APP)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["access-control-allow-methods"] == "GET, POST"
    assert answer.headers["access-control-allow-headers"] == SDK_HEADERS
    assert answer.headers["access-control-max-age"] == "600"
    assert answer.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in answer.headers


def test_a_preflight_is_refused_from_another_origin_or_for_another_method(gateway_with_cors: str) -> None:
    for origin, method, headers in [(OTHER, "POST", SDK_HEADERS), (APP, "DELETE", SDK_HEADERS),
                                    (APP, "POST", "x-api-key, bad header")]:  # fmt: skip
        answer = preflight(gateway_with_cors + "/v1/messages", origin, method, headers)
        assert answer.status_code == 403, (origin, method)
        assert not any(name.startswith("access-control-") for name in answer.headers), answer.headers


def test_answers_to_an_allowed_origin_carry_the_cors_headers(gateway_with_cors: str) -> None:
    client = anthropic.Anthropic(base_url=gateway_with_cors, api_key="unused", default_headers={"origin": DEV})
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["access-control-allow-origin"] == DEV
    assert raw.headers["access-control-expose-headers"] == "*"
    assert raw.headers["x-aimux-provider"] == "mock"  # the page may read it: exposed by "*"
    chat = openai.OpenAI(base_url=gateway_with_cors + "/v1", api_key="unused", default_headers={"origin": APP})
    stream = chat.chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert stream.headers["access-control-allow-origin"] == APP
    assert "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)


def test_other_origins_and_same_origin_calls_get_no_cors_headers(gateway_with_cors: str) -> None:
    for headers in ({"origin": OTHER}, {}):
        answer = httpx.get(gateway_with_cors + "/v1/models", headers=headers, timeout=10)
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers


def test_the_admin_routes_never_answer_a_cross_origin_preflight(gateway_with_cors: str) -> None:
    answer = preflight(gateway_with_cors + "/admin/keys", APP)
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers


def test_without_configured_origins_nothing_changes(gateway_without_cors: str) -> None:
    answer = preflight(gateway_without_cors + "/v1/messages", APP)
    assert answer.status_code == 405  # no preflight handling at all: the route's own answer
    assert "access-control-allow-origin" not in answer.headers
    call = httpx.get(gateway_without_cors + "/v1/models", headers={"origin": APP}, timeout=10)
    assert "access-control-allow-origin" not in call.headers


def test_a_star_must_be_explicit_and_allows_any_origin() -> None:
    with serve(local_app(build_mock_gateway(), settings=cors_settings("*"))) as url:
        answer = preflight(url + "/v1/chat/completions", OTHER)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "vary" not in answer.headers


def test_aimux_serve_reads_the_origins_and_refuses_a_bad_one() -> None:
    with aimux_serve({"AIMUX_CORS_ORIGINS": APP}) as served:
        assert preflight(served.url + "/v1/messages", APP).status_code == 204
    assert f"CORS: allowed origins {APP}" in served.stderr
    bad = start({"AIMUX_CORS_ORIGINS": "app.example.com"})
    assert bad.process.wait(timeout=30) == 1
    assert "AIMUX_CORS_ORIGINS 'app.example.com' is not an origin" in stop(bad)
