"""The secret behind aimux's thinking signatures (``thinking.sign_reasoning``): one per deployment, none in the source.

A key written in the source would let anyone mint signatures every aimux deployment accepts. The key
comes from, in order:

1. ``AIMUX_SIGNING_KEY`` (its UTF-8 bytes) when set (``use_loader``'s ``override``): the operator's own
   secret, shared as they choose;
2. the deployment's state store, when the gateway was assembled with one (``use_loader``, called by the
   composition root): ``state.signing_key.load_signing_key`` creates 256 random bits once per store
   (a conditional put) and every function of the deployment reads that same value;
3. otherwise a random key for this process (a gateway assembled without a store: tests, benchmarks).

Loading from the store is lazy and happens once per process (a Lambda container keeps the key for its
life): only the code that is about to sign or verify awaits ``ensure_provenance_key()`` first (adapters
with ``echo`` reasoning, OpenAI-dialect adapters, the OpenAI surface when a client sends
``reasoning_content`` back), so other requests never pay a state-store round trip for it. The signing
functions are synchronous and read ``provenance_key()``; before the deployment's key is loaded they raise
``ProvenanceKeyNotLoaded`` rather than sign with a key the rest of the fleet does not share.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from ..redaction import learn_secret

Loader = Callable[[], Awaitable[bytes]]


class ProvenanceKeyNotLoaded(RuntimeError):
    """A signature was needed before ``ensure_provenance_key()`` loaded the deployment's key (a bug)."""


class ProvenanceKey:
    """The process's key: from the environment, the loader (once), or random (no loader)."""

    __slots__ = ("_loader", "_override", "_value")

    def __init__(self) -> None:
        self._value: bytes | None = None
        self._loader: Loader | None = None
        self._override: str | None = None

    def use_loader(self, loader: Loader | None, *, override: str | None = None) -> None:
        """Read the key with ``loader`` from now on (the gateway's store), unless ``override`` (the
        operator's ``AIMUX_SIGNING_KEY``) is given; forgets a key read before."""
        self._loader = loader
        self._override = override or None
        self._value = None

    @property
    def ready(self) -> bool:
        return self._value is not None

    async def ensure(self) -> None:
        """Load the key if it is not loaded yet (errors of the loader propagate; nothing is cached then)."""
        if self._value is not None or self._settle():
            return
        loader = self._loader
        assert loader is not None
        value = await loader()
        if self._loader is loader:  # not replaced by a newer assembly while this one was reading
            self._value = value

    def get(self) -> bytes:
        if self._value is None and not self._settle():
            raise ProvenanceKeyNotLoaded("thinking signing key not loaded: await ensure_provenance_key() first")
        assert self._value is not None
        return self._value

    def _settle(self) -> bool:
        """Take the key that needs no I/O (the override, or random without a loader); False if it needs loading."""
        if self._override:
            learn_secret(self._override)
            self._value = self._override.encode()
        elif self._loader is None:
            self._value = secrets.token_bytes(32)
        return self._value is not None


PROVENANCE_KEY = ProvenanceKey()


async def ensure_provenance_key() -> None:
    """Make ``provenance_key()`` answer without I/O (a no-op once loaded)."""
    await PROVENANCE_KEY.ensure()


def provenance_key() -> bytes:
    return PROVENANCE_KEY.get()
