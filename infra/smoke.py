"""Smoke-test a deployed aimux with both official SDKs, before pointing Claude Code at it.

After ``sam deploy``: the function URL (``StreamFunctionUrl`` output) and the HTTP API
(``HttpApiUrl``), each through the ``anthropic`` and ``openai`` SDKs: a JSON answer, a stream, a forced
tool call, ``count_tokens``, and a made-up key (which must be refused with 401 in the caller's
format). Every answer must carry aimux's headers (request id, provider, model, route, attempts; the
cost on JSON answers). One line per check says what came back; the exit status is 1 if any failed.

    make smoke URL=https://<id>.lambda-url.<region>.on.aws \
               API=https://<api>.execute-api.<region>.amazonaws.com KEY=amx-...
    python infra/smoke.py --url ... --api ... --key amx-... [--model claude-sonnet-4-5] [--no-auth]

``--no-auth`` is for a gateway that checks no keys (``aimux serve`` on a laptop, ``sam local``): the
refused-key checks are then skipped and say so. Calls cost what the model charges (a few short
answers, ``max_tokens`` 64).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import anthropic
import httpx
import openai

REQUIRED_HEADERS = ("x-request-id", "x-aimux-provider", "x-aimux-model", "x-aimux-route", "x-aimux-attempts")
BUFFERED_HEADERS = ("x-aimux-cost-usd",)
MADE_UP_KEY = "amx-smoke-test-key-that-does-not-exist-0000000000000000"
PROMPT = "Reply with one short sentence: what is aimux?"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
WEATHER_PROMPT = "What is the weather in Paris? Use the get_weather tool."


class SmokeFailure(Exception):
    """A check saw something a working deployment would not send."""


@dataclass
class Outcome:
    target: str
    check: str
    ok: bool | None  # None: skipped
    detail: str
    ms: float = 0.0

    def line(self) -> str:
        status = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{status}  {self.target:<13} {self.check:<24} {self.ms:7.0f} ms  {self.detail}"


def _headers(headers: httpx.Headers, *, buffered: bool) -> str:
    """aimux's headers, checked present; 'provider/model route' for the report."""
    wanted = REQUIRED_HEADERS + (BUFFERED_HEADERS if buffered else ())
    missing = [name for name in wanted if not headers.get(name)]
    if missing:
        raise SmokeFailure(f"missing headers {missing}")
    cost = f" ${headers['x-aimux-cost-usd']}" if buffered else ""
    return (
        f"{headers['x-aimux-provider']}/{headers['x-aimux-model']} attempts={headers['x-aimux-attempts']}{cost} "
        f"id={headers['x-request-id']}"
    )


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return json.dumps(text[:60] + ("..." if len(text) > 60 else ""))


