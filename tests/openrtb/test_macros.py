"""Macro substitution (OpenRTB 2.6 section 4.4) and exact price rendering."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openrtb.macros import AuctionMacros, format_micros, substitute
from openrtb.money import cpm_to_micros

FULL = AuctionMacros(
    auction_id="req-1",
    bid_id="bid-9",
    imp_id="imp-2",
    seat_id="seat-42",
    ad_id="ad-314",
    price_micros=1_230_000,
    currency="USD",
    mbr=0.75,
    loss=102,
    min_to_win_micros=1_100_000,
    multiplier=14.2,
    imp_ts_ms=1_700_000_000_123,
)


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("AUCTION_ID", "req-1"),
        ("AUCTION_BID_ID", "bid-9"),
        ("AUCTION_IMP_ID", "imp-2"),
        ("AUCTION_SEAT_ID", "seat-42"),
        ("AUCTION_AD_ID", "ad-314"),
        ("AUCTION_PRICE", "1.23"),
        ("AUCTION_CURRENCY", "USD"),
        ("AUCTION_MBR", "0.75"),
        ("AUCTION_LOSS", "102"),
        ("AUCTION_MIN_TO_WIN", "1.1"),
        ("AUCTION_MULTIPLIER", "14.2"),
        ("AUCTION_IMP_TS", "1700000000123"),
    ],
)
def test_every_macro(macro: str, expected: str) -> None:
    assert substitute(f"x=${{{macro}}}&y=1", FULL) == f"x={expected}&y=1"
    assert substitute(f"${{{macro}}}", AuctionMacros()) == ""  # absent → blank (spec 4.4)
    encoded = base64.b64encode(expected.encode()).decode()
    assert substitute(f"${{{macro}:B64}}", FULL) == encoded


def test_many_macros_in_one_template() -> None:
    template = (
        "https://dsp.example/win?a=${AUCTION_ID}&i=${AUCTION_IMP_ID}"
        "&p=${AUCTION_PRICE}&c=${AUCTION_CURRENCY}&p64=${AUCTION_PRICE:B64}"
    )
    assert substitute(template, FULL) == (
        "https://dsp.example/win?a=req-1&i=imp-2&p=1.23&c=USD&p64=MS4yMw=="
    )


def test_missing_values_become_blank() -> None:
    macros = AuctionMacros(auction_id="r")
    assert substitute("${AUCTION_ID}|${AUCTION_PRICE}|${AUCTION_LOSS}|${AUCTION_MBR}", macros) == (
        "r|||"
    )
    assert substitute("${AUCTION_PRICE:B64}", macros) == ""


def test_unknown_macros_and_unknown_encodings_are_untouched() -> None:
    template = "${AUCTION_FOO} ${CLICK_URL} ${AUCTION_PRICE:AES} $AUCTION_PRICE ${auction_price}"
    assert substitute(template, FULL) == template


def test_no_macro_fast_path_returns_the_template() -> None:
    template = "https://dsp.example/win?id=1"
    assert substitute(template, FULL) is template


def test_values_are_not_re_scanned() -> None:
    macros = AuctionMacros(auction_id="${AUCTION_PRICE}", price_micros=1_000_000)
    assert substitute("${AUCTION_ID}", macros) == "${AUCTION_PRICE}"


def test_url_encode() -> None:
    macros = AuctionMacros(auction_id="a b&c=d/é", price_micros=500_000, seat_id="s?x#y")
    template = "https://x.example/?id=${AUCTION_ID}&p=${AUCTION_PRICE}&s=${AUCTION_SEAT_ID}"
    assert substitute(template, macros, url_encode=True) == (
        "https://x.example/?id=a%20b%26c%3Dd%2F%C3%A9&p=0.5&s=s%3Fx%23y"
    )
    assert substitute(template, macros) == ("https://x.example/?id=a b&c=d/é&p=0.5&s=s?x#y")


def test_url_encode_applies_after_base64() -> None:
    macros = AuctionMacros(auction_id="~~~?")  # base64 "fn5+Pw==" has + and =
    assert substitute("${AUCTION_ID:B64}", macros, url_encode=True) == "fn5%2BPw%3D%3D"


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (1_230_000, "1.23"),
        (2_000_000, "2"),
        (0, "0"),
        (1, "0.000001"),
        (999_999, "0.999999"),
        (10_000_000, "10"),
        (1_000_000_000_000, "1000000"),
        (123_456_789, "123.456789"),
        (-1_500_000, "-1.5"),
    ],
)
def test_format_micros(micros: int, text: str) -> None:
    assert format_micros(micros) == text


@pytest.mark.parametrize(
    ("mbr", "text"), [(0.857142857, "0.857143"), (1.0, "1"), (1e-9, "0"), (float("nan"), "")]
)
def test_ratio_rendering_has_no_exponent(mbr: float, text: str) -> None:
    assert substitute("${AUCTION_MBR}", AuctionMacros(mbr=mbr)) == text


@given(st.integers(min_value=0, max_value=10**12))
def test_price_text_round_trips_to_the_same_micros(micros: int) -> None:
    text = format_micros(micros)
    assert "e" not in text.lower()
    assert cpm_to_micros(text) == micros
    assert substitute("${AUCTION_PRICE}", AuctionMacros(price_micros=micros)) == text
