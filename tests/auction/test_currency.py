"""Currency conversion into exchange micros: worked examples and rounding directions."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.currency import CurrencyRates, UnknownCurrency, answer_currency
from openrtb.errors import InvalidRequest

RATES = CurrencyRates(
    "USD", {"EUR": Decimal("1.0834567"), "JPY": Decimal("0.0064"), "GBP": Decimal("1.25")}
)


def test_exchange_currency_is_one_and_exact() -> None:
    assert RATES.to_exchange_micros("1.25", "USD", rounding="up") == 1_250_000
    assert RATES.to_exchange_micros(2.675, "USD", rounding="down") == 2_675_000  # decimal text
    assert RATES.to_exchange_micros(0.1, "USD", rounding="up") == 100_000
    assert RATES.rate("USD") == 1


def test_floor_rounds_up_and_bid_rounds_down() -> None:
    # 1.00 EUR = 1.0834567 USD = 1_083_456.7 micros.
    assert RATES.to_exchange_micros("1.00", "EUR", rounding="up") == 1_083_457
    assert RATES.to_exchange_micros("1.00", "EUR", rounding="down") == 1_083_456


def test_whole_micros_do_not_move_in_either_direction() -> None:
    # 150 JPY × 0.0064 = 0.96 USD exactly.
    assert RATES.to_exchange_micros(150, "JPY", rounding="up") == 960_000
    assert RATES.to_exchange_micros(Decimal("150"), "JPY", rounding="down") == 960_000
    assert RATES.to_exchange_micros("2", "GBP", rounding="up") == 2_500_000


def test_unknown_currency_is_a_value_error_naming_it() -> None:
    with pytest.raises(UnknownCurrency, match="CHF") as raised:
        RATES.to_exchange_micros("1", "CHF", rounding="up")
    assert isinstance(raised.value, ValueError)
    assert raised.value.currency == "CHF"
    with pytest.raises(UnknownCurrency):
        RATES.rate("usd")  # codes are exact, upper case


@pytest.mark.parametrize("amount", ["abc", "nan", float("inf"), "1e401", "-1e-500"])
def test_bad_amounts_are_refused(amount: float | str) -> None:
    with pytest.raises(ValueError, match="amount"):
        RATES.to_exchange_micros(amount, "USD", rounding="down")


def test_zero_and_tiny_amounts() -> None:
    assert RATES.to_exchange_micros(0.0, "EUR", rounding="up") == 0
    assert RATES.to_exchange_micros("1e-400", "USD", rounding="up") == 1
    assert RATES.to_exchange_micros("1e-400", "USD", rounding="down") == 0


def test_bad_rounding_is_refused() -> None:
    with pytest.raises(ValueError, match="rounding"):
        RATES.to_exchange_micros("1", "USD", rounding="half")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rates",
    [{"EUR": Decimal(0)}, {"EUR": Decimal(-1)}, {"EUR": Decimal("NaN")}, {"USD": Decimal(2)}],
)
def test_bad_rates_are_refused(rates: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError, match="rates"):
        CurrencyRates("USD", rates)


def test_rates_are_copied_and_read_only() -> None:
    source = {"EUR": Decimal("1.1")}
    rates = CurrencyRates("USD", source)
    source["EUR"] = Decimal(5)
    assert rates.rate("EUR") == Decimal("1.1")
    with pytest.raises(TypeError):
        rates.rates["EUR"] = Decimal(2)  # type: ignore[index]
    assert rates == CurrencyRates("USD", {"EUR": Decimal("1.1"), "USD": Decimal(1)})
    assert hash(rates) == hash(CurrencyRates("USD", {"EUR": Decimal("1.1")}))


amounts = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False, allow_infinity=False)
rates = st.decimals(
    min_value=Decimal("0.000001"), max_value=10**4, places=8, allow_nan=False, allow_infinity=False
)


@given(amounts, rates)
def test_floor_converted_back_is_never_below_the_original(amount: Decimal, rate: Decimal) -> None:
    micros = CurrencyRates("USD", {"XTS": rate}).to_exchange_micros(amount, "XTS", rounding="up")
    back = Fraction(micros) / 1_000_000 / Fraction(rate)
    assert back >= Fraction(amount)
    assert Fraction(micros - 1) / 1_000_000 / Fraction(rate) < Fraction(amount)  # and tight


@given(amounts, rates)
def test_bid_converted_back_is_never_above_the_original(amount: Decimal, rate: Decimal) -> None:
    micros = CurrencyRates("USD", {"XTS": rate}).to_exchange_micros(amount, "XTS", rounding="down")
    back = Fraction(micros) / 1_000_000 / Fraction(rate)
    assert back <= Fraction(amount)
    assert Fraction(micros + 1) / 1_000_000 / Fraction(rate) > Fraction(amount)  # and tight


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), rates)
def test_floats_convert_by_their_decimal_text(amount: float, rate: Decimal) -> None:
    conversions = CurrencyRates("USD", {"XTS": rate})
    up = conversions.to_exchange_micros(amount, "XTS", rounding="up")
    down = conversions.to_exchange_micros(amount, "XTS", rounding="down")
    assert up == conversions.to_exchange_micros(repr(amount), "XTS", rounding="up")
    assert 0 <= up - down <= 1


def test_answer_currency_is_the_first_accepted_the_exchange_converts_to() -> None:
    assert answer_currency(None, RATES) == "USD"
    assert answer_currency([], RATES) == "USD"
    assert answer_currency(["CHF", "GBP", "EUR"], RATES) == "GBP"


def test_answer_currency_refuses_a_list_it_cannot_convert_to_naming_cur() -> None:
    with pytest.raises(InvalidRequest) as raised:
        answer_currency(["CHF", "XAU"], RATES)
    assert raised.value.field == "cur"
    assert "CHF, XAU" in raised.value.message


_RATE = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal("50000"), places=6, allow_nan=False
)
_MICROS = st.integers(min_value=1, max_value=10**10)


@given(rate=_RATE, bid_micros=_MICROS, share=st.fractions(min_value=0, max_value=1))
def test_a_price_answered_in_a_foreign_currency_is_never_above_the_bid(
    rate: Decimal, bid_micros: int, share: Fraction
) -> None:
    """A bid of B micros of EUR becomes ≤ B·rate exchange micros; any clearing price up to
    that, answered in EUR, is at most B again."""
    rates = CurrencyRates("USD", {"EUR": rate})
    bid_usd = rates.to_exchange_micros(Decimal(bid_micros) / 1_000_000, "EUR", rounding="down")
    price_usd = int(bid_usd * share)
    answered = rates.from_exchange_micros(price_usd, "EUR", rounding="down")
    assert answered <= bid_micros


@given(rate=_RATE, floor_micros=_MICROS)
def test_a_price_at_a_foreign_floor_answered_in_that_currency_is_not_below_it(
    rate: Decimal, floor_micros: int
) -> None:
    rates = CurrencyRates("USD", {"GBP": rate})
    floor_usd = rates.to_exchange_micros(Decimal(floor_micros) / 1_000_000, "GBP", rounding="up")
    assert rates.from_exchange_micros(floor_usd, "GBP", rounding="down") >= floor_micros
