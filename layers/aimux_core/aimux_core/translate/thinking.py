"""Thinking blocks across providers: who may see which reasoning, and what signs it.

Anthropic (and Claude on Bedrock) verify thinking signatures cryptographically and reject any they
did not mint. DeepSeek, GLM, Kimi and MiniMax return unsigned reasoning but need it back in tool
loops (they 400 without it), and Claude Code keeps only thinking blocks that carry a signature.

So reasoning from a provider without signatures is handed to the client with an aimux signature,
``aimux1.<provider>.<mac>``: clearly not Anthropic's, and recognisable on the way back. Before a
request goes upstream, ``prepare_thinking`` keeps for each target only what it can accept:

    target reasoning   genuine Anthropic signature   aimux signature           unsigned
    signed             kept byte-exact               dropped                   dropped
    echo               dropped                       kept, signature removed   dropped
    plain / none       dropped                       dropped                   dropped

``redacted_thinking`` is opaque Anthropic data: kept for ``signed`` targets only. The MAC's key is
the deployment's own secret (``provenance_key``: ``AIMUX_SIGNING_KEY``, else one created in the state
store), never a constant, so signatures minted by one deployment (or by anyone reading the source)
verify nowhere else. It marks provenance (which provider produced the text); the client controls its
own history either way. A block whose aimux signature does not verify (forged, or minted under an
older key) is treated like unsigned reasoning: dropped before any upstream sees it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from ..wire.anthropic import MessageParam, MessagesRequest, RedactedThinkingBlock, ThinkingBlock
from .provenance_key import provenance_key

AIMUX_SIGNATURE_PREFIX = "aimux1."
CLIENT_REASONING = "client"  # provenance of reasoning an OpenAI client sends back as ``reasoning_content``
_FOREIGN_PREFIXES = (AIMUX_SIGNATURE_PREFIX, "aimux-mock.")
Policy = Literal["signed", "echo", "plain", "none"]


def _mac(provider: str, text: str) -> str:
    digest = hmac.new(provenance_key(), f"{provider}\0{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sign_reasoning(provider: str, text: str) -> str:
    """The aimux signature for reasoning ``text`` produced by ``provider``."""
    return f"{AIMUX_SIGNATURE_PREFIX}{provider}.{_mac(provider, text)}"


def aimux_signed_by(block: ThinkingBlock) -> str | None:
    """The provider whose reasoning this is, when the block carries a valid aimux signature."""
    signature = block.signature or ""
    if not signature.startswith(AIMUX_SIGNATURE_PREFIX):
        return None
    provider, _, mac = signature[len(AIMUX_SIGNATURE_PREFIX) :].rpartition(".")
    if provider and hmac.compare_digest(mac, _mac(provider, block.thinking)):
        return provider
    return None


def is_genuine_signature(block: ThinkingBlock) -> bool:
    """A signature that some upstream other than aimux minted (Anthropic's or Bedrock's)."""
    signature = block.signature or ""
    return bool(signature) and not signature.startswith(_FOREIGN_PREFIXES)


def prepare_thinking(request: MessagesRequest, policy: Policy) -> MessagesRequest:
    """A copy of ``request`` whose assistant turns hold only the reasoning ``policy`` accepts.

    Returns ``request`` itself when nothing changes (the common case costs one scan, no copy).
    """
    changed = False
    turns: list[MessageParam] = []
    for turn in request.messages:
        if turn.role != "assistant" or isinstance(turn.content, str):
            turns.append(turn)
            continue
        kept = [replacement for block in turn.content if (replacement := _keep(block, policy)) is not None]
        if len(kept) == len(turn.content) and all(a is b for a, b in zip(kept, turn.content, strict=True)):
            turns.append(turn)
            continue
        changed = True
        if kept:  # a turn that held nothing but reasoning is dropped: upstreams reject empty content
            turns.append(turn.model_copy(update={"content": kept}))
    if not changed:
        return request
    return request.model_copy(update={"messages": turns})


def _keep(block: object, policy: Policy) -> object | None:
    if isinstance(block, RedactedThinkingBlock):
        return block if policy == "signed" else None
    if not isinstance(block, ThinkingBlock):
        return block
    if policy == "signed":
        return block if is_genuine_signature(block) else None
    if policy == "echo" and aimux_signed_by(block) is not None:
        unsigned = block.model_copy()
        unsigned.signature = None
        unsigned.__pydantic_fields_set__.discard("signature")
        return unsigned
    return None
