"""The built-in ``mock`` provider: a deterministic, in-process stand-in for a model.

It lets the gateway, its surfaces and real clients (Claude Code, the SDKs) run end to end with no
upstream and no credentials, and gives tests a provider whose every answer is predictable. One plan
per request (``plan.py``) is rendered either as a stream or as a whole message (``provider.py``), so
``create()`` always equals the fold of ``stream()``. Apart from the random ``msg_`` id, the same
request always gets the same answer.

What it answers, from the last user message:

- Plain text: ``Mock reply to: "<first ~200 chars of the user's text>"`` (``<system-reminder>``
  sections stripped, whitespace collapsed), streamed in several word-boundary ``text_delta``s.
- A tool call, when ``tools`` are offered and the text asks for one by name after a verb (use,
  using, call, run, invoke, execute, try; up to three words between, e.g. "use the Bash tool to run
  \\`echo hi\\`", "call get_weather for Paris"). ``tool_choice`` ``{"type":"tool"}`` forces that tool,
  ``any`` forces the named or else the first tool, ``none`` disables tools. Only tools with an
  ``input_schema`` are called. Answer: a short text (omitted when the choice is forced) and a
  ``tool_use`` block with id ``toolu_<hash of the request>`` whose input fills the schema's
  ``required`` properties; a \\`backticked\\` command goes into ``command``/``cmd``/``script`` if the
  schema has one, else into the first required string; otherwise the phrase after "for/in/on/about/
  with/of" (or a "quoted" string) does. Input JSON streams as ``""`` then a few fragments.
  ``stop_reason`` ``tool_use``.
- After tool results (the last user message holds ``tool_result`` blocks): ``The tool returned:
  <content>`` or ``The tool reported an error: <content>``, ``end_turn``. Never another tool call,
  so agent loops terminate.
- ``output_config.format`` (or legacy ``output_format``) ``json_schema``: the text is a JSON document
  with the schema's required properties (strings carry ``mock: <user text>``).
- ``thinking`` ``enabled``/``adaptive``: a thinking block first (short reasoning in a few
  ``thinking_delta``s, then one ``signature_delta`` ``aimux-mock.<base64 sha256>``);
  ``display: "omitted"`` sends only the signature.
- ``stop_sequences``: the text is cut before the first one found (``stop_sequence``, and no tool
  call). ``max_tokens``: the text is cut to fit (``max_tokens``); a tool call that does not fit
  whole is dropped rather than sent as broken JSON. The thinking block is not counted against
  ``max_tokens``. ``max_tokens: 0`` (cache pre-warm) answers no content blocks at all, stop reason
  ``max_tokens``, ``output_tokens`` 1.
- Usage: ``input_tokens`` from ``estimate_input_tokens`` (at least 1), cache fields 0,
  ``output_tokens`` the estimate of thinking + text + tool JSON (at least 1); ``message_delta``
  repeats the input and cache counts.

Fault markers (in the last user text) for testing the gateway's error handling:

- ``[[mock:error:<status>]]`` (400-599, e.g. 429, 500, 529): raise ``UpstreamError`` before any
  event, with the status/kind/retryable a real adapter would use (429 rate_limit_error with
  ``retry_after`` 1 s, 529 overloaded_error, 504 timeout_error, other 5xx api_error, all retryable;
  4xx not retryable).
- ``[[mock:midstream-error]]`` or ``[[mock:midstream-error:<status>]]`` (default 529): the stream
  fails with ``UpstreamError`` after half of the first text block's deltas, with no
  ``message_stop``; ``create()`` raises the same error.
"""

from .provider import MockProvider

__all__ = ["MockProvider"]
