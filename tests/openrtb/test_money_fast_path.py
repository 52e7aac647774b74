"""The float fast path of micros conversion agrees with the exact decimal conversion, for
configured amounts (half-up), bids (down) and floors (up) alike."""

import math
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from auction.currency import CurrencyRates
from openrtb.money import cpm_to_micros, whole_micros

USD = CurrencyRates("USD")


def exact(price: float) -> int:
    return int((Decimal(str(price)) * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_every_six_decimal_price_takes_the_fast_path_exactly(micros: int) -> None:
    price = float(Decimal(micros) / 1_000_000)
    assert whole_micros(price) == micros == cpm_to_micros(price)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_fast_path_is_exact_or_declines(price: float) -> None:
    fast = whole_micros(price)
    assert fast is None or fast == exact(price)
    assert cpm_to_micros(price) == exact(price)


def test_more_than_six_decimals_decline_the_fast_path() -> None:
    assert whole_micros(2.0000005) is None
    assert cpm_to_micros(2.0000005) == 2_000_001
    assert whole_micros(0.1) == 100_000


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e12))
def test_bids_round_down_and_floors_up_on_the_decimal_text(price: float) -> None:
    exact_micros = Decimal(repr(price)) * 1_000_000
    bid = USD.to_exchange_micros(price, "USD", rounding="down")
    floor = USD.to_exchange_micros(price, "USD", rounding="up")
    assert bid == math.floor(exact_micros)
    assert floor == math.ceil(exact_micros)
    assert bid <= cpm_to_micros(price) <= floor


def test_a_bid_with_a_seventh_decimal_rounds_down_where_config_rounds_half_up() -> None:
    assert USD.to_exchange_micros(2.0000005, "USD", rounding="down") == 2_000_000
    assert cpm_to_micros(2.0000005) == 2_000_001
    assert USD.to_exchange_micros(2.675, "USD", rounding="down") == 2_675_000  # fast path
