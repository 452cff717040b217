"""One official Anthropic SDK call on its own thread, for tests that need requests in flight at once.

A streamed answer's raw bytes (kept by a ``WireTap``) are checked against Anthropic's stream grammar.
"""

from __future__ import annotations

import threading
from typing import Any

import anthropic
import httpx2

from support.stream_checks import check_anthropic_sse
from support.wire_tap import WireTap


class ThreadedCall:
    """``messages.create`` (or ``messages.stream``) started at once; ``result()`` joins it and re-raises."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        messages: list[dict[str, Any]],
        api_key: str = "sk-client",
        stream: bool = False,
        headers: dict[str, str] | None = None,
        max_tokens: int = 100,
    ) -> None:
        self.tap = WireTap()
        self.client = anthropic.Anthropic(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=60, default_headers=headers or {},
            http_client=httpx2.Client(transport=self.tap, timeout=60),
        )  # fmt: skip
        self.model, self.messages, self.stream, self.max_tokens = model, messages, stream, max_tokens
        self.headers: dict[str, str] = {}
        self.message: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def text(self) -> str:
        return str(self.message.content[0].text)

    def _run(self) -> None:
        kwargs = {"model": self.model, "max_tokens": self.max_tokens, "messages": self.messages}
        try:
            if self.stream:
                with self.client.messages.stream(**kwargs) as events:
                    self.message = events.get_final_message()
                check_anthropic_sse(self.tap.last.raw, model=self.model)
                self.headers = dict(self.tap.last.headers)
            else:
                raw = self.client.messages.with_raw_response.create(**kwargs)
                self.headers, self.message = dict(raw.headers), raw.parse()
        except BaseException as error:  # re-raised by result()
            self.error = error

    def result(self, seconds: float = 60.0) -> ThreadedCall:
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the call did not finish"
        if self.error is not None:
            raise self.error
        return self
