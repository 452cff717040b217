"""Provider API keys: read from an environment variable or an SSM SecureString, never from the file.

The configuration only names where a key lives (``api_key_env`` / ``api_key_ssm``). Keys are read
when providers are built, not at import: the SSM client is created on first use and each parameter
is read once per process (a warm Lambda container reuses it). Error messages name the provider and
the variable or parameter, never the key.

``looks_like_key`` is the heuristic that rejects a key pasted where a *name* was expected.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("aimux.config")

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


def read_key(source: KeySource, env: Mapping[str, str]) -> str:
    """The key from its source; ``SecretError`` when it is missing, empty or unreadable."""
    if source.env:
        value = env.get(source.env, "").strip()
        if not value:
            raise SecretError(f"API key {source.describe()} is not set")
        return value
    if source.ssm:
        return read_ssm(source.ssm, region=_region_for(source.ssm, env))
    raise SecretError("no API key source configured")


def _region_for(name: str, env: Mapping[str, str]) -> str | None:
    arn = _SSM_ARN_REGION.match(name)
    if arn:
        return arn.group(1)
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


_lock = threading.Lock()
_clients: dict[str | None, Any] = {}
_cache: dict[tuple[str | None, str], str] = {}


def _ssm_client(region: str | None) -> Any:
    """One SSM client per region per process, created on first use (boto3 is imported only here)."""
    client = _clients.get(region)
    if client is None:
        import boto3
        from botocore.config import Config

        # Short timeouts: this runs at startup, where an unreachable SSM must fail fast, not hang.
        config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
        client = boto3.client("ssm", region_name=region, config=config)
        _clients[region] = client
    return client


def read_ssm(name: str, *, region: str | None = None) -> str:
    """A parameter's decrypted value, read once per process and cached."""
    with _lock:
        cached = _cache.get((region, name))
        if cached is not None:
            return cached
        value = _fetch(name, region)
        _cache[(region, name)] = value
        return value


def _fetch(name: str, region: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        reply = _ssm_client(region).get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        if code == "ParameterNotFound":
            raise SecretError(f"API key SSM parameter {name} does not exist") from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise SecretError(f"access denied reading API key SSM parameter {name}") from None
        raise SecretError(f"cannot read API key SSM parameter {name} ({code})") from None
    except BotoCoreError as exc:
        raise SecretError(f"cannot read API key SSM parameter {name} ({type(exc).__name__})") from None
    parameter = reply.get("Parameter", {})
    value = str(parameter.get("Value", "")).strip()
    if not value:
        raise SecretError(f"API key SSM parameter {name} is empty")
    if parameter.get("Type") != "SecureString":
        log.warning("SSM parameter %s holds an API key but is a %s, not a SecureString", name, parameter.get("Type"))
    return value


def ssm_keys_under(path: str, *, region: str | None = None) -> list[str]:
    """Names of the parameters directly under ``path`` (one ``GetParametersByPath`` call per page).

    Their decrypted values are cached as they arrive, so building the providers reads nothing more.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = "/" + path.strip("/")
    names: list[str] = []
    try:
        pages = _ssm_client(region).get_paginator("get_parameters_by_path")
        for page in pages.paginate(Path=prefix, Recursive=False, WithDecryption=True):
            for parameter in page.get("Parameters", []):
                name, value = parameter.get("Name", ""), str(parameter.get("Value", "")).strip()
                if name and value:
                    with _lock:
                        _cache[(region, name)] = value
                    names.append(name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"cannot list API key SSM parameters under {prefix} ({code})") from None
    except BotoCoreError as exc:
        raise SecretError(f"cannot list API key SSM parameters under {prefix} ({type(exc).__name__})") from None
    return names


def clear_cache() -> None:
    """Forget cached values and clients (tests; a key rotated without a new container)."""
    with _lock:
        _cache.clear()
        _clients.clear()
