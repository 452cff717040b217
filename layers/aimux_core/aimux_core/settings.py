"""Every environment variable that steers aimux, read once, typed and validated: ``Settings``.

Routing lives in the YAML configuration (``config/``); this is the deployment's side: where state
is kept, whether keys are required, what is logged. The composition root (``assembly``) calls
``Settings.from_env()`` once per process and hands each part the values it needs, so no other module
reads ``os.environ`` for them. A malformed variable is a ``SettingsError`` naming it, raised at
start (``aimux serve`` exits 1), never halfway through a request.

The README's variable table is ``markdown_table()``; ``tests/architecture/test_settings_table.py``
fails when the two differ. Not here: provider key variables (``ANTHROPIC_API_KEY``...), named by the
presets and the configuration and read when the gateway is built (``config/secrets.py``), and
``_X_AMZN_TRACE_ID``, which changes per invocation.

pydantic-settings would do this too, but it adds 31-52 ms to the cold import of the Lambda handler
(``bench/README.md``, "One composition root, one Settings, types checked"), for a dozen string
conversions.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AuthMode = Literal["on", "off"]
StateFailure = Literal["open", "closed"]
UpstreamTransport = Literal["aiohttp", "httpx"]
MIN_ADMIN_TOKEN_CHARS = 16
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})  # Powertools' strtobool words too
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """One or more variables are malformed; each line names the variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --------------------------------------------------------------------------- parsers (raw text -> value)


def _text(raw: str) -> str:
    return raw


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be 1 or 0, got {raw!r}")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        lowered = raw.lower()
        if lowered not in allowed:
            raise ValueError(f"must be {' or '.join(repr(a) for a in allowed)}, got {raw!r}")
        return lowered

    return parse


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {raw!r}")
    return value


