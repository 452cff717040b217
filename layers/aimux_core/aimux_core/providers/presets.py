"""Known providers as data: base URL, auth style, dialect and quirks, one table entry each.

A configuration names a preset and where its key comes from; everything else about talking to
that provider lives here. Adding a provider whose dialect exists is one ``ProviderPreset`` entry.

Quirk fields (each adapter reads the ones of its dialect):

- ``strip_fields``: top-level canonical request fields the upstream rejects or must not see.
- ``beta_policy`` / ``allowed_betas``: which ``anthropic-beta`` flags are forwarded (Anthropic-dialect
  upstreams): ``allowlist`` forwards only ``allowed_betas``, ``drop`` forwards none, ``forward`` all.
  The request fields a flag turns on go with it: stripped when the flag is not forwarded, unless
  the flag is in ``native_betas`` (the upstream takes those fields without the flag) (``betas``).
- ``count_tokens``: the upstream implements ``POST /v1/messages/count_tokens`` (Anthropic-dialect
  upstreams; first-party Anthropic does, the compatible endpoints document no such route).
- ``max_tokens_cap``: ``max_tokens`` is clamped to it (the model's output limit on that upstream).
- ``schema_profile``: how tool JSON schemas are cleaned for the upstream (``schema_cleaning``).
- ``supports_images``: whether image blocks can be sent at all (else the request fails with a 400).
- ``reasoning``: how the upstream returns reasoning and whether it wants it back on the next turn:
  ``signed`` (Anthropic/Bedrock: thinking blocks with signatures, echoed byte-exact),
  ``echo`` (DeepSeek/GLM/Kimi/MiniMax: unsigned reasoning that must be sent back in tool loops),
  ``plain`` (returned but not needed back), ``none``.
- ``chat``: the OpenAI-dialect request options (``ChatDialectOptions``).
- ``extra_headers``: sent with every request (OpenRouter's attribution headers).
- ``prompt_caching`` / ``prompt_cache_ttl``: automatic prompt caching (``prompt_cache``): ``auto`` for
  first-party Anthropic and Bedrock (cache breakpoints) and OpenAI (``prompt_cache_key``), ``off`` for
  the rest (compatible endpoints cache on their own or ignore ``cache_control``).
- ``prompt_cache_key``: the upstream accepts OpenAI's ``prompt_cache_key`` (OpenAI does; other
  OpenAI-compatible servers may reject an unknown field, so it is opt-in per preset or provider).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ..translate.openai_upstream import ChatDialectOptions
from .prompt_cache import CacheTtl, PromptCaching

Dialect = Literal["anthropic", "openai", "bedrock", "mock"]
AuthStyle = Literal["x-api-key", "bearer", "aws", "none"]
BetaPolicy = Literal["forward", "allowlist", "drop"]
SchemaProfile = Literal["none", "openai", "strict", "gemini"]
Reasoning = Literal["signed", "echo", "plain", "none"]

# Betas the first-party Anthropic API accepts on current models; others are dropped so a new Claude
# Code flag never turns into a 400 on a partner platform.
ANTHROPIC_BETAS = frozenset(
    {
        "claude-code-20250219",
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "context-management-2025-06-27",
        "context-1m-2025-08-07",
        "effort-2025-11-24",
        "advanced-tool-use-2025-11-20",
        "structured-outputs-2025-11-13",
        "structured-outputs-2025-12-15",
        "token-counting-2024-11-01",
        "prompt-caching-2024-07-31",
        "extended-cache-ttl-2025-04-11",
        "output-128k-2025-02-19",
        "files-api-2025-04-14",
        "mcp-client-2025-04-04",
        "web-fetch-2025-09-10",
        "code-execution-2025-08-25",
        "redact-thinking-2026-02-12",
        "per-turn-control-2026-07-01",
        "mid-conversation-tool-changes-2026-07-01",
        "thinking-token-count-2026-05-13",
        "thinking-display-updates-2026-08-18",
        "dangerous-tool-use-2026-09-03",
    }
)
# Betas Claude on Bedrock accepts (Bedrock fails the whole request on an unknown one).
BEDROCK_BETAS = frozenset(
    {
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "context-1m-2025-08-07",
        "context-management-2025-06-27",
        "effort-2025-11-24",
        "output-128k-2025-02-19",
        "token-efficient-tools-2025-02-19",
        "tool-examples-2025-10-29",
        "tool-search-tool-2025-10-19",
    }
)
# Anthropic-only request fields third-party Anthropic-compatible endpoints reject or mishandle.
_ANTHROPIC_ONLY_FIELDS = frozenset(
    {"container", "mcp_servers", "context_management", "service_tier", "inference_geo", "cache_control"}
)


@dataclass(frozen=True, slots=True)
class ProviderPreset:
    name: str
    dialect: Dialect
    base_url: str
    auth: AuthStyle
    key_env: str | None
    display_name: str = ""
    strip_fields: frozenset[str] = frozenset()
    beta_policy: BetaPolicy = "drop"
    allowed_betas: frozenset[str] = frozenset()
    native_betas: frozenset[str] = frozenset()
    count_tokens: bool = False
    max_tokens_cap: int | None = None
    schema_profile: SchemaProfile = "none"
    supports_images: bool = True
    reasoning: Reasoning = "none"
    chat: ChatDialectOptions = field(default_factory=ChatDialectOptions)
    extra_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    prompt_caching: PromptCaching = "off"
    prompt_cache_ttl: CacheTtl = "5m"
    prompt_cache_key: bool = False


_ECHO_CHAT = ChatDialectOptions(reasoning_echo_field="reasoning_content")
# DeepSeek's and Kimi K3's Anthropic endpoints take ``output_config.effort`` and ignore the beta header.
_EFFORT = frozenset({"effort-2025-11-24"})

PRESETS: Mapping[str, ProviderPreset] = MappingProxyType(
    {
        preset.name: preset
        for preset in (
            ProviderPreset(
                "anthropic", "anthropic", "https://api.anthropic.com", "x-api-key", "ANTHROPIC_API_KEY",
                display_name="Anthropic", beta_policy="allowlist", allowed_betas=ANTHROPIC_BETAS,
                reasoning="signed", count_tokens=True, prompt_caching="auto",
            ),
            ProviderPreset(
                "zai", "anthropic", "https://api.z.ai/api/anthropic", "x-api-key", "ZAI_API_KEY",
                display_name="Z.AI GLM", strip_fields=_ANTHROPIC_ONLY_FIELDS, reasoning="echo",
                max_tokens_cap=131_072,
            ),
            ProviderPreset(
                "minimax", "anthropic", "https://api.minimax.io/anthropic", "x-api-key", "MINIMAX_API_KEY",
                display_name="MiniMax", strip_fields=_ANTHROPIC_ONLY_FIELDS | {"top_k"}, supports_images=False,
                reasoning="echo", max_tokens_cap=131_072,
            ),
            ProviderPreset(
                "moonshot", "anthropic", "https://api.moonshot.ai/anthropic", "x-api-key", "MOONSHOT_API_KEY",
                display_name="Moonshot Kimi", strip_fields=_ANTHROPIC_ONLY_FIELDS, reasoning="echo",
                max_tokens_cap=65_536, native_betas=_EFFORT,
            ),
            ProviderPreset(
                "deepseek", "anthropic", "https://api.deepseek.com/anthropic", "x-api-key", "DEEPSEEK_API_KEY",
                display_name="DeepSeek", strip_fields=_ANTHROPIC_ONLY_FIELDS | {"top_k"}, supports_images=False,
                reasoning="echo", max_tokens_cap=65_536, native_betas=_EFFORT,
            ),
            ProviderPreset(
                "openai", "openai", "https://api.openai.com/v1", "bearer", "OPENAI_API_KEY",
                display_name="OpenAI", schema_profile="openai",
                chat=ChatDialectOptions(max_tokens_field="max_completion_tokens"),
                prompt_caching="auto", prompt_cache_key=True,
            ),
            ProviderPreset(
                "openrouter", "openai", "https://openrouter.ai/api/v1", "bearer", "OPENROUTER_API_KEY",
                display_name="OpenRouter", schema_profile="openai", reasoning="plain",
                extra_headers=MappingProxyType(
                    {"HTTP-Referer": "https://github.com/aimux", "X-OpenRouter-Title": "aimux", "X-Title": "aimux"}
                ),
            ),
            ProviderPreset(
                "cerebras", "openai", "https://api.cerebras.ai/v1", "bearer", "CEREBRAS_API_KEY",
                display_name="Cerebras", schema_profile="strict", reasoning="plain",
                chat=ChatDialectOptions(send_parallel_tool_calls=False),
            ),
            ProviderPreset(
                "groq", "openai", "https://api.groq.com/openai/v1", "bearer", "GROQ_API_KEY",
                display_name="Groq", schema_profile="strict", reasoning="plain",
            ),
            ProviderPreset(
                "gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai", "bearer",
                "GEMINI_API_KEY", display_name="Google Gemini", schema_profile="gemini", reasoning="plain",
                chat=ChatDialectOptions(thought_signatures=True),
            ),
            ProviderPreset(
                "deepseek-openai", "openai", "https://api.deepseek.com", "bearer", "DEEPSEEK_API_KEY",
                display_name="DeepSeek (OpenAI API)", supports_images=False, reasoning="echo", chat=_ECHO_CHAT,
            ),
            ProviderPreset(
                "ollama", "openai", "http://localhost:11434/v1", "none", None,
                display_name="Ollama", reasoning="plain",
            ),
            ProviderPreset(
                "vllm", "openai", "http://localhost:8000/v1", "bearer", "VLLM_API_KEY",
                display_name="vLLM", reasoning="plain",
            ),
            ProviderPreset(
                "bedrock", "bedrock", "", "aws", None, display_name="AWS Bedrock", reasoning="signed",
                beta_policy="allowlist", allowed_betas=BEDROCK_BETAS, prompt_caching="auto",
            ),
            ProviderPreset("mock", "mock", "", "none", None, display_name="aimux mock"),
        )
    }
)  # fmt: skip


def preset(name: str) -> ProviderPreset:
    """The preset called ``name``; ``KeyError`` names the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown provider preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
