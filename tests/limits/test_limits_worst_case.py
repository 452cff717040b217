"""The worst case a budget reserves: input at the dearest rate that can apply, ``max_tokens`` at the output rate.

A reservation is only a promise if no answer to the request can cost more than it (given an input estimate
that is not below the real count): the property test settles every split of the input into plain, cached
and cache-written tokens, and every output up to ``max_tokens``, and finds none dearer.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aimux_core.accounting.pricing import Price, cost_micro_usd, uses_prompt_cache, worst_case_micro_usd
from aimux_core.gateway import request_worst_case
from aimux_core.routing.catalog import ModelEntry
from aimux_core.routing.table import Target
from aimux_core.wire.anthropic import MessagesRequest, Usage

SONNET = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)


def request(**fields: object) -> MessagesRequest:
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}
    return MessagesRequest.model_validate(body)


def test_without_prompt_caching_input_is_priced_at_the_input_rate() -> None:
    assert worst_case_micro_usd(1000, 500, SONNET, cache_writes=False) == 1000 * 3 + 500 * 15


def test_with_prompt_caching_every_input_token_may_be_a_cache_write() -> None:
    assert worst_case_micro_usd(1000, 500, SONNET, cache_writes=True) == 3750 + 500 * 15


def test_the_sum_is_rounded_up_and_an_unpriced_model_costs_nothing() -> None:
    cheap = Price(input=0.25, output=0.1, cache_read=0.03, cache_write=0.3)
    assert worst_case_micro_usd(1, 1, cheap, cache_writes=False) == 1  # 0.35 up to 1, where a cost would say 0
    assert worst_case_micro_usd(10**6, 10**6, None, cache_writes=True) == 0


def test_cache_control_anywhere_in_a_request_counts() -> None:
    marked = {"type": "ephemeral"}
    text = {"type": "text", "text": "x", "cache_control": marked}
    assert not uses_prompt_cache(request(system=[{"type": "text", "text": "s"}]))
    assert uses_prompt_cache(request(cache_control=marked))
    assert uses_prompt_cache(request(system=[text]))
    tool = {"name": "t", "input_schema": {"type": "object"}, "cache_control": marked}
    assert uses_prompt_cache(request(tools=[tool]))
    assert uses_prompt_cache(request(messages=[{"role": "user", "content": [text]}]))
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [text]}
    assert uses_prompt_cache(request(messages=[{"role": "user", "content": [result]}]))
    unknown = {"type": "some_future_block", "cache_control": marked}
    assert uses_prompt_cache(request(messages=[{"role": "user", "content": [unknown]}]))


def test_a_request_reserves_for_the_dearest_target_it_may_fail_over_to() -> None:
    def target(model: str, price: Price | None) -> Target:
        return Target("p", model, ModelEntry(model, "p", model, model, price=price))

    dear, cheap = Price(10, 50, 1, 12.5), Price(1, 5, 0.1, 1.25)
    targets = (target("cheap", cheap), target("dear", dear), target("free", None))
    assert request_worst_case(request(), 10, targets) == 10 * 10 + 100 * 50
    assert request_worst_case(request(cache_control={"type": "ephemeral"}), 10, targets) == 125 + 100 * 50
    assert request_worst_case(request(), 10, (target("free", None),)) == 0


@given(
    estimate=st.integers(min_value=0, max_value=200_000),
    max_tokens=st.integers(min_value=0, max_value=64_000),
    prices=st.tuples(*[st.decimals(min_value=0, max_value=100, places=3)] * 4),
    split=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
)
def test_no_answer_within_the_estimate_and_max_tokens_costs_more_than_the_worst_case(
    estimate: int, max_tokens: int, prices: tuple[Decimal, ...], split: tuple[float, float, float]
) -> None:
    price = Price(*(float(p) for p in prices))
    read = int(estimate * split[0])
    written = int((estimate - read) * split[1])
    usage = Usage(
        input_tokens=estimate - read - written,
        cache_read_input_tokens=read,
        cache_creation_input_tokens=written,
        output_tokens=int(max_tokens * split[2]),
    )
    assert cost_micro_usd(usage, price) <= worst_case_micro_usd(estimate, max_tokens, price, cache_writes=True)
    plain = Usage(input_tokens=estimate - read, cache_read_input_tokens=read, output_tokens=max_tokens)
    assert cost_micro_usd(plain, price) <= worst_case_micro_usd(estimate, max_tokens, price, cache_writes=False)
