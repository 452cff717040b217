"""The conformance suite's test deployment: fake upstreams and the real adapters in front of them.

Why not ``local_app()`` as is: the conformance suite must exercise the real adapters
(``AnthropicProvider``, ``OpenAIProvider``, ``BedrockProvider``) against servers that speak each
provider's dialect, so ``build_gateway`` puts one model per upstream into the catalog:

    catalog id       provider    preset            fake
    up-anthropic     anthropic   anthropic         AnthropicUpstream
    up-openai        openai      openai            OpenAIUpstream (under /v1)
    up-deepseek      deepseek    deepseek-openai   OpenAIUpstream (no /v1; 400 for a tool-call turn
                                                   without its reasoning, like DeepSeek's thinking mode)
    up-bedrock       bedrock     bedrock           BedrockUpstream (boto3 ``endpoint_url``)

plus a ``-fast`` twin of each with short timeouts, for the cells proving that a stalled upstream
never hangs a client. An adapter that cannot be imported or constructed is recorded in
``BuiltGateway.missing`` so that only its cells fail, naming the reason, while the rest still run.

The tools to look at both ends of the wire live beside this module, in the order a cell uses them:
``wire_tap``, ``scenario``, ``client_answers``, ``stream_checks``, ``upstream_view``, ``sdk_calls``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from fakes.anthropic_upstream import AnthropicUpstream
from fakes.bedrock_upstream import BedrockUpstream
from fakes.openai_upstream import OpenAIUpstream

UPSTREAM_KEYS = {
    "anthropic": "sk-" "ant-upstream-conformance-0001",
    "openai": "sk-openai-upstream-conformance-0001",
    "deepseek": "sk-deepseek-upstream-conformance-0001",
}
# Credentials boto3 reads from the environment (the fake records SigV4 signatures, never checks them).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION")
# Short enough that a stall is noticed at once, long enough for a loopback answer.
FAST_CONNECT, FAST_FIRST_BYTE, FAST_IDLE, FAST_TOTAL = 2.0, 0.6, 0.6, 1.0


@dataclass(frozen=True)
class Upstream:
    """One upstream of the test gateway: the catalog id a client asks for, what the fake must see."""

    key: str  # "anthropic" | "openai" | "deepseek" | "bedrock": also the provider name
    dialect: str  # "anthropic" | "openai" | "bedrock"
    model: str  # the catalog id clients send
    upstream_model: str  # the model id the upstream must receive
    preset: str

    @property
    def fast_model(self) -> str:
        return f"{self.model}-fast"

    @property
    def fast_provider(self) -> str:
        return f"{self.key}-fast"


UPSTREAMS: dict[str, Upstream] = {
    u.key: u
    for u in (
        Upstream("anthropic", "anthropic", "up-anthropic", "claude-sonnet-4-5-20250929", "anthropic"),
        Upstream("openai", "openai", "up-openai", "gpt-4.1-2025-04-14", "openai"),
        Upstream("deepseek", "openai", "up-deepseek", "deepseek-v4-flash", "deepseek-openai"),
        Upstream("bedrock", "bedrock", "up-bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock"),
    )
}


@dataclass
class Fakes:
    """The fake servers one gateway talks to (``deepseek`` is a second OpenAI-dialect fake)."""

    anthropic: AnthropicUpstream
    openai: OpenAIUpstream
    deepseek: OpenAIUpstream
    bedrock: BedrockUpstream

    def all(self) -> list[AnthropicUpstream | OpenAIUpstream | BedrockUpstream]:
        return [self.anthropic, self.openai, self.deepseek, self.bedrock]

    def of(self, key: str) -> Any:
        """The fake behind upstream ``key``."""
        return getattr(self, key)


def start_fakes() -> Fakes:
    """Start the four fakes; stop them with ``stop_fakes``."""
    started: list[Any] = []
    try:
        deepseek = OpenAIUpstream(base_path="", require_reasoning_echo=True)  # 400s like DeepSeek's thinking mode
        for fake in (AnthropicUpstream(), OpenAIUpstream(), deepseek, BedrockUpstream()):
            started.append(fake.start())
    except BaseException:
        for fake in started:
            fake.stop()
        raise
    return Fakes(*started)


def stop_fakes(fakes: Fakes) -> None:
    for fake in fakes.all():
        fake.stop()


@dataclass
class BuiltGateway:
    """The adapters and catalog of a test deployment; ``fresh()`` makes a gateway over them.

    A fresh ``Gateway`` per test keeps routing state (``retry-after`` cooldowns, rotation counters)
    from leaking between cells, while the adapters, their pooled connections, the servers and the
    state store (where the reasoning kept for echo providers lives) are shared, as between the
    instances of a deployment. The default policy is one attempt and no session pinning: every client call is then
    exactly one upstream call to the model the client named, so a cell sees how that one upstream
    answer (or failure) reaches the client, not what failover made of it.
    """

    providers: dict[str, Any]
    catalog: Any
    default_model: str
    missing: dict[str, str] = field(default_factory=dict)  # provider name -> why it could not be built
    http_client: httpx.AsyncClient | None = None
    store: Any = None  # the state store every fresh gateway shares, as the instances of a deployment do

    def fresh(self, *, max_attempts: int = 1, backoff_base: float = 0.01) -> Any:
        from aimux_core.gateway import Gateway
        from aimux_core.reasoning import ReasoningEcho
        from aimux_core.routing.dispatch import RetryPolicy
        from aimux_core.routing.table import table_for_catalog
        from aimux_core.state import MemoryStore, SystemClock
        from aimux_core.state.reasoning import ReasoningMemory

        table = replace(table_for_catalog(self.catalog, self.default_model), session_pinning=False)
        policy = RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base, backoff_max=backoff_base * 4,
                             deadline=30.0)
        if self.store is None:
            self.store = MemoryStore()
        reasoning = ReasoningEcho(ReasoningMemory(self.store, SystemClock()))
        return Gateway(self.providers, table, policy=policy, reasoning=reasoning)


def _fast_timeouts() -> Any:
    from aimux_core.providers.transport import Timeouts

    return Timeouts(connect=FAST_CONNECT, first_byte=FAST_FIRST_BYTE, idle=FAST_IDLE, total=FAST_TOTAL)


def _make_provider(upstream: Upstream, name: str, fake: Any, client: httpx.AsyncClient, fast: bool) -> Any:
    """Construct the adapter for ``upstream`` exactly as a deployment would, pointed at its fake."""
    from aimux_core.presets import preset
    from aimux_core.providers.transport import Timeouts

    timeouts = _fast_timeouts() if fast else Timeouts()
    if upstream.dialect == "anthropic":
        from aimux_core.providers.anthropic import AnthropicProvider

        return AnthropicProvider(name, preset(upstream.preset), UPSTREAM_KEYS[upstream.key],
                                 base_url=fake.base_url, timeouts=timeouts, client=client)
    if upstream.dialect == "openai":
        from aimux_core.providers.openai import OpenAIProvider

        return OpenAIProvider(name, preset(upstream.preset), UPSTREAM_KEYS[upstream.key],
                              base_url=fake.base_url, timeouts=timeouts, client=client)
    from aimux_core.providers.bedrock import BedrockProvider

    return BedrockProvider(name, preset(upstream.preset), region="us-east-1", endpoint_url=fake.base_url,
                           timeouts=timeouts)


def build_gateway(fakes: Fakes | Mapping[str, Any], *, fast_twins: bool = True) -> BuiltGateway:
    """Adapters and catalog routing one model (and its ``-fast`` twin) per upstream to its fake.

    ``fakes`` is all four fakes, or a mapping ``{upstream key: fake}`` for a smaller deployment
    (its first key is then the default model, the one every unknown name, Claude Code's
    ``claude-*`` among them, routes to). AWS credentials must be in the environment for Bedrock.
    """
    from aimux_core.routing.catalog import Catalog, ModelEntry

    by_key = {key: fakes.of(key) for key in UPSTREAMS} if isinstance(fakes, Fakes) else dict(fakes)
    client = httpx.AsyncClient(timeout=None, follow_redirects=False)
    keys = tuple(by_key)
    providers: dict[str, Any] = {}
    entries: list[ModelEntry] = []
    missing: dict[str, str] = {}
    for key in keys:
        upstream = UPSTREAMS[key]
        for fast in (False, True) if fast_twins else (False,):
            name = upstream.fast_provider if fast else upstream.key
            model = upstream.fast_model if fast else upstream.model
            try:
                providers[name] = _make_provider(upstream, name, by_key[key], client, fast)
            except Exception as exc:  # an adapter not written yet, or a constructor that changed
                missing[name] = f"{type(exc).__name__}: {exc}"
            entries.append(ModelEntry(id=model, provider=name, upstream_model=upstream.upstream_model,
                                      display_name=f"{upstream.preset} via conformance fake"))
    return BuiltGateway(providers, Catalog(entries), UPSTREAMS[keys[0]].model, missing, client)
