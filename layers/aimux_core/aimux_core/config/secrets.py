"""Provider API keys: read from an environment variable or an SSM SecureString, never from the file.

The configuration only names where a key lives (``api_key_env`` / ``api_key_ssm``). Keys are read
when providers are built, not at import. Error messages name the provider and the variable or
parameter, never the key, and never chain the SDK's exception.

SSM SecureStrings are read decrypted with Powertools Parameters (``SSMProvider``):

- Cold start: nothing here imports boto3, botocore or Powertools Parameters at module import (the
  parameters package pulls in boto3, about 0.3 s). One provider per (region, endpoint) is built on
  first use, around a client with short timeouts (an unreachable SSM must fail the start in seconds,
  not hang it) and the endpoint of ``AWS_ENDPOINT_URL_SSM`` / ``AWS_ENDPOINT_URL`` (moto in tests).
- Cache: Powertools' own, ``max_age`` seconds from ``POWERTOOLS_PARAMETERS_MAX_AGE`` (Powertools'
  variable, set by the template; default 300, ``0`` turns caching off; read when the provider is
  built). Why a bounded cache rather than once per process: a warm container reads a key without a
  second SSM call (latency, SSM's request quota), yet a rotated key is read afresh once ``max_age``
  has passed. That bounds the age of a *read*: adapters keep the key they were built with, and the
  gateway is built once per process, so a running container uses its key until it is replaced.
- Listing (``ssm_keys_under``): ``GetParametersByPath`` page by page (10 parameters a page); the
  decrypted values also seed the per-parameter cache, so building the providers reads nothing more.
- A key parameter that is not a SecureString still works, with a warning (name and type only).

Every value read here (also each value of a listing) is handed to ``redaction.learn_secret`` before it
is returned, so it is redacted by value from error messages, log lines and metrics from then on.

``looks_like_key`` is the heuristic that rejects a key pasted where a *name* was expected.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..redaction import learn_secret
from ..settings import Settings

log = logging.getLogger("aimux.config")

DEFAULT_MAX_AGE_SECONDS = 300
# Short timeouts: keys are read at startup, where an unreachable SSM must fail fast, not hang.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
RETRIES = 3  # botocore "max_attempts": retries after the first call

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SSM_NAME = re.compile(r"^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?/?[A-Za-z0-9_.\-/]{1,2048}$")
_SSM_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:ssm:([a-z0-9-]+):")
# Prefixes of the key formats in common use (Anthropic, OpenAI, OpenRouter, Groq, Cerebras, Gemini,
# xAI, Hugging Face, JWT-style keys, AWS access keys...).
_KEY_PREFIXES = ("sk-", "sk_", "gsk_", "csk-", "xai-", "AIza", "hf_", "r8_", "nvapi-", "pplx-", "fw_", "eyJ")
_AWS_ACCESS_KEY = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
_RANDOM_RUN = re.compile(r"[A-Za-z0-9]{24,}")


def looks_like_key(value: str) -> bool:
    """True for strings shaped like a credential rather than a variable or parameter name."""
    text = value.strip()
    if text.startswith(_KEY_PREFIXES) or _AWS_ACCESS_KEY.match(text):
        return True
    if text.lower().startswith(("bearer ", "basic ")):
        return True
    # A long unbroken run of digits and letters, lowercase among them (variable names are upper case).
    return any(any(c.isdigit() for c in run) and any(c.islower() for c in run) for run in _RANDOM_RUN.findall(text))


class SecretError(Exception):
    """A key could not be read; the message names where it was looked for, never its value."""


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where one provider's key lives: exactly one of ``env`` and ``ssm`` is set."""

    env: str | None = None
    ssm: str | None = None

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"SSM parameter {self.ssm}"


@dataclass(frozen=True, slots=True)
class SsmAccess:
    """Where SSM is and how long a value read from it is reused: ``Settings.region``, ``ssm_endpoint``
    (``AWS_ENDPOINT_URL_SSM``, moto in tests) and ``ssm_max_age`` (``POWERTOOLS_PARAMETERS_MAX_AGE``)."""

    region: str | None = None
    endpoint: str | None = None
    max_age: int = DEFAULT_MAX_AGE_SECONDS

    @classmethod
    def of(cls, settings: Settings) -> SsmAccess:
        return cls(settings.region, settings.ssm_endpoint, settings.ssm_max_age)


def read_key(source: KeySource, env: Mapping[str, str], ssm: SsmAccess | None = None) -> str:
    """The key from its source; ``SecretError`` when it is missing, empty or unreadable. ``ssm`` defaults
    to what ``env`` says (``Settings.from_env``)."""
    if source.env:
        value = env.get(source.env, "").strip()
        if not value:
            raise SecretError(f"API key {source.describe()} is not set")
        learn_secret(value)
        return value
    if source.ssm:
        access = ssm if ssm is not None else SsmAccess.of(Settings.from_env(env))
        return read_ssm(source.ssm, region=_region_for(source.ssm, access.region), ssm=access)
    raise SecretError("no API key source configured")


def _region_for(name: str, default: str | None) -> str | None:
    arn = _SSM_ARN_REGION.match(name)
    return arn.group(1) if arn else default


_lock = threading.Lock()
_providers: dict[tuple[str | None, str | None], Any] = {}