class Checks:
    """The checks for one base URL (function URL or HTTP API)."""

    def __init__(self, base: str, key: str, model: str, timeout: float) -> None:
        self.base, self.key, self.model = base.rstrip("/"), key, model
        self.anthropic = anthropic.Anthropic(base_url=self.base, api_key=key, max_retries=0, timeout=timeout)
        self.openai = openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0, timeout=timeout)
        self.timeout = timeout

    def anthropic_json(self) -> str:
        raw = self.anthropic.messages.with_raw_response.create(
            model=self.model, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
        )
        message = raw.parse()
        text = "".join(block.text for block in message.content if block.type == "text")
        if message.type != "message" or not text:
            raise SmokeFailure(f"no text in the answer: {message.model_dump_json()[:200]}")
        return f"{_headers(raw.headers, buffered=True)} {_snippet(text)}"

    def anthropic_stream(self) -> str:
        events: list[str] = []
        with self.anthropic.messages.stream(
            model=self.model, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            content_type = stream.response.headers.get("content-type", "")
            described = _headers(stream.response.headers, buffered=False)
            events = [event.type for event in stream]
            final = stream.get_final_message()
        if not content_type.startswith("text/event-stream"):
            raise SmokeFailure(f"content-type {content_type!r}, not text/event-stream")
        if events[:1] != ["message_start"] or "message_stop" not in events:
            raise SmokeFailure(f"events {events[:3]}...{events[-2:]}")
        text = "".join(block.text for block in final.content if block.type == "text")
        return f"{described} {len(events)} events {_snippet(text)}"

    def anthropic_tools(self) -> str:
        raw = self.anthropic.messages.with_raw_response.create(
            model=self.model,
            max_tokens=256,
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice={"type": "tool", "name": "get_weather"},
            messages=[{"role": "user", "content": WEATHER_PROMPT}],
        )
        message = raw.parse()
        calls = [block for block in message.content if block.type == "tool_use"]
        if message.stop_reason != "tool_use" or not calls or calls[0].name != "get_weather":
            raise SmokeFailure(f"no get_weather call: stop_reason={message.stop_reason}")
        return f"{_headers(raw.headers, buffered=True)} get_weather({json.dumps(calls[0].input)})"

    def anthropic_count_tokens(self) -> str:
        raw = self.anthropic.messages.with_raw_response.count_tokens(
            model=self.model, messages=[{"role": "user", "content": PROMPT}]
        )
        counted = raw.parse()
        if counted.input_tokens <= 0:
            raise SmokeFailure(f"input_tokens={counted.input_tokens}")
        request_id = raw.headers.get("x-request-id")
        if not request_id:
            raise SmokeFailure("missing headers ['x-request-id']")
        return f"input_tokens={counted.input_tokens} id={request_id}"

    def anthropic_refused_key(self) -> str:
        client = self.anthropic.with_options(api_key=MADE_UP_KEY)
        try:
            client.messages.create(model=self.model, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        except anthropic.AuthenticationError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            if body.get("type") != "error" or body.get("error", {}).get("type") != "authentication_error":
                raise SmokeFailure(f"401 but not Anthropic's error shape: {exc.body}") from None
            return f"401 authentication_error {_snippet(body['error'].get('message', ''))}"
        raise SmokeFailure("a made-up key was accepted: this gateway checks no keys")

    def openai_json(self) -> str:
        raw = self.openai.chat.completions.with_raw_response.create(
            model=self.model, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
        )
        completion = raw.parse()
        text = completion.choices[0].message.content or ""
        if completion.object != "chat.completion" or not text:
            raise SmokeFailure(f"no text in the answer: {completion.model_dump_json()[:200]}")
        return f"{_headers(raw.headers, buffered=True)} {_snippet(text)}"

    def openai_stream(self) -> str:
        with self.openai.chat.completions.with_streaming_response.create(
            model=self.model,
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": PROMPT}],
        ) as response:
            content_type = response.headers.get("content-type", "")
            described = _headers(response.headers, buffered=False)
            chunks = list(response.parse())
        if not content_type.startswith("text/event-stream"):
            raise SmokeFailure(f"content-type {content_type!r}, not text/event-stream")
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = next((c.usage for c in chunks if c.usage), None)
        if not text or usage is None:
            raise SmokeFailure(f"{len(chunks)} chunks, text={bool(text)}, usage={usage}")
        return f"{described} {len(chunks)} chunks, {usage.completion_tokens} tokens {_snippet(text)}"

    def openai_tools(self) -> str:
        function = {"name": WEATHER_TOOL["name"], "description": WEATHER_TOOL["description"],
                    "parameters": WEATHER_TOOL["input_schema"]}  # fmt: skip
        raw = self.openai.chat.completions.with_raw_response.create(
            model=self.model,
            max_tokens=256,
            tools=[{"type": "function", "function": function}],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            messages=[{"role": "user", "content": WEATHER_PROMPT}],
        )
        choice = raw.parse().choices[0]
        calls = choice.message.tool_calls or []
        if choice.finish_reason != "tool_calls" or not calls or calls[0].function.name != "get_weather":  # type: ignore[union-attr]
            raise SmokeFailure(f"no get_weather call: finish_reason={choice.finish_reason}")
        arguments = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
        return f"{_headers(raw.headers, buffered=True)} get_weather({json.dumps(arguments)})"

    def openai_refused_key(self) -> str:
        client = self.openai.with_options(api_key=MADE_UP_KEY)
        try:
            client.chat.completions.create(model=self.model, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            if "message" not in body or "type" not in body:
                raise SmokeFailure(f"401 but not OpenAI's error shape: {exc.body}") from None
            return f"401 {body.get('type')} {_snippet(str(body.get('message')))}"
        raise SmokeFailure("a made-up key was accepted: this gateway checks no keys")


def run_checks(targets: list[tuple[str, str]], key: str, model: str, *, auth: bool = True,
               timeout: float = 60.0, report: Callable[[Outcome], None] | None = None) -> list[Outcome]:  # fmt: skip
    """Every check against every ``(name, base URL)``; each outcome is also passed to ``report``."""
    outcomes = []
    for name, base in targets:
        checks = Checks(base, key, model, timeout)
        plan: list[tuple[str, Callable[[], str]]] = [
            ("anthropic json", checks.anthropic_json),
            ("anthropic stream", checks.anthropic_stream),
            ("anthropic tools", checks.anthropic_tools),
            ("anthropic count_tokens", checks.anthropic_count_tokens),
            ("anthropic refused key", checks.anthropic_refused_key),
            ("openai json", checks.openai_json),
            ("openai stream", checks.openai_stream),
            ("openai tools", checks.openai_tools),
            ("openai refused key", checks.openai_refused_key),
        ]
        for check, call in plan:
            if not auth and check.endswith("refused key"):
                outcome = Outcome(name, check, None, "--no-auth: this gateway checks no keys")
            else:
                started = time.perf_counter()
                try:
                    outcome = Outcome(name, check, True, call())
                except (SmokeFailure, anthropic.APIError, openai.APIError, httpx.HTTPError) as exc:
                    outcome = Outcome(name, check, False, _describe(exc))
                outcome.ms = (time.perf_counter() - started) * 1000
            outcomes.append(outcome)
            if report:
                report(outcome)
    return outcomes


def _describe(exc: Exception) -> str:
    if isinstance(exc, anthropic.APIStatusError | openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc)[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test a deployed aimux with the official SDKs.")
    parser.add_argument("--url", help="the function URL (StreamFunctionUrl output)")
    parser.add_argument("--api", help="the HTTP API base URL (HttpApiUrl output)")
    parser.add_argument("--key", default="", help="a gateway key (amx-...)")
    parser.add_argument("--model", default="claude-sonnet-4-5", help="the model to ask (default %(default)s)")
    parser.add_argument(
        "--no-auth", action="store_true", help="the gateway checks no keys: skip the refused-key checks"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default %(default)s)")
    args = parser.parse_args(argv)
    targets = [(name, url) for name, url in (("function-url", args.url), ("http-api", args.api)) if url]
    if not targets:
        parser.error("give --url and/or --api (make smoke URL=... API=... KEY=...)")
    if not args.key and not args.no_auth:
        parser.error("give --key (a gateway key, amx-...), or --no-auth for a gateway without keys")
    for name, url in targets:
        print(f"smoke: {name} {url} model {args.model}")
    outcomes = run_checks(targets, args.key or "no-key", args.model, auth=not args.no_auth, timeout=args.timeout,
                          report=lambda outcome: print(outcome.line(), flush=True))  # fmt: skip
    failed = sum(1 for o in outcomes if o.ok is False)
    passed = sum(1 for o in outcomes if o.ok)
    skipped = sum(1 for o in outcomes if o.ok is None)
    print(f"smoke: {passed} checks passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
