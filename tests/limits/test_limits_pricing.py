"""Cost of an answer: each token kind at its price, in integer micro-dollars, rounded half up once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimux_core.accounting.pricing import Price, cost_breakdown, cost_micro_usd, cost_usd
from aimux_core.wire.anthropic import Usage

SONNET = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)


def test_a_price_per_million_tokens_is_micro_dollars_per_token() -> None:
    assert cost_micro_usd(Usage(input_tokens=1000, output_tokens=500), SONNET) == 3000 + 7500
    assert cost_usd(Usage(input_tokens=1_000_000), SONNET) == pytest.approx(3.0)


def test_cache_reads_and_writes_have_their_own_rates() -> None:
    usage = Usage(input_tokens=10, output_tokens=20, cache_read_input_tokens=100_000, cache_creation_input_tokens=2000)
    breakdown = cost_breakdown(usage, SONNET)
    assert breakdown.input == 30 and breakdown.output == 300
    assert breakdown.cache_read == 30_000, "0.3 stays 0.3: no float drift"
    assert breakdown.cache_write == 7500
    assert cost_micro_usd(usage, SONNET) == 37_830
    assert cost_usd(usage, SONNET) == pytest.approx(0.03783)


def test_rounding_is_half_up_once_per_request() -> None:
    cheap = Price(input=0.25, output=1.25, cache_read=0.03, cache_write=0.3)
    assert cost_micro_usd(Usage(input_tokens=2), cheap) == 1  # 0.5 rounds up
    assert cost_micro_usd(Usage(input_tokens=1), cheap) == 0  # 0.25 rounds down
    # 0.25 + 0.03 + 0.3 = 0.58: summed before rounding (per-kind rounding would say 0)
    assert cost_micro_usd(Usage(input_tokens=1, cache_read_input_tokens=1, cache_creation_input_tokens=1), cheap) == 1
    assert cost_micro_usd(Usage(output_tokens=3), cheap) == 4  # 3.75


def test_unpriced_models_cost_nothing_and_say_so() -> None:
    usage = Usage(input_tokens=5000, output_tokens=5000)
    assert cost_micro_usd(usage, None) == 0 and cost_usd(usage, None) == 0.0
    assert cost_breakdown(usage, None).priced is False and cost_breakdown(usage, SONNET).priced is True


def test_missing_cache_fields_count_as_zero() -> None:
    usage = Usage(input_tokens=100, output_tokens=0, cache_read_input_tokens=None, cache_creation_input_tokens=None)
    assert cost_micro_usd(usage, SONNET) == 300


@given(
    tokens=st.tuples(*[st.integers(min_value=0, max_value=2_000_000)] * 4),
    prices=st.tuples(*[st.decimals(min_value=0, max_value=100, places=3)] * 4),
)
def test_micro_dollars_are_the_exact_sum_rounded_half_up(
    tokens: tuple[int, int, int, int], prices: tuple[Decimal, ...]
) -> None:
    price = Price(*(float(p) for p in prices))
    usage = Usage(
        input_tokens=tokens[0], output_tokens=tokens[1], cache_read_input_tokens=tokens[2],
        cache_creation_input_tokens=tokens[3],
    )  # fmt: skip
    exact = tokens[0] * prices[0] + tokens[1] * prices[1] + tokens[2] * prices[2] + tokens[3] * prices[3]
    micro = cost_micro_usd(usage, price)
    assert isinstance(micro, int)
    assert exact - Decimal("0.5") < micro <= exact + Decimal("0.5")
