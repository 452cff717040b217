"""Known providers as data, one ``ProviderPreset`` entry each: everything aimux knows about a provider.

A configuration names a preset and where its key comes from; everything else about talking to that
provider lives in its entry: base URL, auth style, dialect, quirks, and, for presets that work with no
configuration file (``AUTODETECT``), their default models with prices and which one serves each
scenario route. Adding a provider whose dialect exists is one entry.

Default models: verify against the provider's price list. Ids, context windows, output limits,
capabilities and list prices (USD per million tokens: input, output, cache read, cache write) are
what each provider published at the time of writing; they change. A deployment that cares about exact
costs or limits writes its own ``aimux.yaml``. Where a provider has no cache-write surcharge,
``cache_write`` equals ``input``. Models of hosts that serve other vendors' models (OpenRouter, Groq,
Cerebras) have ids prefixed with the provider name, which is also the ``provider/upstream-model``
form, so ids never collide.

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
- ``prompt_caching`` / ``prompt_cache_ttl``: automatic prompt caching (``providers/prompt_cache.py``): ``auto`` for
  first-party Anthropic and Bedrock (cache breakpoints) and OpenAI (``prompt_cache_key``), ``off`` for
  the rest (compatible endpoints cache on their own or ignore ``cache_control``).
- ``prompt_cache_key``: the upstream accepts OpenAI's ``prompt_cache_key`` (OpenAI does; other
  OpenAI-compatible servers may reject an unknown field, so it is opt-in per preset or provider).
- ``quota_codes``: error codes that mean "plan quota used up until a reset" (``quota``), not a fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from .wire.openai import ChatDialectOptions

Dialect = Literal["anthropic", "openai", "bedrock", "mock"]
AuthStyle = Literal["x-api-key", "bearer", "aws", "none"]
BetaPolicy = Literal["forward", "allowlist", "drop"]
SchemaProfile = Literal["none", "openai", "strict", "gemini"]
Reasoning = Literal["signed", "echo", "plain", "none"]
PromptCaching = Literal["auto", "multi_turn", "off"]  # modes of automatic prompt caching
CacheTtl = Literal["5m", "1h"]  # TTL of the cache breakpoints aimux places

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


Price = tuple[float, float, float, float]  # USD per million tokens: input, output, cache_read, cache_write

ALL = ("tools", "vision", "thinking")
TOOLS_THINKING = ("tools", "thinking")
TOOLS = ("tools",)
TOOLS_VISION = ("tools", "vision")


@dataclass(frozen=True, slots=True)
class DefaultModel:
    id: str
    upstream: str
    context_window: int
    max_output: int
    capabilities: tuple[str, ...]
    price: Price
    display_name: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DefaultRoutes:
    """Which of a preset's default models serves each scenario route (by model id)."""

    default: str
    background: str
    thinking: str
    long_context: str


def _m(model_id: str, ctx: int, out: int, caps: tuple[str, ...], price: Price, name: str, *aliases: str,
       upstream: str | None = None) -> DefaultModel:  # fmt: skip
    prefix, slash, rest = model_id.partition("/")
    if upstream is None:
        upstream = rest if slash and prefix in ("openrouter", "groq", "cerebras") else model_id
    return DefaultModel(model_id, upstream, ctx, out, caps, price, name, tuple(aliases))


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
    quota_codes: frozenset[str] = frozenset()
    models: tuple[DefaultModel, ...] = ()
    routes: DefaultRoutes | None = None

    def model(self, model_id: str) -> DefaultModel:
        return next(m for m in self.models if m.id == model_id)


_ECHO_CHAT = ChatDialectOptions(reasoning_echo_field="reasoning_content")
# DeepSeek's and Kimi K3's Anthropic endpoints take ``output_config.effort`` and ignore the beta header.
_EFFORT = frozenset({"effort-2025-11-24"})
# Z.AI / Zhipu GLM coding plans: "1308".."1321" with "reset at <time>" in the message.
_ZAI_QUOTA_CODES = frozenset(str(code) for code in range(1308, 1322))

