"""Bid shading: never above value, the surplus-maximising bid for known landscapes, online
learning from exact and censored feedback, and truthful bids in second price."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.shading import (
    Landscape,
    LandscapeBook,
    bid_for,
    bucket_key,
    shade,
    shade_many,
)
from openrtb.enums import AuctionType


def point_mass(price_micros: int, n: float = 1000.0) -> Landscape:
    """A landscape that has seen the same minimum bid to win ``n`` times."""
    landscape = Landscape.log_normal(strength=1e-9, decay=1.0)
    for _ in range(int(n)):
        landscape.observe(0, won=False, min_to_win_micros=price_micros)
    return landscape


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=10**8),
    st.floats(min_value=10_000, max_value=10**8),
    st.floats(min_value=0.1, max_value=3.0),
)
def test_never_bids_above_value(values: list[int], floor: int, median: float, sigma: float) -> None:
    landscape = Landscape.log_normal(median_cpm_micros=median, sigma=sigma)
    bids = shade_many(values, landscape, floor)
    assert bids.dtype == np.int64
    assert (bids <= np.array(values)).all()
    assert (bids >= np.minimum(np.maximum(floor, 1), values)).all()
    assert [shade(v, landscape, floor) for v in values] == bids.tolist()


def test_no_chance_to_win_below_value_means_bidding_value() -> None:
    # Every competing bid seen is far above: P(win) is flat (zero) up to the value.
    assert shade(2_000_000, point_mass(50_000_000)) == 2_000_000


def test_a_certain_competitor_just_below_value_pulls_the_bid_to_value() -> None:
    value = 2_000_000
    bid = shade(value, point_mass(1_900_000))
    # Within one landscape bin (3.7 %) of the competitor, never above value.
    assert 1_900_000 * 0.96 <= bid <= value


def test_certain_win_bids_the_floor() -> None:
    # Competitors never bid above 0.01: any bid over it wins, so bid low (but at the floor).
    landscape = point_mass(5_000)
    assert shade(2_000_000, landscape, floor_micros=300_000) <= 320_000
    assert shade(2_000_000, landscape, floor_micros=300_000) >= 300_000


def test_uniform_competition_halves_the_value() -> None:
    # Competing bids uniform on [0, 10): P(win | b) = b / 10, optimum b = value / 2.
    rng = np.random.default_rng(3)
    landscape = Landscape.log_normal(strength=1e-9, decay=1.0, low_micros=1_000)
    for price in rng.uniform(0, 10_000_000, 20_000):
        landscape.observe(0, won=False, min_to_win_micros=int(price))
    assert shade(4_000_000, landscape) == pytest.approx(2_000_000, rel=0.06)


def test_learns_the_landscape_from_exact_and_censored_feedback() -> None:
    rng = np.random.default_rng(11)
    exact, censored = Landscape.log_normal(), Landscape.log_normal()
    for _ in range(3_000):
        competitor = int(rng.lognormal(np.log(1_500_000), 0.3))
        exact.observe(0, won=False, min_to_win_micros=competitor)
        bid = int(rng.uniform(500_000, 3_000_000))
        censored.observe(bid, won=bid > competitor)
    for landscape in (exact, censored):
        assert landscape.win_probability([1_500_000])[0] == pytest.approx(0.5, abs=0.06)
        assert landscape.win_probability([2_000_000])[0] == pytest.approx(0.83, abs=0.06)
    assert exact.observations == pytest.approx(1000, rel=0.1)  # decay: ~1 / (1 − 0.999)


def test_a_new_bucket_is_sane() -> None:
    book = LandscapeBook()
    fresh = book.get(bucket_key("pub-1", 300, 250, "usa"))
    bid = shade(2_000_000, fresh, floor_micros=500_000)
    assert 500_000 < bid < 2_000_000
    assert fresh.observations == pytest.approx(10)
    assert len(book) == 1


def test_the_book_learns_per_bucket_and_router_wide() -> None:
    book = LandscapeBook()
    cheap, dear = "pub-a|300x250|USA", "pub-b|300x250|USA"
    for _ in range(500):
        book.observe(cheap, 0, won=False, min_to_win_micros=300_000)
        book.observe(dear, 0, won=False, min_to_win_micros=3_000_000)
    assert shade(5_000_000, book.get(cheap)) < 600_000
    assert shade(5_000_000, book.get(dear)) > 2_900_000
    newcomer = book.get("pub-c|300x250|USA")  # starts from the router-wide mix
    assert newcomer.win_probability([1_000_000])[0] == pytest.approx(0.5, abs=0.1)


def test_bid_for_shades_only_first_price() -> None:
    landscape = Landscape.log_normal()
    assert bid_for(AuctionType.SECOND_PRICE_PLUS, 2_000_000, landscape) == 2_000_000
    assert bid_for(AuctionType.FIRST_PRICE, 2_000_000, None) == 2_000_000
    assert bid_for(AuctionType.FIRST_PRICE, 2_000_000, landscape) < 2_000_000
    assert shade(0, landscape) == 0


def test_bucket_key() -> None:
    assert bucket_key("pub-1", 300, 250, "usa") == "pub-1|300x250|USA"
    assert bucket_key(None, 320, 50, None) == "-|320x50|-"


def test_bad_landscapes_are_refused() -> None:
    with pytest.raises(ValueError, match="decay"):
        Landscape.log_normal(decay=0)
    with pytest.raises(ValueError, match="points"):
        Landscape(np.array([1.0, 2.0]), np.array([1.0, 1.0]))


def test_reading_a_bucket_to_shade_does_not_make_it() -> None:
    book = LandscapeBook()
    prior = book.peek("pub|300x250|USA")
    assert len(book) == 0  # only feedback makes a bucket, as the log's replay does
    book.global_landscape.observe(2_000_000, True)
    book.observe("pub|300x250|USA", 1_000_000, False)
    assert len(book) == 1
    assert book.peek("pub|300x250|USA") is book.get("pub|300x250|USA")
    assert not np.allclose(prior.weights, book.peek("pub|300x250|USA").weights)
