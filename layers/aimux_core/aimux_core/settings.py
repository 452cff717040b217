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

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from . import settings_parsers as parsers
from .settings_parsers import IPNetwork

AuthMode = Literal["on", "off"]
StateFailure = Literal["open", "closed"]
UpstreamTransport = Literal["aiohttp", "httpx"]


class SettingsError(ValueError):
    """One or more variables are malformed; each line names the variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


WEBHOOK_BACKOFF = (5.0, 30.0, 120.0, 600.0, 900.0, 900.0, 900.0, 900.0)
"""Seconds between webhook deliveries (``AIMUX_WEBHOOK_BACKOFF``); SQS delays stop at 900 s."""


def _var(
    env: str | tuple[str, ...], default: Any, doc: str, parse: Callable[[str], Any] = parsers.text, *,
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
        "AIMUX_PORT", 8080, "port of `aimux serve` (and of `aimux keys` without `--url`)", parsers.whole(1, 65535)
    )
    max_request_bytes: int = _var(
        "AIMUX_MAX_REQUEST_MB",
        10 * 1024 * 1024,
        "larger request bodies get 413 `request_too_large`",
        parsers.megabytes,
        shown="`10`",
    )
    log_level: str = _var("AIMUX_LOG_LEVEL", "INFO", "log level", parsers.log_level)
    gc: str = _var(
        "AIMUX_GC",
        "tuned",
        "`default` keeps Python's garbage-collector settings (aimux freezes start-up objects and collects "
        "young ones less often: ~10 % less CPU per request under load)",
        parsers.choice("tuned", "default"),
    )
    cors_origins: tuple[str, ...] = _var(
        "AIMUX_CORS_ORIGINS",
        (),
        "comma-separated origins whose pages may call the client API (`*`: any); preflights answered "
        "([CORS](#cors-browser-clients))",
        parsers.origins,
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
        parsers.positive_seconds,
    )
    upstream_transport: UpstreamTransport = _var(
        "AIMUX_UPSTREAM_TRANSPORT",
        "aiohttp",
        "`httpx` moves upstream bytes with httpx's own transport",
        parsers.choice("aiohttp", "httpx"),
    )
    # Keys and shared state
    auth: AuthMode | None = _var(
        "AIMUX_AUTH",
        None,
        "require an aimux API key on client requests",
        parsers.choice("on", "off"),
        shown="`off` locally (no keys), `on` on Lambda",
    )
    key_cache_seconds: float = _var(
        "AIMUX_KEY_CACHE_SECONDS",
        30.0,
        "how long a process trusts a key lookup (the revocation delay)",
        parsers.between(0, 3600),
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
        parsers.choice("open", "closed"),
    )
    finish_writes_in_request: bool | None = _var(
        "AIMUX_FINISH_WRITES_IN_REQUEST",
        None,
        "a response ends only after its state writes (`surfaces/invocation.py`)",
        parsers.flag,
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
    batch_chunk: int = _var("AIMUX_BATCH_CHUNK", 8, "batch requests per queue message", parsers.whole(1, 100))
    batch_concurrency: int = _var(
        "AIMUX_BATCH_CONCURRENCY", 4, "requests of one queue message served at once", parsers.whole(1, 64)
    )
    batch_max_requests: int = _var(
        "AIMUX_BATCH_MAX_REQUESTS", 100_000, "requests per batch (more: 400)", parsers.whole(1, 1_000_000)
    )
    job_lease_seconds: float = _var(
        "AIMUX_JOB_LEASE_SECONDS",
        900.0,
        "how long a worker owns a request it started; then another may take it over (a worker that died)",
        parsers.between(1, 43_200),
        shown="`900`",
    )
    batch_poll_seconds: float = _var(
        "AIMUX_BATCH_POLL_SECONDS",
        30.0,
        "how often `aimux serve` polls native batches and stalled work (deployed: the schedule, every minute)",
        parsers.between(1, 86_400),
        shown="`30`",
    )
    local_workers: int = _var(
        "AIMUX_LOCAL_WORKERS", 4, "queue messages `aimux serve` handles at once", parsers.whole(1, 256)
    )
    async_webhook_url: str | None = _var(
        "AIMUX_ASYNC_WEBHOOK_URL", None, "the webhook of `x-aimux-async: 1` (unset: poll `GET /v1/jobs/{id}`)"
    )
    webhook_attempts: int = _var(
        "AIMUX_WEBHOOK_ATTEMPTS",
        6,
        "deliveries before a webhook result is parked as a dead letter",
        parsers.whole(1, 20),
    )
    webhook_backoff: tuple[float, ...] = _var(
        "AIMUX_WEBHOOK_BACKOFF",
        WEBHOOK_BACKOFF,
        "seconds between webhook deliveries, comma-separated",
        parsers.delays,
        shown="`5,30,120,600,900,...`",
    )
    native_batches: bool = _var(
        "AIMUX_NATIVE_BATCHES",
        True,
        "`0`: never send a batch to a provider's batch API (run every request here, at the live price)",
        parsers.flag,
        shown="`1`",
    )
    # Admin routes
    admin_token: str | None = _var(
        "AIMUX_ADMIN_TOKEN",
        None,
        "when set (16+ characters), every `/admin` caller must send it, loopback included ([Security](#admin-routes))",
        parsers.admin_token,
        secret=True,
    )
    admin_allow_remote: bool = _var(
        "AIMUX_ADMIN_ALLOW_REMOTE",
        False,
        "`1` lets non-loopback callers reach `/admin` (with the token; needs `AIMUX_ADMIN_TOKEN`)",
        parsers.flag,
        shown="`0`",
    )
    trusted_proxies: tuple[IPNetwork, ...] = _var(
        "AIMUX_TRUSTED_PROXIES",
        (),
        "comma-separated IPs/CIDRs of reverse proxies whose `X-Forwarded-For`/`Forwarded` name the real "
        "`/admin` caller",
        parsers.networks,
    )
    # Usage records and the operator's commands
    usage_retention_days: int = _var(
        "AIMUX_USAGE_RETENTION_DAYS",
        400,
        "days the daily usage rows of `/admin/usage` are kept (DynamoDB TTL)",
        parsers.whole(1, 3660),
        shown="`400`",
    )
    usage_max_range_days: int = _var(
        "AIMUX_USAGE_MAX_RANGE_DAYS",
        92,
        "the longest `from`..`to` range `GET /admin/usage` answers (400 beyond)",
        parsers.whole(1, 3660),
        shown="`92`",
    )
    client_key: str | None = _var(
        "AIMUX_KEY",
        None,
        "the aimux API key `aimux claude` and `aimux env` give the client when `--key` is not given",
        secret=True,
    )
    # Metrics and logs
    emf: bool | None = _var(
        "AIMUX_EMF",
        None,
        "print CloudWatch EMF metrics to stdout",
        parsers.flag,
        shown="off locally, on in Lambda",
    )
    service_name: str = _var("POWERTOOLS_SERVICE_NAME", "aimux", "the `service` dimension of every metric")
    metrics_disabled: bool | None = _var(
        "POWERTOOLS_METRICS_DISABLED",
        None,
        "`true` turns EMF off whatever `AIMUX_EMF` says",
        parsers.flag,
        shown="`false` (`true` under `POWERTOOLS_DEV`)",
    )
    pretty_logs: bool = _var(
        "POWERTOOLS_DEV",
        False,
        "indented JSON log lines (Powertools' development mode)",
        parsers.flag,
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
        parsers.whole(0, 86_400),
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


def variable_of(field_name: str) -> str:
    """The environment variable a ``Settings`` field is read from (the first, when several are)."""
    names: tuple[str, ...] = next(spec for spec in fields(Settings) if spec.name == field_name).metadata["env"]
    return names[0]


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
