"""``anthropic-beta`` flags and the fields that need them travel together, per provider configuration.

Claude Code sends ``context-management-2025-06-27`` with ``context_management``, ``effort-2025-11-24``
with ``output_config.effort``, ``advanced-tool-use-2025-11-20`` with ``defer_loading`` tools. A
provider that does not get a flag must not get its fields either (a custom ``dialect: anthropic``
provider used to lose every flag and keep every field), and one configured to forward flags gets
both. The recorded Claude Code request is replayed through the served gateway to the fake upstream.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aimux_core.config import ConfigError
from aimux_core.config.validate import validate_config
from aimux_core.presets import preset
from aimux_core.providers.anthropic import build_body, build_headers
from aimux_core.providers.betas import strip_unforwarded_fields
from aimux_core.wire.anthropic import MessagesRequest
from fakes import Reply
from fakes.anthropic_upstream import AnthropicUpstream
from support.config_gateway import serve_config

pytest_plugins = ["fakes.fixtures"]

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code" / "request_tool_turn1.json"
KEY = "sk-corp-upstream-key-0001"
CONTEXT, EFFORT, TOOLS = "context-management-2025-06-27", "effort-2025-11-24", "advanced-tool-use-2025-11-20"
CLAUDE_CODE_BETAS = ["claude-code-20250219", "interleaved-thinking-2025-05-14", CONTEXT, EFFORT, TOOLS]


def recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text())


def custom(**fields: Any) -> Any:
    """The effective preset of a preset-less ``dialect: anthropic`` provider with ``fields``."""
    config = validate_config({"providers": {"corp": {"dialect": "anthropic", "base_url": "https://corp.example",
                                                     "api_key_env": "CORP_KEY", **fields}},
                              "routes": {"default": ["corp/m"]}}, "test.yaml")
    return config.providers["corp"].effective_preset("corp")


def body_for(p: Any, betas: list[str]) -> dict[str, Any]:
    request = MessagesRequest.model_validate(recorded()["body"])
    return build_body(request, "m", p, provider="corp", stream=True, version="2023-06-01", betas=betas)


def deferred(body: dict[str, Any]) -> list[Any]:
    return [t.get("defer_loading") for t in body["tools"] if "defer_loading" in t]


# --------------------------------------------------------------------------- request building


def test_custom_provider_drops_betas_and_their_fields_by_default() -> None:
    p = custom()
    body = body_for(p, CLAUDE_CODE_BETAS)
    assert "anthropic-beta" not in build_headers(p, KEY, "2023-06-01", CLAUDE_CODE_BETAS, stream=True)
    assert "context_management" not in body and "output_config" not in body
    assert deferred(body) == []
    assert body["thinking"] == {"type": "adaptive", "display": "updates"}, "a flag the client did not send"


def test_custom_provider_forwarding_betas_keeps_their_fields() -> None:
    p = custom(beta_policy="forward")
    body = body_for(p, CLAUDE_CODE_BETAS)
    headers = build_headers(p, KEY, "2023-06-01", CLAUDE_CODE_BETAS, stream=True)
    assert headers["anthropic-beta"] == ",".join(CLAUDE_CODE_BETAS)
    assert body["context_management"] == recorded()["body"]["context_management"]
    assert body["output_config"] == {"effort": "medium"} and deferred(body) == [True]


def test_allowlist_keeps_exactly_the_fields_of_allowed_flags() -> None:
    p = custom(beta_policy="allowlist", allowed_betas=[CONTEXT])
    body = body_for(p, CLAUDE_CODE_BETAS)
    assert build_headers(p, KEY, "2023-06-01", CLAUDE_CODE_BETAS, stream=True)["anthropic-beta"] == CONTEXT
    assert "context_management" in body and "output_config" not in body and deferred(body) == []


def test_deepseek_takes_effort_without_the_flag() -> None:
    body = body_for(preset("deepseek"), CLAUDE_CODE_BETAS)
    assert body["output_config"] == {"effort": "medium"}  # native: DeepSeek ignores the header, reads the field
    assert "context_management" not in body and deferred(body) == []


def test_first_party_allowlist_keeps_claude_codes_fields() -> None:
    body = body_for(preset("anthropic"), CLAUDE_CODE_BETAS)
    assert "context_management" in body and body["output_config"] == {"effort": "medium"} and deferred(body) == [True]


def test_strip_keeps_other_output_config_fields() -> None:
    body = {"output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {}}},
            "tools": [{"name": "a", "strict": True}]}
    removed = strip_unforwarded_fields(copy.deepcopy(body), [EFFORT], [])
    assert removed == ["output_config.effort"]
    kept = copy.deepcopy(body)
    strip_unforwarded_fields(kept, ["structured-outputs-2025-12-15"], [])
    assert kept == {"output_config": {"effort": "high"}, "tools": [{"name": "a"}]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"allowed_betas": ["x"]}, "only used with beta_policy: allowlist"),
     ({"dialect": "openai", "beta_policy": "forward"}, "only for anthropic and bedrock providers"),
     ({"dialect": "openai", "count_tokens": True}, "only for anthropic-dialect providers")],
)
def test_config_rejects_beta_fields_where_they_mean_nothing(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        custom(**fields)


def test_preset_policy_can_be_overridden() -> None:
    zai = validate_config({"providers": {"zai": {"preset": "zai", "beta_policy": "allowlist",
                                                 "allowed_betas": [EFFORT]}},
                           "routes": {"default": ["zai/glm-4.6"]}}, "t.yaml").providers["zai"].effective_preset("zai")
    assert zai.beta_policy == "allowlist"
    assert zai.allowed_betas == frozenset({EFFORT})


# --------------------------------------------------------------------------- Claude Code's request, replayed


@pytest.mark.parametrize("policy", [None, "forward"])
def test_recorded_claude_code_request_through_a_custom_provider(policy: str | None,
                                                                anthropic_upstream: AnthropicUpstream) -> None:
    anthropic_upstream.default = Reply(text="ok")
    provider: dict[str, Any] = {"dialect": "anthropic", "base_url": anthropic_upstream.base_url,
                                "api_key_env": "CORP_KEY"}
    if policy:
        provider["beta_policy"] = policy
    document = {"providers": {"corp": provider},
                "models": {"corp-model": {"provider": "corp", "max_output": 32000}},
                "routes": {"default": ["corp-model"]}}
    record = recorded()
    headers = {k: v for k, v in record["headers"].items() if k.lower() not in ("host", "content-length")}
    with serve_config(document, {"CORP_KEY": KEY}) as served:
        response = httpx.post(f"{served.url}{record['path']}", params=record["query"], headers=headers,
                              content=json.dumps(record["body"]), timeout=10)
    assert response.status_code == 200, response.text[:300]
    sent = anthropic_upstream.last_request
    flags = record["headers"]["anthropic-beta"]
    if policy is None:
        assert "anthropic-beta" not in sent.headers
        assert "context_management" not in sent.json and "output_config" not in sent.json
    else:
        assert sent.headers["anthropic-beta"] == flags
        assert sent.json["context_management"] == record["body"]["context_management"]
        assert sent.json["output_config"] == record["body"]["output_config"]
