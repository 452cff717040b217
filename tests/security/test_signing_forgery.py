"""No public default for the thinking-provenance key: signatures made with the constant the source used to
hold verify nowhere, so forged "aimux-signed" reasoning never reaches an ``echo`` upstream.

Through the whole gateway (``assembly.build_gateway`` on a ``MemoryStore``, the fake DeepSeek behind it):
genuine aimux-signed reasoning from an earlier answer goes back to DeepSeek, as tool loops need; the same
reasoning signed with the old constant is dropped. The key itself (per deployment, lazily loaded,
rotation) is ``test_signing_key.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import anthropic
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.schema import AimuxConfig
from aimux_core.state import MemoryStore
from aimux_core.wire.anthropic import ThinkingBlock
from fakes import AnthropicUpstream, Reply
from support.server import serve

OLD_PUBLIC_DEFAULT = b"aimux-thinking-provenance"  # what the source used to fall back to
THOUGHT = "I planned something."


def forged(provider: str, text: str) -> str:
    digest = hmac.new(OLD_PUBLIC_DEFAULT, f"{provider}\0{text}".encode(), hashlib.sha256).digest()
    return f"aimux1.{provider}." + base64.urlsafe_b64encode(digest[:18]).decode()


@pytest.fixture
def deepseek(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicUpstream]:
    monkeypatch.delenv("AIMUX_SIGNING_KEY", raising=False)
    monkeypatch.setenv("PLANTED_DEEPSEEK_KEY", "deepseek-test-key-0001")
    with AnthropicUpstream(default=Reply(text="ok", reasoning=THOUGHT)) as fake:
        yield fake


def test_a_signature_made_with_the_old_constant_does_not_verify() -> None:
    from aimux_core.translate.thinking import aimux_signed_by

    assert aimux_signed_by(ThinkingBlock(thinking=THOUGHT, signature=forged("deepseek", THOUGHT))) is None


def test_forged_reasoning_never_reaches_an_echo_upstream(deepseek: AnthropicUpstream) -> None:
    config = AimuxConfig.model_validate({
        "providers": {"deepseek": {"preset": "deepseek", "base_url": deepseek.base_url,
                                   "api_key_env": "PLANTED_DEEPSEEK_KEY"}},
        "models": {"deepseek-chat": {"provider": "deepseek", "context_window": 131_072, "max_output": 8192}},
    })
    with serve(local_app(build_gateway(config, store=MemoryStore()))) as url:
        client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=20)
        first = client.messages.create(  # thinking on: a client that did not ask for it gets no thinking blocks
            model="deepseek-chat", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
        )
        thinking = next(block for block in first.content if block.type == "thinking")
        assert thinking.signature.startswith("aimux1.deepseek.")  # signed by this deployment
        for signature, kept in ((thinking.signature, True), (forged("deepseek", THOUGHT), False)):
            turn = [{"type": "thinking", "thinking": THOUGHT, "signature": signature}, {"type": "text", "text": "ok"}]
            client.messages.create(model="deepseek-chat", max_tokens=64, messages=[
                {"role": "user", "content": "hi"}, {"role": "assistant", "content": turn},  # type: ignore[list-item]
                {"role": "user", "content": "and now?"},
            ])
            sent = deepseek.last_request.json["messages"][1]["content"]
            assert [block["type"] for block in sent] == (["thinking", "text"] if kept else ["text"]), signature
