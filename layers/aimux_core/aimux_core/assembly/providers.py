"""Configuration → provider adapters and the model catalog (part of the composition root).

Adapters are imported lazily, per dialect, so a configuration that uses only OpenAI-dialect
providers never imports boto3. Keys are read here (environment variable or SSM, see
``config.secrets``): a provider whose key is missing stops the start with an error naming the
provider and where its key was looked for -- all such providers at once, never the key itself.
Every key read is learned by ``redaction`` (by ``read_key``); for Bedrock, the AWS credentials boto3
takes from the environment (Lambda's role credentials) are learned here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..accounting.pricing import Price
from ..config.errors import ConfigError, Problem
from ..config.secrets import SecretError, SsmAccess, read_key
from ..config.sections import TimeoutsConfig
from ..providers.base import Provider
from ..providers.transport import Timeouts
from ..redaction import learn_secret
from ..routing.catalog import Catalog, ModelEntry

AWS_CREDENTIAL_ENVS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

if TYPE_CHECKING:
    import httpx

    from ..config.schema import AimuxConfig, ModelConfig, ProviderConfig


class AdapterUnavailable(Exception):
    """The adapter module of a dialect cannot be imported."""


def _adapter_class(dialect: str) -> Any:
    try:
        # One dialect's adapter (and its dependencies: boto3 for Bedrock) loads only when a provider uses it.
        if dialect == "anthropic":
            from ..providers.anthropic import AnthropicProvider  # see above

            return AnthropicProvider
        if dialect == "openai":
            from ..providers.openai import OpenAIProvider  # see above

            return OpenAIProvider
        if dialect == "bedrock":
            from ..providers.bedrock import BedrockProvider  # see above

            return BedrockProvider
    except ImportError as exc:
        raise AdapterUnavailable(f"the {dialect} adapter cannot be imported ({type(exc).__name__}: {exc})") from None
    raise AdapterUnavailable(f"no adapter for dialect {dialect!r}")


def build_provider(
    name: str,
    config: ProviderConfig,
    *,
    env: Mapping[str, str] = os.environ,
    client: httpx.AsyncClient | None = None,
    ssm: SsmAccess | None = None,
) -> Provider:
    """The adapter for one configured provider (``SecretError`` / ``AdapterUnavailable`` on failure).

    Key variables are read from ``env``; SSM as ``ssm`` says (default: from ``env``)."""
    preset = config.effective_preset(name)
    if preset.dialect == "mock":
        from ..providers.mock import MockProvider  # only a configuration that names the mock loads it

        return MockProvider()
    adapter = _adapter_class(preset.dialect)
    if preset.dialect == "bedrock":
        for variable in AWS_CREDENTIAL_ENVS:  # boto3 reads os.environ, whatever ``env`` says
            learn_secret(os.environ.get(variable))
        provider: Provider = adapter(
            name, preset, region=config.region, endpoint_url=config.endpoint_url, timeouts=timeouts(config.timeouts)
        )
        return provider
    source = config.key_source()
    api_key = read_key(source, env, ssm) if source is not None else None
    provider = adapter(
        name, preset, api_key, base_url=config.base_url, timeouts=timeouts(config.timeouts), client=client
    )
    return provider


def timeouts(config: TimeoutsConfig) -> Timeouts:
    """The transport's ``Timeouts`` for a provider's ``timeouts`` section."""
    return Timeouts(**config.model_dump())


def build_providers(
    config: AimuxConfig,
    *,
    env: Mapping[str, str] = os.environ,
    client: httpx.AsyncClient | None = None,
    ssm: SsmAccess | None = None,
) -> dict[str, Provider]:
    """Every configured provider's adapter, by name; ``ConfigError`` listing every provider that cannot start."""
    providers: dict[str, Provider] = {}
    problems: list[Problem] = []
    for name, provider_config in config.providers.items():
        try:
            providers[name] = build_provider(name, provider_config, env=env, client=client, ssm=ssm)
        except (SecretError, AdapterUnavailable) as exc:
            problems.append(Problem(("providers", name), str(exc)))
    if problems:
        raise ConfigError(config.source, problems)
    return providers


def model_entry(model_id: str, model: ModelConfig) -> ModelEntry:
    """The catalog entry of one configured model."""
    price = None
    if model.price is not None:
        p = model.price
        cache_read = p.cache_read if p.cache_read is not None else p.input
        cache_write = p.cache_write if p.cache_write is not None else p.input
        price = Price(input=p.input, output=p.output, cache_read=cache_read, cache_write=cache_write, batch=p.batch)
    return ModelEntry(
        id=model_id,
        provider=model.provider,
        upstream_model=model.upstream(model_id),
        display_name=model.display_name or model_id,
        context_window=model.context_window,
        max_output=model.max_output,
        capabilities=frozenset(model.capabilities),
        aliases=tuple(model.aliases),
        price=price,
        weight=model.weight,
        cache_min_tokens=model.cache_min_tokens,
    )


def build_catalog(config: AimuxConfig) -> Catalog:
    """The routable models, in the order the configuration lists them."""
    return Catalog(model_entry(model_id, model) for model_id, model in config.models.items())
