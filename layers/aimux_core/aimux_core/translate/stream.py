"""``StreamTranslator``: the one shape of every stream translation in aimux.

A translator turns one answer stream into the same answer in another form, one input at a time:
``feed(item)`` returns what that item produces (often nothing, sometimes several), ``finish()`` what the
end of the input produces (or raises when the input ended too early). They are state machines with no
I/O, so the adapter or surface around them owns reading, writing and closing. The four:

- ``translate/openai_stream_decode.py`` ``ChatChunkDecoder``: upstream ``chat.completion.chunk`` dicts →
  canonical events (OpenAI-dialect providers);
- ``translate/openai_stream_encode.py`` ``ChatChunkEncoder``: canonical events → ``chat.completion.chunk``
  dicts (OpenAI clients);
- ``providers/anthropic_stream.py`` ``StreamNormaliser``: an Anthropic-dialect upstream's events →
  grammar-exact canonical events;
- ``providers/bedrock_response.py`` ``ConverseStreamDecoder``: Bedrock ConverseStream events → canonical
  events.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out")


class StreamTranslator(Protocol[In, Out]):
    def feed(self, item: In, /) -> list[Out]:
        """What ``item`` produces, in order."""
        ...

    def finish(self) -> list[Out]:
        """What the end of the input produces; raises when the input ended before the answer did."""
        ...
