"""Small configuration sections shared by providers and the top level: timeouts, limits, breaker, retry,
cooldown, price, and the routes' token guards.

Every section forbids unknown fields (a typo is an error, never a silent default) and is immutable
once loaded. Each field's docstring is its documentation.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    model_validator,
)

from .errors import ConfigProblems, Problem

BreakerScope = Literal["provider", "model"]
WhenAllDown = Literal["try", "refuse"]


class Section(BaseModel):
    """Base of every config section: unknown fields are errors; values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TimeoutsConfig(Section):
    connect: PositiveFloat = 10.0
    """Seconds to establish the connection."""
    first_byte: PositiveFloat = 120.0
    """Seconds from sending a request to its first bytes (a stalled upstream fails over): a stream's
    first event; a buffered answer's headers, plus the time to generate it (``min_output_rate``)."""
    idle: PositiveFloat = 120.0
    """Longest silence, in seconds, between two chunks of a stream or of a buffered answer's body."""
    total: PositiveFloat = 900.0
    """Seconds for the whole call, non-streaming answers included."""
    min_output_rate: PositiveFloat | None = 10.0
    """Slowest generation, in output tokens per second, a buffered answer is allowed. A provider sends a
    buffered answer's headers only once it has generated all of it, so aimux waits
    ``first_byte + max_tokens / min_output_rate`` for them before failing over (null: ``first_byte``
    alone, for upstreams known to answer quickly)."""


class LimitsConfig(Section):
    rpm: PositiveInt | None = None
    """Requests per minute aimux sends this provider (none: unlimited)."""
    max_concurrency: PositiveInt | None = None
    """Requests in flight at once to this provider (none: unlimited)."""


class BreakerConfig(Section):
    failure_threshold: PositiveInt | None = 5
    """Consecutive failures that open the circuit (null: this rule is off)."""
    failure_ratio: float | None = Field(0.5, gt=0, le=1)
    """Failed fraction of the requests in ``window`` that opens the circuit, once ``min_requests`` were seen
    (null: this rule is off)."""
    window: PositiveFloat = 60.0
    """Seconds of history the failure ratio is computed over."""
    min_requests: PositiveInt = 20
    """Requests in ``window`` before ``failure_ratio`` is considered."""
    cooldown: NonNegativeFloat = 30.0
    """Seconds an open circuit refuses calls before letting probes through (half-open)."""
    half_open_max_probes: PositiveInt = 1
    """Concurrent trial requests while half-open; one success closes the circuit, one failure reopens it."""
    scope: BreakerScope = "provider"
    """What one circuit covers: a whole ``provider``, or each ``model`` of it separately."""


class BreakerOverride(Section):
    """Per-provider breaker settings; fields left out come from the top-level ``breaker``
    (an explicit null turns ``failure_threshold`` or ``failure_ratio`` off for this provider)."""

    failure_threshold: PositiveInt | None = None
    failure_ratio: float | None = Field(None, gt=0, le=1)
    window: PositiveFloat | None = None
    min_requests: PositiveInt | None = None
    cooldown: NonNegativeFloat | None = None
    half_open_max_probes: PositiveInt | None = None
    scope: BreakerScope | None = None

    def applied_to(self, base: BreakerConfig) -> BreakerConfig:
        """``base`` with the fields this override sets (nulls only where they mean "off")."""
        nullable = {"failure_threshold", "failure_ratio"}
        changes = {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None or k in nullable}
        return base.model_copy(update=changes)


class RetryConfig(Section):
    max_attempts: PositiveInt = 3
    """Upstream attempts per request, fail-over targets included."""
    backoff_base: NonNegativeFloat = 0.25
    """Seconds before the first retry of the same target; doubles each time (with jitter)."""
    backoff_max: NonNegativeFloat = 4.0
    """Upper bound, in seconds, of one backoff (a larger ``retry-after`` moves to the next target instead)."""
    deadline: PositiveFloat = 600.0
    """Seconds after which no new attempt starts for a request."""
    when_all_down: WhenAllDown = "try"
    """What a request does when every one of its targets is down (circuit open or cooling down):
    ``try`` waits for the one that recovers soonest when its cooldown (a rate limit or an overload)
    ends within ``deadline``, else calls it anyway, so aimux is never less available than the provider
    itself; ``refuse`` answers 529 (503 for OpenAI clients) at once, with ``retry-after``. Provider
    ``limits`` are never exceeded either way."""

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        if self.backoff_max < self.backoff_base:
            raise ConfigProblems([Problem(("backoff_max",), "must be at least backoff_base")])
        return self


class CooldownConfig(Section):
    """How long a target rests, without counting as broken, when its upstream says "not now".

    A 429, a 529 (or a 503 that says "overloaded"), a plan quota and a refused key cool the target
    down: requests go to other targets meanwhile. An upstream ``retry-after`` (or announced quota
    reset) wins over these defaults, except for a refused key. Cooldowns of 2 s or more are shared
    with every instance through the state store.
    """

    rate_limit: NonNegativeFloat = 1.0
    """Seconds after a 429 that gave no ``retry-after``."""
    overloaded: NonNegativeFloat = 0.25
    """Seconds after a 529 (or overloaded 503) that gave no ``retry-after``: shorter than the official
    SDKs' first backoff (0.5 s), so requests waiting on a single overloaded target notice its recovery
    no later than clients calling it directly would."""
    auth_failure: NonNegativeFloat = 300.0
    """Seconds after the upstream refused the gateway's key for it (401/403: revoked, expired, mistyped)."""


class PriceConfig(Section):
    """List price in USD per million tokens."""

    input: NonNegativeFloat
    """Uncached input tokens."""
    output: NonNegativeFloat
    """Output tokens (thinking included)."""
    cache_read: NonNegativeFloat | None = None
    """Input tokens read from the prompt cache (default: the ``input`` price)."""
    cache_write: NonNegativeFloat | None = None
    """Input tokens written to the prompt cache (default: the ``input`` price)."""
    batch: float = Field(0.5, gt=0, le=1)
    """Fraction of these prices the provider's batch API charges, for batches aimux sends there (default: half,
    as Anthropic, OpenAI and Bedrock bill batches)."""


OVERFLOW_REFUSE = "refuse"  # token_guards.context_overflow: answer 400 instead of sending to another route


class TokenGuardsConfig(Section):
    """Opt-in token guards of one route (``limits/token_guards.py``); every field off unless set."""

    tool_result_max_tokens: PositiveInt | None = None
    """Each ``tool_result``'s text is cut to about this many tokens: its head and tail are kept, the middle
    is replaced by a marker saying how many tokens were removed."""
    max_images: NonNegativeInt | None = None
    """Images kept per request (tool results included): older ones beyond it are replaced by a short
    text saying the image was left out."""
    context_overflow: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None
    """A request larger than every target's context window: ``refuse`` (a 400 naming the limit), or the
    name of a route (e.g. a long-context one) to send it to instead."""
