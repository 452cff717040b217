"""One ``providers`` entry: a preset plus overrides, or an explicit dialect, and where its key lives.

The key itself is never a value of the file: an inline key (``api_key: sk-...``), a key pasted into
``api_key_env``/``api_key_ssm``, or credentials in ``headers`` are rejected with a message saying
what to do instead. ``effective_preset`` gives the adapter the preset with this entry's overrides.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import Field, PositiveInt, StringConstraints, field_validator, model_validator

from ..presets import PRESETS, AuthStyle, BetaPolicy, CacheTtl, Dialect, PromptCaching, ProviderPreset, Reasoning
from .errors import ConfigProblems, Problem
from .secrets import ENV_NAME, SSM_NAME, KeySource, looks_like_key
from .sections import BreakerOverride, LimitsConfig, Section, TimeoutsConfig

INLINE_KEY_MESSAGE = (
    "API keys may not be written in the config file: put the key in an environment variable and set "
    "api_key_env to its name, or in an SSM SecureString and set api_key_ssm to the parameter name"
)
_INLINE_KEY_FIELDS = frozenset(
    {"api_key", "apikey", "key", "token", "api_token", "access_token", "auth_token", "secret", "password",
     "secret_key", "access_key", "aws_access_key_id", "aws_secret_access_key", "bearer", "authorization"}
)  # fmt: skip
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"})
_DEFAULT_AUTH: Mapping[str, AuthStyle] = MappingProxyType(
    {"anthropic": "x-api-key", "openai": "bearer", "bedrock": "aws", "mock": "none"}
)


class ProviderConfig(Section):
    """One upstream: a ``preset`` plus overrides, or an explicit ``dialect`` and ``base_url``."""

    preset: str | None = None
    """A known provider (``aimux_core.presets``): base URL, auth, dialect and quirks."""
    dialect: Dialect | None = None
    """Without a preset: the API the upstream speaks (``anthropic``, ``openai``, ``bedrock``, ``mock``)."""
    base_url: str | None = None
    """Overrides the preset's URL (anthropic dialect: the root, without ``/v1``; openai: including ``/v1``)."""
    auth: AuthStyle | None = None
    """How the key is sent: ``x-api-key``, ``bearer``, ``none`` (bedrock: ``aws``). Default: preset's/dialect's."""
    api_key_env: str | None = None
    """Environment variable holding the key (default: the preset's, e.g. ``ANTHROPIC_API_KEY``)."""
    api_key_ssm: str | None = None
    """SSM parameter (SecureString) name or ARN holding the key, read once per process at startup."""
    region: str | None = None
    """Bedrock only: AWS region (default: the environment's)."""
    endpoint_url: str | None = None
    """Bedrock only: a custom bedrock-runtime endpoint."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with every request (never credentials)."""
    max_tokens_cap: PositiveInt | None = None
    """``max_tokens`` is clamped to this (the upstream's output limit)."""
    supports_images: bool | None = None
    """Whether image blocks can be sent at all (default: the preset's; true without one)."""
    reasoning: Reasoning | None = None
    """How the upstream returns reasoning: ``signed``, ``echo``, ``plain``, ``none`` (default: preset's)."""
    beta_policy: BetaPolicy | None = None
    """Anthropic/Bedrock dialects: which ``anthropic-beta`` flags reach the upstream: ``forward`` (all),
    ``allowlist`` (those in ``allowed_betas``), ``drop`` (none; the default without a preset). The
    request fields a flag turns on (``context_management``, ``output_config.effort``...) go with it."""
    allowed_betas: tuple[NonEmptyStr, ...] | None = None
    """The flags forwarded under ``beta_policy: allowlist`` (default: the preset's)."""
    count_tokens: bool | None = None
    """Anthropic dialect: the upstream implements ``/v1/messages/count_tokens`` (default: the preset's;
    false without one), so token counts routed to it are exact instead of estimated."""
    limits: LimitsConfig = LimitsConfig()
    """Request rate and concurrency aimux allows towards this provider."""
    timeouts: TimeoutsConfig = TimeoutsConfig()
    """Connect, first-byte, idle and total timeouts of each call."""
    breaker: BreakerOverride | None = None
    """Overrides of the top-level ``breaker`` for this provider."""
    prompt_caching: PromptCaching | None = None
    """Automatic prompt caching: ``auto``, ``multi_turn`` (conversations only) or ``off`` (default: the
    preset's: ``auto`` for anthropic, bedrock and openai, else ``off``). Anthropic and Bedrock dialects get
    cache breakpoints; OpenAI-dialect providers with ``prompt_cache_key`` get a key."""
    prompt_cache_ttl: CacheTtl | None = None
    """Anthropic and Bedrock dialects: TTL of the breakpoints aimux places, ``5m`` or ``1h`` (default: ``5m``;
    a 1-hour write costs 2x the input price and pays off from the second reuse)."""
    prompt_cache_key: bool | None = None
    """OpenAI dialect: send ``prompt_cache_key`` (default: the preset's; only OpenAI's is on, since other
    servers may reject an unknown field)."""

    @model_validator(mode="before")
    @classmethod
    def _no_inline_key(cls, data: Any) -> Any:
        if isinstance(data, dict):
            inline = [k for k in data if isinstance(k, str) and k.lower().replace("-", "_") in _INLINE_KEY_FIELDS]
            if inline:
                raise ConfigProblems(Problem((k,), INLINE_KEY_MESSAGE) for k in inline)
        return data

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None:
            if looks_like_key(value):
                raise ValueError(f"this looks like an API key itself. {INLINE_KEY_MESSAGE}")
            if not ENV_NAME.match(value):
                raise ValueError("must be the name of an environment variable (letters, digits and _)")
        return value

    @field_validator("api_key_ssm")
    @classmethod
    def _ssm_name(cls, value: str | None) -> str | None:
        if value is not None:
            if looks_like_key(value):
                raise ValueError(f"this looks like an API key itself. {INLINE_KEY_MESSAGE}")
            if not SSM_NAME.match(value):
                raise ValueError("must be an SSM parameter name (e.g. /aimux/anthropic-key) or ARN")
        return value

    @field_validator("base_url", "endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("headers")
    @classmethod
    def _no_credentials_in_headers(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name, text in value.items() if name.lower() in _AUTH_HEADERS or looks_like_key(text)]
        if bad:
            raise ConfigProblems(Problem((name,), INLINE_KEY_MESSAGE) for name in bad)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProviderConfig:
        problems = list(_provider_problems(self))
        if problems:
            raise ConfigProblems(problems)
        return self

    def base_preset(self) -> ProviderPreset | None:
        return PRESETS.get(self.preset) if self.preset else None

    def effective_dialect(self) -> Dialect:
        base = self.base_preset()
        return base.dialect if base else (self.dialect or "openai")

    def effective_auth(self) -> AuthStyle:
        base = self.base_preset()
        return self.auth or (base.auth if base else _DEFAULT_AUTH[self.effective_dialect()])

    def key_source(self) -> KeySource | None:
        """Where the key comes from, or None when the provider authenticates without one."""
        if self.effective_auth() in ("none", "aws"):
            return None
        if self.api_key_ssm:
            return KeySource(ssm=self.api_key_ssm)
        base = self.base_preset()
        env = self.api_key_env or (base.key_env if base else None)
        return KeySource(env=env) if env else None

    def effective_preset(self, name: str) -> ProviderPreset:
        """The preset the adapter gets: the named one with this provider's overrides applied."""
        base = self.base_preset() or ProviderPreset(
            name=name, dialect=self.effective_dialect(), base_url="", auth=self.effective_auth(), key_env=None,
            display_name=name,
        )  # fmt: skip
        changes: dict[str, Any] = {"auth": self.effective_auth()}
        source = self.key_source()
        changes["key_env"] = source.env if source else None
        if self.base_url:
            changes["base_url"] = self.base_url
        if self.headers:
            changes["extra_headers"] = MappingProxyType({**base.extra_headers, **self.headers})
        for field in (
            "max_tokens_cap",
            "supports_images",
            "reasoning",
            "beta_policy",
            "count_tokens",
            "prompt_caching",
            "prompt_cache_ttl",
            "prompt_cache_key",
        ):
            if getattr(self, field) is not None:
                changes[field] = getattr(self, field)
        if self.allowed_betas is not None:
            changes["allowed_betas"] = frozenset(self.allowed_betas)
        return replace(base, **changes)


def _provider_problems(p: ProviderConfig) -> list[Problem]:
    """Rules of one provider entry on its own (names of other entries are ``checks``' business)."""
    problems: list[Problem] = []
    if p.preset is not None and p.preset not in PRESETS:
        close = difflib.get_close_matches(p.preset, list(PRESETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(Problem(("preset",), f"unknown preset {p.preset!r}; {hint}known: {', '.join(PRESETS)}"))
        return problems
    if p.preset and p.dialect:
        problems.append(Problem(("dialect",), f"the dialect comes from preset {p.preset!r}; remove one of them"))
    if not p.preset and not p.dialect:
        problems.append(Problem((), f"set a preset ({', '.join(PRESETS)}) or a dialect with its base_url"))
        return problems
    dialect, auth = p.effective_dialect(), p.effective_auth()
    if not p.preset and dialect in ("anthropic", "openai") and not p.base_url:
        problems.append(Problem(("base_url",), f"required for a {dialect}-dialect provider without a preset"))
    if p.api_key_env and p.api_key_ssm:
        problems.append(Problem(("api_key_ssm",), "set api_key_env or api_key_ssm, not both"))
    if dialect == "bedrock" and auth != "aws":
        problems.append(Problem(("auth",), "bedrock authenticates with AWS credentials; auth must be 'aws'"))
    if dialect != "bedrock" and auth == "aws":
        problems.append(Problem(("auth",), "'aws' auth is for the bedrock dialect only"))
    if dialect != "bedrock":
        problems += [Problem((f,), "only for bedrock providers") for f in ("region", "endpoint_url") if getattr(p, f)]
    if dialect not in ("anthropic", "bedrock"):
        problems += [
            Problem((f,), "only for anthropic and bedrock providers")
            for f in ("beta_policy", "allowed_betas")
            if getattr(p, f) is not None
        ]
    if dialect != "anthropic" and p.count_tokens is not None:
        problems.append(Problem(("count_tokens",), "only for anthropic-dialect providers"))
    if dialect != "openai" and p.prompt_cache_key is not None:
        problems.append(Problem(("prompt_cache_key",), "only for openai-dialect providers"))
    if dialect not in ("anthropic", "bedrock") and p.prompt_cache_ttl is not None:
        problems.append(Problem(("prompt_cache_ttl",), "only for anthropic and bedrock providers"))
    if p.allowed_betas is not None:
        base = p.base_preset()
        policy = p.beta_policy or (base.beta_policy if base else "drop")
        if policy != "allowlist":
            problems.append(Problem(("allowed_betas",), f"only used with beta_policy: allowlist (here {policy!r})"))
    keyed = p.api_key_env or p.api_key_ssm
    if keyed and auth in ("none", "aws"):
        field = "api_key_env" if p.api_key_env else "api_key_ssm"
        hint = " (set auth: bearer or x-api-key to send one)" if auth == "none" else ""
        problems.append(Problem((field,), f"this provider authenticates with {auth!r} and takes no key{hint}"))
    if not keyed and auth in ("x-api-key", "bearer") and p.key_source() is None:
        problems.append(Problem(("api_key_env",), f"required: the provider sends its key as {auth!r}"))
    return problems
