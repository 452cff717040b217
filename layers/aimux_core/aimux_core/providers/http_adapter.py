"""What the HTTP adapters (``anthropic``, ``openai``) share: who they are, where the upstream is, how they sign in.

``HttpAdapter`` holds the configured provider name and its preset, the upstream's base URL (the preset's
unless the configuration overrides it: self-hosted servers, proxies) and the adapter's one
``HttpTransport``. ``auth_headers`` is the one place a provider key goes into a request, in the header
the preset's auth style names. (Bedrock signs with AWS credentials through boto3, the mock needs nothing.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .transport import HttpTransport, Timeouts

if TYPE_CHECKING:
    import httpx

    from ..presets import AuthStyle, ProviderPreset

DEFAULT_TIMEOUTS = Timeouts()  # frozen: one shared default is safe


def auth_headers(auth: AuthStyle, api_key: str | None) -> dict[str, str]:
    """The header carrying ``api_key`` for this auth style (none without a key, or for ``aws``/``none``)."""
    if not api_key:
        return {}
    if auth == "x-api-key":
        return {"x-api-key": api_key}
    if auth == "bearer":
        return {"authorization": f"Bearer {api_key}"}
    return {}


class HttpAdapter:
    def __init__(
        self,
        name: str,
        preset: ProviderPreset,
        api_key: str | None,
        *,
        base_url: str | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """``name`` is the configured provider name (errors, signatures, metrics); ``client`` replaces the
        process's shared HTTP client (tests)."""
        self.name = name
        self.preset = preset
        self._api_key = api_key
        self.base_url = (base_url or preset.base_url).rstrip("/")
        self._transport = HttpTransport(name, timeouts, client)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, preset={self.preset.name!r})"