def _ssm_client(region: str | None, endpoint_url: str | None) -> Any:
    """A new SSM client with aimux's timeouts (boto3 is imported only here, on first use)."""
    # boto3 on the first SSM read, never at import: Lambda's cold start, and no AWS SDK without SSM keys.
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": RETRIES, "mode": "standard"},
    )
    return boto3.session.Session().client("ssm", region_name=region, endpoint_url=endpoint_url, config=config)


@functools.cache
def _provider_class() -> type[Any]:
    """``SSMProvider`` with aimux's two additions (the class is made on first use: importing
    Powertools Parameters imports boto3). ``_get`` / ``_get_multiple`` are the fetch methods Powertools
    lets a provider define; its caching and error wrapping around them are unchanged."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # imports boto3: first SSM read only

    class KeyParameterProvider(SSMProvider):
        def __init__(self, client: Any, max_age: int) -> None:
            super().__init__(boto3_client=client)
            self.max_age = max_age

        def _get(self, name: str, decrypt: bool = False, **sdk_options: Any) -> str:
            """Powertools' read, plus a warning when a key is stored in the clear."""
            parameter = self.client.get_parameter(**sdk_options, Name=name, WithDecryption=decrypt)["Parameter"]
            if parameter.get("Type") != "SecureString":
                log.warning(
                    "SSM parameter %s holds an API key but is a %s, not a SecureString", name, parameter.get("Type")
                )
            return str(parameter["Value"])

        def _get_multiple(
            self, path: str, decrypt: bool | None = None, recursive: bool = False, **sdk_options: Any
        ) -> dict[str, str]:
            """Powertools' listing; each decrypted value also seeds the cache of ``get(<full name>)``."""
            values: dict[str, str] = super()._get_multiple(path, decrypt=decrypt, recursive=recursive, **sdk_options)
            if decrypt:
                base = path.rstrip("/")
                for relative, value in values.items():
                    key = self._build_cache_key(name=f"{base}/{relative}")
                    self.add_to_cache(key=key, value=value, max_age=self.max_age)
            return values

    return KeyParameterProvider


def _provider(region: str | None, ssm: SsmAccess) -> Any:
    """The process's provider for this region and endpoint (call with ``_lock`` held).

    ``region=None`` means boto3's own choice (``AWS_DEFAULT_REGION``...), fixed when the client is built.
    """
    provider = _providers.get((region, ssm.endpoint))
    if provider is None:
        client = _ssm_client(region, ssm.endpoint)
        provider = _providers[(region, ssm.endpoint)] = _provider_class()(client, ssm.max_age)
    return provider


def _failure(exc: BaseException) -> str:
    """The SDK's error code, or the exception's type name, for a message (never the SDK's text)."""
    # Only after an SSM read failed, so the SDK is loaded already; importing it here keeps it out of start-up.
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import ClientError

    cause = exc
    if isinstance(exc, GetParameterError) and exc.__context__ is not None:
        cause = exc.__context__  # Powertools wraps every SDK error in GetParameterError(str(error))
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", "error"))
    return type(cause).__name__


def _sdk_errors() -> tuple[type[Exception], ...]:
    # Around an SSM read, when the SDK is loaded anyway; never at import (cold start).
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    return GetParameterError, BotoCoreError, ClientError


def read_ssm(name: str, *, region: str | None = None, ssm: SsmAccess | None = None) -> str:
    """A parameter's decrypted value, from SSM or from the provider's cache (``max_age`` seconds).
    ``ssm`` defaults to what the environment says (``Settings.from_env``)."""
    access = ssm if ssm is not None else SsmAccess.of(Settings.from_env())
    errors = _sdk_errors()
    with _lock:  # one SSM call per parameter even when several threads start at once
        try:
            provider = _provider(region, access)
            value = provider.get(name, decrypt=True, max_age=provider.max_age)
        except errors as exc:
            code = _failure(exc)
            if code == "ParameterNotFound":
                raise SecretError(f"API key SSM parameter {name} does not exist") from None
            if code in ("AccessDeniedException", "AccessDenied"):
                raise SecretError(f"access denied reading API key SSM parameter {name}") from None
            raise SecretError(f"cannot read API key SSM parameter {name} ({code})") from None
    text = str(value or "").strip()
    if not text:
        raise SecretError(f"API key SSM parameter {name} is empty")
    learn_secret(text)
    return text


def ssm_keys_under(path: str, ssm: SsmAccess) -> list[str]:
    """Full names of the parameters directly under ``path`` with a non-blank value (one listing, paged).

    Their decrypted values are cached as they arrive, so building the providers reads nothing more.
    """
    prefix = "/" + path.strip("/")
    errors = _sdk_errors()
    with _lock:
        try:
            provider = _provider(ssm.region, ssm)
            values = provider.get_multiple(prefix, decrypt=True, recursive=False, max_age=provider.max_age)
        except errors as exc:
            raise SecretError(f"cannot list API key SSM parameters under {prefix} ({_failure(exc)})") from None
    base = prefix.rstrip("/")
    for value in values.values():
        learn_secret(str(value))
    return [f"{base}/{relative}" for relative, value in values.items() if relative and str(value).strip()]


def clear_cache() -> None:
    """Forget the providers, their clients and cached values (tests; a key rotated within ``max_age``)."""
    with _lock:
        for provider in _providers.values():
            provider.clear_cache()
        _providers.clear()
