"""Default models per preset, used when there is no config file and a preset's key variable is set.

Defaults; verify against the provider's price list. Ids, context windows, output limits,
capabilities and list prices (USD per million tokens: input, output, cache read, cache write)
are what each provider published for these models at the time of writing; they change. A
deployment that cares about exact costs or limits writes its own ``aimux.yaml``. Where a provider
has no cache-write surcharge, ``cache_write`` equals ``input``.

Models of hosts that serve other vendors' models (OpenRouter, Groq, Cerebras) have ids prefixed
with the provider name, which is also the ``provider/upstream-model`` form, so ids never collide.
Each preset names which of its models serves which scenario route.
"""

from __future__ import annotations

from dataclasses import dataclass

Price = tuple[float, float, float, float]  # input, output, cache_read, cache_write

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
class PresetDefaults:
    """A preset's models and, by model id, which one serves each scenario."""

    preset: str
    models: tuple[DefaultModel, ...]
    default: str
    background: str
    thinking: str
    long_context: str

    def model(self, model_id: str) -> DefaultModel:
        return next(m for m in self.models if m.id == model_id)


def _m(model_id: str, ctx: int, out: int, caps: tuple[str, ...], price: Price, name: str, *aliases: str,
       upstream: str | None = None) -> DefaultModel:  # fmt: skip
    prefix, slash, rest = model_id.partition("/")
    if upstream is None:
        upstream = rest if slash and prefix in ("openrouter", "groq", "cerebras") else model_id
    return DefaultModel(model_id, upstream, ctx, out, caps, price, name, tuple(aliases))