def _between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = _number(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {raw!r}")
        return value

    return parse


def _positive_seconds(raw: str) -> float:
    try:
        value = _number(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"must be a positive number of seconds, got {raw!r}")
    return value


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {raw!r}")
        return int(raw)

    return parse


def _megabytes(raw: str) -> int:
    value = _number(raw)
    if not 0 < value <= 1024:
        raise ValueError(f"must be a number of megabytes above 0 and at most 1024, got {raw!r}")
    return int(value * 1024 * 1024)


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
    return level


def _admin_token(raw: str) -> str:
    if len(raw) < MIN_ADMIN_TOKEN_CHARS or not raw.isascii() or not raw.isprintable():
        raise ValueError(
            f"must be at least {MIN_ADMIN_TOKEN_CHARS} printable ASCII characters "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _delays(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"must be comma-separated seconds, got {raw!r}") from None
    if not values or any(not 0 <= value <= 900 for value in values):
        raise ValueError("each delay must be 0 to 900 seconds (SQS's longest delay)")
    return values


WEBHOOK_BACKOFF = (5.0, 30.0, 120.0, 600.0, 900.0, 900.0, 900.0, 900.0)
"""Seconds between webhook deliveries (``AIMUX_WEBHOOK_BACKOFF``); SQS delays stop at 900 s."""


def _var(
    env: str | tuple[str, ...], default: Any, doc: str, parse: Callable[[str], Any] = _text, *,
    shown: str | None = None, secret: bool = False,
) -> Any:  # fmt: skip
    """A ``Settings`` field read from ``env`` (the first of several names that is set wins).

    ``shown``: the default as the README states it (when the value alone would not say it).
    """
    names = (env,) if isinstance(env, str) else env
    meta = {"env": names, "doc": doc, "parse": parse, "shown": shown}
    return field(default=default, metadata=meta, repr=not secret)


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True, slots=True)
class Settings:
    # Serving
    host: str = _var("AIMUX_HOST", "127.0.0.1", "bind address of `aimux serve`")
    port: int = _var(
        "AIMUX_PORT", 8080, "port of `aimux serve` (and of `aimux keys` without `--url`)", _whole(1, 65535)
    )
    max_request_bytes: int = _var(
        "AIMUX_MAX_REQUEST_MB",
        10 * 1024 * 1024,
        "larger request bodies get 413 `request_too_large`",
        _megabytes,
        shown="`10`",
    )
    log_level: str = _var("AIMUX_LOG_LEVEL", "INFO", "log level", _log_level)
    gc: str = _var(
        "AIMUX_GC",
        "tuned",
        "`default` keeps Python's garbage-collector settings (aimux freezes start-up objects and collects "
        "young ones less often: ~10 % less CPU per request under load)",
        _choice("tuned", "default"),
    )
    # Configuration and routing
    config_path: str | None = _var(
        "AIMUX_CONFIG",
        None,
        "configuration file (else providers from key variables, else the mock)",
        shown="`./aimux.yaml` if present",
    )
    provider_key_path: str | None = _var(
        "AIMUX_PROVIDER_KEY_PATH",
        None,
        "without a configuration file: SSM path whose `<path>/<preset>` SecureStrings are provider keys",
    )
    deadline_seconds: float | None = _var(
        "AIMUX_DEADLINE_SECONDS",
        None,
        "caps the configuration's `retry.deadline` (behind API Gateway's 30 s)",
        _positive_seconds,
    )
    upstream_transport: UpstreamTransport = _var(
        "AIMUX_UPSTREAM_TRANSPORT",
        "aiohttp",
        "`httpx` moves upstream bytes with httpx's own transport",
        _choice("aiohttp", "httpx"),
    )
    # Keys and shared state
    auth: AuthMode | None = _var(
        "AIMUX_AUTH",
        None,
        "require an aimux API key on client requests",
        _choice("on", "off"),
        shown="`off` locally (no keys), `on` on Lambda",
    )
    key_cache_seconds: float = _var(
        "AIMUX_KEY_CACHE_SECONDS",
        30.0,
        "how long a process trusts a key lookup (the revocation delay)",
        _between(0, 3600),
        shown="`30`",
    )
    table: str | None = _var("AIMUX_TABLE", None, "DynamoDB table for shared state and keys (unset: in memory)")
    dynamodb_endpoint: str | None = _var(
        ("AIMUX_DYNAMODB_ENDPOINT", "AWS_ENDPOINT_URL"),
        None,
        "DynamoDB endpoint (DynamoDB Local, moto)",
    )
    state_failure: StateFailure = _var(
        "AIMUX_STATE_FAILURE",
        "open",
        "state store unreachable: `open` serves and counts the miss, `closed` answers 529/503",
        _choice("open", "closed"),
    )
    finish_writes_in_request: bool | None = _var(
        "AIMUX_FINISH_WRITES_IN_REQUEST",
        None,
        "a response ends only after its state writes (`surfaces/invocation.py`)",
        _flag,
        shown="`1` on Lambda, else `0`",
    )
    signing_key: str | None = _var(
        "AIMUX_SIGNING_KEY",
        None,
        "secret that signs thinking provenance (`translate/thinking.py`)",
        secret=True,
    )
    # Long work: batches and async jobs (jobs/)
    queue_url: str | None = _var(
        "AIMUX_QUEUE_URL",
        None,
        "SQS queue of batch requests, async jobs and webhook deliveries (unset: `aimux serve`'s in-process queue)",
    )
    sqs_endpoint: str | None = _var(("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"), None, "SQS endpoint (moto)")
    bucket: str | None = _var(
        "AIMUX_BUCKET",
        None,
        "S3 bucket of batch inputs and results and job bodies (unset: `AIMUX_DATA_DIR`)",
    )
    s3_endpoint: str | None = _var(("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"), None, "S3 endpoint (moto)")
    data_dir: str = _var("AIMUX_DATA_DIR", ".aimux", "local folder of batch inputs and results and job bodies")
    batch_chunk: int = _var("AIMUX_BATCH_CHUNK", 8, "batch requests per queue message", _whole(1, 100))
    batch_concurrency: int = _var(
        "AIMUX_BATCH_CONCURRENCY", 4, "requests of one queue message served at once", _whole(1, 64)
    )
    batch_max_requests: int = _var(
        "AIMUX_BATCH_MAX_REQUESTS", 100_000, "requests per batch (more: 400)", _whole(1, 1_000_000)
    )
    job_lease_seconds: float = _var(
        "AIMUX_JOB_LEASE_SECONDS",
        900.0,
        "how long a worker owns a request it started; then another may take it over (a worker that died)",
        _between(1, 43_200),
        shown="`900`",
    )
    batch_poll_seconds: float = _var(
        "AIMUX_BATCH_POLL_SECONDS",
        30.0,
        "how often `aimux serve` polls native batches and stalled work (deployed: the schedule, every minute)",
        _between(1, 86_400),
        shown="`30`",
    )
    local_workers: int = _var("AIMUX_LOCAL_WORKERS", 4, "queue messages `aimux serve` handles at once", _whole(1, 256))
    async_webhook_url: str | None = _var(
        "AIMUX_ASYNC_WEBHOOK_URL", None, "the webhook of `x-aimux-async: 1` (unset: poll `GET /v1/jobs/{id}`)"
    )
    webhook_attempts: int = _var(
        "AIMUX_WEBHOOK_ATTEMPTS", 6, "deliveries before a webhook result is parked as a dead letter", _whole(1, 20)
    )
    webhook_backoff: tuple[float, ...] = _var(
        "AIMUX_WEBHOOK_BACKOFF",
        WEBHOOK_BACKOFF,
        "seconds between webhook deliveries, comma-separated",
        _delays,
        shown="`5,30,120,600,900,...`",
    )
    native_batches: bool = _var(
        "AIMUX_NATIVE_BATCHES",
        True,
        "`0`: never send a batch to a provider's batch API (run every request here, at the live price)",
        _flag,
        shown="`1`",
    )
    # Admin routes
    admin_token: str | None = _var(
        "AIMUX_ADMIN_TOKEN",
        None,
        "when set (16+ characters), every `/admin` caller must send it, loopback included ([Security](#admin-routes))",
        _admin_token,
        secret=True,
    )
    admin_allow_remote: bool = _var(
        "AIMUX_ADMIN_ALLOW_REMOTE",
        False,
        "`1` lets non-loopback callers reach `/admin` (with the token; needs `AIMUX_ADMIN_TOKEN`)",
        _flag,
        shown="`0`",
    )
    trusted_proxies: tuple[IPNetwork, ...] = _var(
        "AIMUX_TRUSTED_PROXIES",
        (),
        "comma-separated IPs/CIDRs of reverse proxies whose `X-Forwarded-For`/`Forwarded` name the real "
        "`/admin` caller",
        _networks,
    )
    # Metrics and logs
    emf: bool | None = _var(
        "AIMUX_EMF",
        None,
        "print CloudWatch EMF metrics to stdout",
        _flag,
        shown="off locally, on in Lambda",
    )
    service_name: str = _var("POWERTOOLS_SERVICE_NAME", "aimux", "the `service` dimension of every metric")
    metrics_disabled: bool | None = _var(
        "POWERTOOLS_METRICS_DISABLED",
        None,
        "`true` turns EMF off whatever `AIMUX_EMF` says",
        _flag,
        shown="`false` (`true` under `POWERTOOLS_DEV`)",
    )
    pretty_logs: bool = _var(
        "POWERTOOLS_DEV",
        False,
        "indented JSON log lines (Powertools' development mode)",
        _flag,
        shown="`false`",
    )
    # AWS
    lambda_function: str | None = _var(
        "AWS_LAMBDA_FUNCTION_NAME",
        None,
        "set by Lambda: turns on auth, EMF and writes finished in the request, and IAM guards `/admin`",
    )
    lambda_task_root: str | None = _var(
        "LAMBDA_TASK_ROOT",
        None,
        "set by Lambda: the layer's `/opt/aimux.yaml` is the configuration file",
    )
    region: str | None = _var(
        ("AWS_REGION", "AWS_DEFAULT_REGION"),
        None,
        "region of SSM and Bedrock (unset: boto3's own choice)",
    )
    ssm_endpoint: str | None = _var(("AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"), None, "SSM endpoint (moto)")
    ssm_max_age: int = _var(
        "POWERTOOLS_PARAMETERS_MAX_AGE",
        300,
        "seconds a provider key read from SSM is reused (0: every build)",
        _whole(0, 86_400),
        shown="`300`",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """The settings ``env`` describes; ``SettingsError`` naming every malformed variable."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for spec in fields(cls):
            names: tuple[str, ...] = spec.metadata["env"]
            name, raw = next(((n, env[n].strip()) for n in names if env.get(n, "").strip()), (names[0], ""))
            if not raw:
                continue
            try:
                values[spec.name] = spec.metadata["parse"](raw)
            except ValueError as exc:
                problems.append(f"{name} {exc}")
        if values.get("admin_allow_remote") and "admin_token" not in values:
            problems.append("AIMUX_ADMIN_ALLOW_REMOTE=1 needs AIMUX_ADMIN_TOKEN: remote admin callers must present it")
        if problems:
            raise SettingsError(problems)
        return cls(**values)

    # ----------------------------------------------------------------- decisions made of several variables

    @property
    def on_lambda(self) -> bool:
        return bool(self.lambda_function)

    @property
    def emf_enabled(self) -> bool:
        """Write EMF? ``AIMUX_EMF`` decides when set, else yes on Lambda; metrics disabled as Powertools
        reads it (``POWERTOOLS_METRICS_DISABLED``, else ``POWERTOOLS_DEV``) wins."""
        wanted = self.emf if self.emf is not None else self.on_lambda
        disabled = self.metrics_disabled if self.metrics_disabled is not None else self.pretty_logs
        return wanted and not disabled

    @property
    def finishes_writes_in_request(self) -> bool:
        """Responses wait for their state writes: on Lambda unless ``AIMUX_FINISH_WRITES_IN_REQUEST=0``."""
        return self.finish_writes_in_request if self.finish_writes_in_request is not None else self.on_lambda

    @property
    def jobs_local_mode(self) -> bool:
        """``aimux serve`` with its in-process queue (not on Lambda, no ``AIMUX_QUEUE_URL``): webhooks may
        then use ``http://`` to a loopback address (``jobs/webhooks.py``)."""
        return not self.on_lambda and not self.queue_url

    @property
    def tunes_gc(self) -> bool:
        return self.gc != "default"


def markdown_table() -> str:
    """The README's table of variables, one row per ``Settings`` field (see the module docstring)."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for spec in fields(Settings):
        names = " or ".join(f"`{name}`" for name in spec.metadata["env"])
        shown = spec.metadata["shown"]
        if shown is None:
            shown = "unset" if spec.default in (None, ()) else f"`{spec.default}`"
        rows.append(f"| {names} | {shown} | {spec.metadata['doc']} |")
    return "\n".join(rows)
