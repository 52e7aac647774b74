"""Tie-break keys: deterministic per auction id, unambiguous, and fair across auction ids."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from auction.tiebreak import tiebreak_key


def test_same_inputs_give_the_same_key() -> None:
    assert tiebreak_key("auction-1", "bid-a") == tiebreak_key("auction-1", "bid-a")


def test_key_is_an_unsigned_64_bit_integer() -> None:
    key = tiebreak_key("auction-1", "bid-a")
    assert 0 <= key < 2**64


def test_key_depends_on_the_auction_id_and_the_bid_id() -> None:
    assert tiebreak_key("auction-1", "bid-a") != tiebreak_key("auction-2", "bid-a")
    assert tiebreak_key("auction-1", "bid-a") != tiebreak_key("auction-1", "bid-b")


def test_boundary_between_auction_id_and_bid_id_is_unambiguous() -> None:
    assert tiebreak_key("ab", "c") != tiebreak_key("a", "bc")
    assert tiebreak_key("", "abc") != tiebreak_key("abc", "")


def test_long_and_odd_ids_are_accepted() -> None:
    long_id = "x" * 10_000  # longer than BLAKE2b's 64-byte key limit
    assert tiebreak_key(long_id, "bid") != tiebreak_key(long_id + "y", "bid")
    assert 0 <= tiebreak_key("\ud800", "é\x00") < 2**64  # lone surrogate, NUL


@given(st.text(), st.text())
def test_key_is_total_and_deterministic(auction_id: str, bid_id: str) -> None:
    key = tiebreak_key(auction_id, bid_id)
    assert 0 <= key < 2**64
    assert key == tiebreak_key(auction_id, bid_id)


def test_largest_key_is_spread_evenly_over_bids() -> None:
    # Fixed ids, so this is deterministic; the bounds are ~7.7 standard deviations wide.
    bids = ("bid-a", "bid-b", "bid-c")
    wins = Counter(
        max(bids, key=lambda bid: tiebreak_key(f"auction-{n}", bid)) for n in range(3000)
    )
    assert set(wins) == set(bids)
    assert all(800 <= count <= 1200 for count in wins.values()), wins