PRESETS: Mapping[str, ProviderPreset] = MappingProxyType(
    {
        preset.name: preset
        for preset in (
            ProviderPreset(
                "anthropic", "anthropic", "https://api.anthropic.com", "x-api-key", "ANTHROPIC_API_KEY",
                display_name="Anthropic", beta_policy="allowlist", allowed_betas=ANTHROPIC_BETAS,
                reasoning="signed", count_tokens=True, prompt_caching="auto",
                models=(
                    _m("claude-sonnet-4-5", 200_000, 64_000, ALL, (3.0, 15.0, 0.30, 3.75), "Claude Sonnet 4.5",
                       "claude-sonnet-4-5-20250929"),
                    _m("claude-haiku-4-5", 200_000, 64_000, ALL, (1.0, 5.0, 0.10, 1.25), "Claude Haiku 4.5",
                       "claude-haiku-4-5-20251001"),
                    _m("claude-opus-4-5", 200_000, 64_000, ALL, (5.0, 25.0, 0.50, 6.25), "Claude Opus 4.5",
                       "claude-opus-4-5-20251101"),
                ),
                routes=DefaultRoutes(
                    default="claude-sonnet-4-5", background="claude-haiku-4-5",
                    thinking="claude-opus-4-5", long_context="claude-sonnet-4-5",
                ),
            ),
            ProviderPreset(
                "zai", "anthropic", "https://api.z.ai/api/anthropic", "x-api-key", "ZAI_API_KEY",
                display_name="Z.AI GLM", strip_fields=_ANTHROPIC_ONLY_FIELDS, reasoning="echo",
                max_tokens_cap=131_072,
                quota_codes=_ZAI_QUOTA_CODES,
                models=(
                    _m("glm-4.6", 204_800, 131_072, TOOLS_THINKING, (0.60, 2.20, 0.11, 0.60), "GLM-4.6"),
                    _m("glm-4.5-air", 131_072, 98_304, TOOLS_THINKING, (0.20, 1.10, 0.03, 0.20), "GLM-4.5-Air"),
                ),
                routes=DefaultRoutes(
                    default="glm-4.6", background="glm-4.5-air",
                    thinking="glm-4.6", long_context="glm-4.6",
                ),
            ),
            ProviderPreset(
                "minimax", "anthropic", "https://api.minimax.io/anthropic", "x-api-key", "MINIMAX_API_KEY",
                display_name="MiniMax", strip_fields=_ANTHROPIC_ONLY_FIELDS | {"top_k"}, supports_images=False,
                reasoning="echo", max_tokens_cap=131_072,
                models=(_m("MiniMax-M2", 204_800, 131_072, TOOLS_THINKING, (0.30, 1.20, 0.03, 0.375), "MiniMax M2"),),
                routes=DefaultRoutes(
                    default="MiniMax-M2", background="MiniMax-M2",
                    thinking="MiniMax-M2", long_context="MiniMax-M2",
                ),
            ),
            ProviderPreset(
                "moonshot", "anthropic", "https://api.moonshot.ai/anthropic", "x-api-key", "MOONSHOT_API_KEY",
                display_name="Moonshot Kimi", strip_fields=_ANTHROPIC_ONLY_FIELDS, reasoning="echo",
                max_tokens_cap=65_536, native_betas=_EFFORT,
                models=(
                    _m("kimi-k2-0905-preview", 262_144, 65_536, TOOLS, (0.60, 2.50, 0.15, 0.60), "Kimi K2"),
                    _m("kimi-k2-thinking", 262_144, 65_536, TOOLS_THINKING, (0.60, 2.50, 0.15, 0.60),
                       "Kimi K2 Thinking"),
                ),
                routes=DefaultRoutes(
                    default="kimi-k2-0905-preview", background="kimi-k2-0905-preview",
                    thinking="kimi-k2-thinking", long_context="kimi-k2-0905-preview",
                ),
            ),
            ProviderPreset(
                "deepseek", "anthropic", "https://api.deepseek.com/anthropic", "x-api-key", "DEEPSEEK_API_KEY",
                display_name="DeepSeek", strip_fields=_ANTHROPIC_ONLY_FIELDS | {"top_k"}, supports_images=False,
                reasoning="echo", max_tokens_cap=65_536, native_betas=_EFFORT,
                models=(
                    _m("deepseek-chat", 131_072, 8_192, TOOLS, (0.28, 0.42, 0.028, 0.28), "DeepSeek V3.2"),
                    _m("deepseek-reasoner", 131_072, 65_536, TOOLS_THINKING, (0.28, 0.42, 0.028, 0.28),
                       "DeepSeek V3.2 (thinking)"),
                ),
                routes=DefaultRoutes(
                    default="deepseek-chat", background="deepseek-chat",
                    thinking="deepseek-reasoner", long_context="deepseek-chat",
                ),
            ),
            ProviderPreset(
                "openai", "openai", "https://api.openai.com/v1", "bearer", "OPENAI_API_KEY",
                display_name="OpenAI", schema_profile="openai",
                chat=ChatDialectOptions(max_tokens_field="max_completion_tokens"),
                prompt_caching="auto", prompt_cache_key=True,
                models=(
                    _m("gpt-4.1", 1_047_576, 32_768, TOOLS_VISION, (2.0, 8.0, 0.50, 2.0), "GPT-4.1"),
                    _m("gpt-4.1-mini", 1_047_576, 32_768, TOOLS_VISION, (0.40, 1.60, 0.10, 0.40), "GPT-4.1 mini"),
                    _m("o4-mini", 200_000, 100_000, ALL, (1.10, 4.40, 0.275, 1.10), "o4-mini"),
                ),
                routes=DefaultRoutes(
                    default="gpt-4.1", background="gpt-4.1-mini",
                    thinking="o4-mini", long_context="gpt-4.1",
                ),
            ),
            ProviderPreset(
                "openrouter", "openai", "https://openrouter.ai/api/v1", "bearer", "OPENROUTER_API_KEY",
                display_name="OpenRouter", schema_profile="openai", reasoning="plain",
                extra_headers=MappingProxyType(
                    {"HTTP-Referer": "https://github.com/aimux", "X-OpenRouter-Title": "aimux", "X-Title": "aimux"}
                ),
                models=(
                    _m("openrouter/anthropic/claude-sonnet-4.5", 200_000, 64_000, ALL, (3.0, 15.0, 0.30, 3.75),
                       "Claude Sonnet 4.5 via OpenRouter"),
                    _m("openrouter/google/gemini-2.5-flash", 1_048_576, 65_535, ALL, (0.30, 2.50, 0.075, 0.30),
                       "Gemini 2.5 Flash via OpenRouter"),
                ),
                routes=DefaultRoutes(
                    default="openrouter/anthropic/claude-sonnet-4.5", background="openrouter/google/gemini-2.5-flash",
                    thinking="openrouter/anthropic/claude-sonnet-4.5",
                    long_context="openrouter/google/gemini-2.5-flash",
                ),
            ),
            ProviderPreset(
                "cerebras", "openai", "https://api.cerebras.ai/v1", "bearer", "CEREBRAS_API_KEY",
                display_name="Cerebras", schema_profile="strict", reasoning="plain",
                chat=ChatDialectOptions(send_parallel_tool_calls=False),
                models=(
                    _m("cerebras/gpt-oss-120b", 131_072, 32_768, TOOLS_THINKING, (0.35, 0.75, 0.35, 0.35),
                       "gpt-oss-120b on Cerebras"),
                    _m("cerebras/llama3.1-8b", 32_768, 8_192, TOOLS, (0.10, 0.10, 0.10, 0.10),
                       "Llama 3.1 8B on Cerebras"),
                ),
                routes=DefaultRoutes(
                    default="cerebras/gpt-oss-120b", background="cerebras/llama3.1-8b",
                    thinking="cerebras/gpt-oss-120b", long_context="cerebras/gpt-oss-120b",
                ),
            ),
            ProviderPreset(
                "groq", "openai", "https://api.groq.com/openai/v1", "bearer", "GROQ_API_KEY",
                display_name="Groq", schema_profile="strict", reasoning="plain",
                models=(
                    _m("groq/moonshotai/kimi-k2-instruct-0905", 262_144, 16_384, TOOLS, (1.0, 3.0, 0.50, 1.0),
                       "Kimi K2 on Groq"),
                    _m("groq/openai/gpt-oss-120b", 131_072, 65_536, TOOLS_THINKING, (0.15, 0.60, 0.15, 0.15),
                       "gpt-oss-120b on Groq"),
                    _m("groq/openai/gpt-oss-20b", 131_072, 65_536, TOOLS_THINKING, (0.075, 0.30, 0.075, 0.075),
                       "gpt-oss-20b on Groq"),
                ),
                routes=DefaultRoutes(
                    default="groq/moonshotai/kimi-k2-instruct-0905", background="groq/openai/gpt-oss-20b",
                    thinking="groq/openai/gpt-oss-120b", long_context="groq/moonshotai/kimi-k2-instruct-0905",
                ),
            ),
            ProviderPreset(
                "gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai", "bearer",
                "GEMINI_API_KEY", display_name="Google Gemini", schema_profile="gemini", reasoning="plain",
                chat=ChatDialectOptions(thought_signatures=True),
                models=(
                    _m("gemini-2.5-pro", 1_048_576, 65_536, ALL, (1.25, 10.0, 0.125, 1.25), "Gemini 2.5 Pro"),
                    _m("gemini-2.5-flash", 1_048_576, 65_536, ALL, (0.30, 2.50, 0.03, 0.30), "Gemini 2.5 Flash"),
                    _m("gemini-2.5-flash-lite", 1_048_576, 65_536, ALL, (0.10, 0.40, 0.01, 0.10),
                       "Gemini 2.5 Flash-Lite"),
                ),
                routes=DefaultRoutes(
                    default="gemini-2.5-pro", background="gemini-2.5-flash-lite",
                    thinking="gemini-2.5-pro", long_context="gemini-2.5-pro",
                ),
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


# With no configuration file, presets whose keys are set are used in this order: earlier ones come first
# in each route.
AUTODETECT: tuple[ProviderPreset, ...] = tuple(
    PRESETS[name]
    for name in (
        "anthropic",
        "openai",
        "zai",
        "deepseek",
        "moonshot",
        "minimax",
        "gemini",
        "groq",
        "cerebras",
        "openrouter",
    )
)
QUOTA_CODES: frozenset[str] = frozenset().union(*(p.quota_codes for p in PRESETS.values()))


def preset(name: str) -> ProviderPreset:
    """The preset called ``name``; ``KeyError`` names the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown provider preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