# In autodetection priority order: when several keys are set, earlier presets come first in each route.
AUTODETECT: tuple[PresetDefaults, ...] = (
    PresetDefaults(
        "anthropic",
        (
            _m("claude-sonnet-4-5", 200_000, 64_000, ALL, (3.0, 15.0, 0.30, 3.75), "Claude Sonnet 4.5",
               "claude-sonnet-4-5-20250929"),
            _m("claude-haiku-4-5", 200_000, 64_000, ALL, (1.0, 5.0, 0.10, 1.25), "Claude Haiku 4.5",
               "claude-haiku-4-5-20251001"),
            _m("claude-opus-4-5", 200_000, 64_000, ALL, (5.0, 25.0, 0.50, 6.25), "Claude Opus 4.5",
               "claude-opus-4-5-20251101"),
        ),
        default="claude-sonnet-4-5", background="claude-haiku-4-5", thinking="claude-opus-4-5",
        long_context="claude-sonnet-4-5",
    ),
    PresetDefaults(
        "openai",
        (
            _m("gpt-4.1", 1_047_576, 32_768, TOOLS_VISION, (2.0, 8.0, 0.50, 2.0), "GPT-4.1"),
            _m("gpt-4.1-mini", 1_047_576, 32_768, TOOLS_VISION, (0.40, 1.60, 0.10, 0.40), "GPT-4.1 mini"),
            _m("o4-mini", 200_000, 100_000, ALL, (1.10, 4.40, 0.275, 1.10), "o4-mini"),
        ),
        default="gpt-4.1", background="gpt-4.1-mini", thinking="o4-mini", long_context="gpt-4.1",
    ),
    PresetDefaults(
        "zai",
        (
            _m("glm-4.6", 204_800, 131_072, TOOLS_THINKING, (0.60, 2.20, 0.11, 0.60), "GLM-4.6"),
            _m("glm-4.5-air", 131_072, 98_304, TOOLS_THINKING, (0.20, 1.10, 0.03, 0.20), "GLM-4.5-Air"),
        ),
        default="glm-4.6", background="glm-4.5-air", thinking="glm-4.6", long_context="glm-4.6",
    ),
    PresetDefaults(
        "deepseek",
        (
            _m("deepseek-chat", 131_072, 8_192, TOOLS, (0.28, 0.42, 0.028, 0.28), "DeepSeek V3.2"),
            _m("deepseek-reasoner", 131_072, 65_536, TOOLS_THINKING, (0.28, 0.42, 0.028, 0.28),
               "DeepSeek V3.2 (thinking)"),
        ),
        default="deepseek-chat", background="deepseek-chat", thinking="deepseek-reasoner",
        long_context="deepseek-chat",
    ),
    PresetDefaults(
        "moonshot",
        (
            _m("kimi-k2-0905-preview", 262_144, 65_536, TOOLS, (0.60, 2.50, 0.15, 0.60), "Kimi K2"),
            _m("kimi-k2-thinking", 262_144, 65_536, TOOLS_THINKING, (0.60, 2.50, 0.15, 0.60), "Kimi K2 Thinking"),
        ),
        default="kimi-k2-0905-preview", background="kimi-k2-0905-preview", thinking="kimi-k2-thinking",
        long_context="kimi-k2-0905-preview",
    ),
    PresetDefaults(
        "minimax",
        (_m("MiniMax-M2", 204_800, 131_072, TOOLS_THINKING, (0.30, 1.20, 0.03, 0.375), "MiniMax M2"),),
        default="MiniMax-M2", background="MiniMax-M2", thinking="MiniMax-M2", long_context="MiniMax-M2",
    ),
    PresetDefaults(
        "gemini",
        (
            _m("gemini-2.5-pro", 1_048_576, 65_536, ALL, (1.25, 10.0, 0.125, 1.25), "Gemini 2.5 Pro"),
            _m("gemini-2.5-flash", 1_048_576, 65_536, ALL, (0.30, 2.50, 0.03, 0.30), "Gemini 2.5 Flash"),
            _m("gemini-2.5-flash-lite", 1_048_576, 65_536, ALL, (0.10, 0.40, 0.01, 0.10), "Gemini 2.5 Flash-Lite"),
        ),
        default="gemini-2.5-pro", background="gemini-2.5-flash-lite", thinking="gemini-2.5-pro",
        long_context="gemini-2.5-pro",
    ),
    PresetDefaults(
        "groq",
        (
            _m("groq/moonshotai/kimi-k2-instruct-0905", 262_144, 16_384, TOOLS, (1.0, 3.0, 0.50, 1.0),
               "Kimi K2 on Groq"),
            _m("groq/openai/gpt-oss-120b", 131_072, 65_536, TOOLS_THINKING, (0.15, 0.60, 0.15, 0.15),
               "gpt-oss-120b on Groq"),
            _m("groq/openai/gpt-oss-20b", 131_072, 65_536, TOOLS_THINKING, (0.075, 0.30, 0.075, 0.075),
               "gpt-oss-20b on Groq"),
        ),
        default="groq/moonshotai/kimi-k2-instruct-0905", background="groq/openai/gpt-oss-20b",
        thinking="groq/openai/gpt-oss-120b", long_context="groq/moonshotai/kimi-k2-instruct-0905",
    ),
    PresetDefaults(
        "cerebras",
        (
            _m("cerebras/gpt-oss-120b", 131_072, 32_768, TOOLS_THINKING, (0.35, 0.75, 0.35, 0.35),
               "gpt-oss-120b on Cerebras"),
            _m("cerebras/llama3.1-8b", 32_768, 8_192, TOOLS, (0.10, 0.10, 0.10, 0.10), "Llama 3.1 8B on Cerebras"),
        ),
        default="cerebras/gpt-oss-120b", background="cerebras/llama3.1-8b", thinking="cerebras/gpt-oss-120b",
        long_context="cerebras/gpt-oss-120b",
    ),
    PresetDefaults(
        "openrouter",
        (
            _m("openrouter/anthropic/claude-sonnet-4.5", 200_000, 64_000, ALL, (3.0, 15.0, 0.30, 3.75),
               "Claude Sonnet 4.5 via OpenRouter"),
            _m("openrouter/google/gemini-2.5-flash", 1_048_576, 65_535, ALL, (0.30, 2.50, 0.075, 0.30),
               "Gemini 2.5 Flash via OpenRouter"),
        ),
        default="openrouter/anthropic/claude-sonnet-4.5", background="openrouter/google/gemini-2.5-flash",
        thinking="openrouter/anthropic/claude-sonnet-4.5", long_context="openrouter/google/gemini-2.5-flash",
    ),
)  # fmt: skip

# Claude Code's model names (any version) → scenario routes.
CLAUDE_CODE_ALIASES: tuple[tuple[str, str], ...] = (
    ("claude-haiku-*", "background"),
    ("claude-3-5-haiku-*", "background"),
    ("claude-sonnet-*", "default"),
    ("claude-3-7-sonnet-*", "default"),
    ("claude-opus-*", "thinking"),
)

MOCK_MODEL_ID = "aimux-mock"
