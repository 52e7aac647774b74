"""The float fast path of micros conversion agrees with the exact decimal conversion."""

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from openrtb.money import cpm_to_micros, whole_micros


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
