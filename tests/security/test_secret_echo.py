"""Providers that echo their own API key (and the caller's): the key never reaches a client, a log or a metric.

One gateway, configured as a deployment is (``assembly.build_gateway``, keys read from environment
variables), has a provider for every preset with a key, each with a planted key of that preset's shape,
pointed at the fake of its dialect. The fakes echo the credential the request carried (``{credential}``):
in JSON error bodies and their headers, in mid-stream error events, and in the headers of good answers.
The caller presents a key of no known shape and the upstream quotes it too. Then nothing the client
receives (raw status line, headers and body bytes), nothing written to stdout or stderr (the
``aimux.requests`` line, EMF), no log record of any logger, and nothing ``GET /admin/metrics`` answers
holds any of those keys; every echo is shown to have happened (the fake saw the key, the client saw
``[redacted]`` where it was).

Planted keys are built from parts, so no key-shaped literal sits in the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.providers import bedrock
from aimux_core.state import MemoryStore
from fakes import AnthropicUpstream, BedrockUpstream, Fault, OpenAIUpstream, Reply
from fakes.base import credential_of
from support.gateway_builder import AWS_ENV, AWS_UNSET
from support.server import serve


def planted(*parts: str) -> str:
    return "".join(parts)


HEX32 = "0123456789abcdef" * 2
PLANTED_KEYS: dict[str, str] = {  # preset -> a key of its shape
    "anthropic": planted("sk-", "ant-api03-", "PLANTEDanthropic", "Aa0_" * 20, "-QQ"),
    "zai": planted(HEX32, ".", "PLANTEDzai0Sec1"),
    "minimax": planted("ey", "JhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", ".", "eyJQTEFOVEVEbWluaW1heCI6MX0", ".",
                       "PLANTEDminimaxSig0123456789"),
    "moonshot": planted("sk-", "PLANTEDmoonshot", "b" * 33),
    "deepseek": planted("sk-", "PLANTEDdeepseek", "c" * 17),
    "openai": planted("sk-", "proj-", "PLANTEDopenai", "d" * 40, "T3Blbk", "FJ", "e" * 20),
    "openrouter": planted("sk-", "or-v1-", "PLANTEDopenrouter", "f" * 47),
    "cerebras": planted("csk", "-", "PLANTEDcerebras", "g" * 33),
    "groq": planted("gsk", "_", "PLANTEDgroq", "h" * 41),
    "gemini": planted("AI", "za", "SyPLANTEDgemini", "i" * 18),
    "deepseek-openai": planted("sk-", "PLANTEDdeepseekOpenai", "j" * 11),
}
AWS_KEY_ID = planted("AK", "IA", "PLANTEDAWSKEY01")
AWS_SECRET = planted("PLANTEDawsSecret", "/k7MDENG+bPxRfiCY", "EXAMPLEKEY")
AWS_TOKEN = planted("IQoJb3JpZ2luX2Vj", "PLANTEDsessionToken", "Z" * 40)
CALLER_KEY = planted("team-gateway.", "PLANTEDcaller", ".credential-0001")  # no known shape
EVERY_SECRET = (*PLANTED_KEYS.values(), AWS_KEY_ID, AWS_SECRET, AWS_TOKEN, CALLER_KEY)
PROMPT = [{"role": "user", "content": "hello there"}]
REPLY = Reply(text="Hello, this is a longer answer so that the stream has several events.", chunk_size=8)


@dataclass
class Fakes:
    anthropic: AnthropicUpstream
    openai: OpenAIUpstream
    bedrock: BedrockUpstream

    def all(self) -> list[Any]:
        return [self.anthropic, self.openai, self.bedrock]

    def of(self, preset: str) -> Any:
        if preset == "bedrock":
            return self.bedrock
        return self.anthropic if preset in ("anthropic", "zai", "minimax", "moonshot", "deepseek") else self.openai


@dataclass
class Deployment:
    url: str
    fakes: Fakes


def env_name(preset: str) -> str:
    return "PLANTED_" + preset.upper().replace("-", "_") + "_KEY"


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    fakes = Fakes(AnthropicUpstream(default=REPLY), OpenAIUpstream(default=REPLY), BedrockUpstream(default=REPLY))
    for fake in fakes.all():
        fake.start()
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_UNSET:
            patch.delenv(name, raising=False)
        environment = {**AWS_ENV, "AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                       "AWS_SESSION_TOKEN": AWS_TOKEN, "AIMUX_EMF": "1"}
        environment |= {env_name(preset): key for preset, key in PLANTED_KEYS.items()}
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
        patch.delenv("POWERTOOLS_DEV", raising=False)
        patch.setattr(bedrock, "_session", None)  # boto3 resolves credentials once per session: use these
        patch.setattr(bedrock, "_clients", {})
        providers: dict[str, Any] = {
            preset: {"preset": preset, "base_url": fakes.of(preset).base_url, "api_key_env": env_name(preset)}
            for preset in PLANTED_KEYS
        }
        providers["bedrock"] = {"preset": "bedrock", "endpoint_url": fakes.bedrock.base_url, "region": "us-east-1"}
        data = {
            "providers": providers,
            "models": {f"m-{name}": {"provider": name, "context_window": 200_000, "max_output": 4096}
                       for name in providers},
            "routes": {"default": ["m-anthropic"]},
            "session_pinning": False,
            "retry": {"max_attempts": 1},
            # each scenario's error (a 401, an overloaded stream) must not rest the target and send
            # the next scenario to another one
            "cooldown": {"auth_failure": 0, "overloaded": 0, "rate_limit": 0},
        }
        gateway = build_gateway(AimuxConfig.model_validate(data), store=MemoryStore())
        try:
            with serve(local_app(gateway)) as url:
                yield Deployment(url, fakes)
        finally:
            for fake in fakes.all():
                fake.stop()


def call(url: str, client_dialect: str, model: str, *, stream: bool) -> bytes:
    """Everything the client receives for one request: status line, headers and body, as bytes."""
    if client_dialect == "anthropic":
        path, headers = "/v1/messages", {"x-api-key": CALLER_KEY, "anthropic-version": "2023-06-01"}
        body: dict[str, Any] = {"model": model, "max_tokens": 64, "messages": PROMPT}
    else:
        path, headers = "/v1/chat/completions", {"authorization": f"Bearer {CALLER_KEY}"}
        body = {"model": model, "messages": PROMPT}
    if stream:
        body["stream"] = True
    with httpx.Client(timeout=20) as http:
        response = http.post(url + path, json=body, headers=headers)
    head = f"HTTP/1.1 {response.status_code}\r\n".encode() + b"".join(
        name + b": " + value + b"\r\n" for name, value in response.headers.raw
    )
    return head + b"\r\n" + response.content


def scenarios(preset: str) -> list[tuple[str, Any, bool]]:
    """(name, scripted item, streamed) for one provider: each echoes the key it was called with."""
    echo = "Invalid API key provided: {credential}. Request by " + CALLER_KEY
    if preset == "bedrock":
        echo += f" (signed with {AWS_SECRET}, session {AWS_TOKEN})"  # what an AWS error should never quote
    return [
        ("json error", Fault.http(401, message=echo, headers={"x-upstream-echo": "{credential}"}), False),
        ("json 400", Fault.http(400, message=echo), False),
        ("stream error", Fault.stream_error(after_events=4, message=echo, reply=REPLY), True),
        ("good answer's headers", REPLY.with_(headers={"x-upstream-key": "{credential}", "x-caller": CALLER_KEY}),
         False),
        ("good stream's headers", REPLY.with_(headers={"x-upstream-key": "{credential}"}), True),
    ]


@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
@pytest.mark.parametrize("preset", [*PLANTED_KEYS, "bedrock"])
def test_echoed_keys_never_leave_the_gateway(
    deployment: Deployment, preset: str, client_dialect: str, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = deployment.fakes.of(preset)
    sent_key = AWS_KEY_ID if preset == "bedrock" else PLANTED_KEYS[preset]
    received: list[bytes] = []
    with caplog.at_level(logging.DEBUG):
        for name, item, stream in scenarios(preset):
            fake.enqueue(item)
            answer = call(deployment.url, client_dialect, f"m-{preset}", stream=stream)
            assert credential_of(fake.last_request) == sent_key, f"{name}: the fake did not see the planted key"
            if "error" in name or "400" in name:
                assert b"[redacted]" in answer, f"{name}: the echo did not reach the error at all:\n{answer!r}"
            received.append(answer)
        with httpx.Client(timeout=10) as http:
            metrics = http.get(deployment.url + "/admin/metrics").text
    written = capfd.readouterr()
    places = {
        "client answers": b"\n".join(received).decode("utf-8", "replace"),
        "stdout (request log, EMF)": written.out,
        "stderr": written.err,
        "log records": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "/admin/metrics": metrics,
    }
    assert '"_aws"' in written.out and '"message":"request"' in written.out  # EMF and the log line were written
    for place, text in places.items():
        for secret in EVERY_SECRET:
            assert secret not in text, f"a planted key reached {place}"
