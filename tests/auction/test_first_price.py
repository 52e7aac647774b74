"""Worked examples and properties of the quality-adjusted first-price auction."""

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from auction.first_price import run_first_price
from auction.second_price import run_second_price
from auction.tiebreak import tiebreak_key
from auction.types import Candidate, ImpOutcome, Loss
from openrtb.enums import LossReason
from openrtb.money import cpm_to_micros

FLOOR = cpm_to_micros("0.50")


def bid(bid_id: str, price_cpm: str, quality: str = "1") -> Candidate:
    """A candidate from decimal strings: CPM and quality (1 = QUALITY_ONE)."""
    return Candidate(bid_id, f"seat-{bid_id}", cpm_to_micros(price_cpm), cpm_to_micros(quality))


def run(*candidates: Candidate, floor: int = FLOOR, auction_id: str = "auction-1") -> ImpOutcome:
    return run_first_price("imp-1", candidates, floor_micros=floor, auction_id=auction_id)


def test_winner_pays_exactly_its_bid() -> None:
    a, b = bid("a", "2.00"), bid("b", "1.50")
    outcome = run(a, b)
    assert outcome == ImpOutcome("imp-1", a, 2_000_000, (Loss(b, 102, 2_000_001),))


def test_quality_decides_and_the_winner_still_pays_its_own_bid() -> None:
    # a: 2.00 × 0.5 = 1.00 adjusted; b: 1.50 × 1.0 = 1.50, so b wins and pays 1.50.
    a, b = bid("a", "2.00", "0.5"), bid("b", "1.50")
    outcome = run(a, b)
    assert outcome.winner == b
    assert outcome.clearing_price_micros == 1_500_000
    assert outcome.losses == (Loss(a, LossReason.LOST_TO_HIGHER_BID, 3_000_001),)


def test_lone_bid_pays_its_bid_not_the_floor() -> None:
    a = bid("a", "3.00")
    assert run(a, floor=cpm_to_micros("1.00")) == ImpOutcome("imp-1", a, 3_000_000, ())


def test_below_floor_and_invalid_bids_lose_with_their_reasons() -> None:
    a, low, zero, bad_quality = (
        bid("a", "1.00"),
        bid("low", "0.40"),
        bid("z", "0"),
        bid("q", "9", "0"),
    )
    outcome = run(a, low, zero, bad_quality)
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_000_000
    assert outcome.losses == (
        Loss(low, LossReason.BELOW_AUCTION_FLOOR, 1_000_001),
        Loss(zero, LossReason.INVALID_BID_RESPONSE, 1_000_001),
        Loss(bad_quality, LossReason.INVALID_BID_RESPONSE, 0),
    )


def test_all_below_floor_means_no_winner_and_min_to_win_is_the_floor() -> None:
    a = bid("a", "0.40")
    assert run(a) == ImpOutcome("imp-1", None, 0, (Loss(a, LossReason.BELOW_AUCTION_FLOOR, FLOOR),))


def test_no_candidates_and_negative_floor() -> None:
    assert run() == ImpOutcome("imp-1", None, 0, ())
    a = bid("a", "0.01")
    assert run(a, floor=-5) == ImpOutcome("imp-1", a, 10_000, ())


def test_tie_goes_to_the_largest_tiebreak_key_which_pays_its_own_bid() -> None:
    a, b = bid("a", "2.00", "0.5"), bid("b", "1.00")
    for n in range(20):
        auction_id = f"auction-{n}"
        outcome = run(a, b, auction_id=auction_id)
        expected = max((a, b), key=lambda c: tiebreak_key(auction_id, c.bid_id))
        assert outcome.winner == expected
        assert outcome.clearing_price_micros == expected.price_micros


# Properties ----------------------------------------------------------------------------------

prices = st.one_of(st.integers(-10, 10**9), st.sampled_from([500_000, 1_000_000, 2_000_000]))
qualities = st.one_of(st.integers(-10, 2 * 10**6), st.sampled_from([500_000, 1_000_000]))
floors = st.one_of(st.just(0), st.sampled_from([500_000, 1_000_000]), st.integers(-10, 10**9))


@st.composite
def profiles(draw: st.DrawFn) -> list[Candidate]:
    pairs = draw(st.lists(st.tuples(prices, qualities), max_size=25))
    return [Candidate(f"bid-{i}", f"seat-{i % 5}", p, q) for i, (p, q) in enumerate(pairs)]


@given(profiles(), floors)
def test_first_price_is_the_bid_and_ranks_like_second_price(
    candidates: list[Candidate], floor: int
) -> None:
    first = run_first_price("imp-1", candidates, floor_micros=floor, auction_id="a-9")
    second = run_second_price(
        "imp-1", candidates, floor_micros=floor, increment_micros=0, auction_id="a-9"
    )
    assert first.winner == second.winner
    assert first.losses == second.losses
    if first.winner is None:
        assert first.clearing_price_micros == 0
    else:
        assert first.clearing_price_micros == first.winner.price_micros
        assert first.clearing_price_micros >= max(floor, 1)
    seen = [loss.candidate.bid_id for loss in first.losses]
    seen += [] if first.winner is None else [first.winner.bid_id]
    assert sorted(seen) == sorted(c.bid_id for c in candidates)


@given(profiles(), floors)
def test_min_to_win_wins_and_one_micro_less_does_not_win_outright(
    candidates: list[Candidate], floor: int
) -> None:
    outcome = run_first_price("imp-1", candidates, floor_micros=floor, auction_id="a-9")
    top = 0 if outcome.winner is None else outcome.winner.adjusted
    for loss in outcome.losses[:5]:
        if loss.min_to_win_micros == 0:
            assert loss.candidate.quality_ppm <= 0
            continue
        index = candidates.index(loss.candidate)
        changed = list(candidates)
        changed[index] = replace(loss.candidate, price_micros=loss.min_to_win_micros)
        rerun = run_first_price("imp-1", changed, floor_micros=floor, auction_id="a-9")
        assert rerun.winner == changed[index]
        below = loss.min_to_win_micros - 1
        assert below < max(floor, 1) or below * loss.candidate.quality_ppm <= top
