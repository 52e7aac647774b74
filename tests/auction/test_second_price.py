"""Worked examples of the quality-adjusted second-price auction, computed by hand."""

from collections import Counter

import pytest

from auction import QUALITY_ONE, Candidate, ImpOutcome, Loss, run_second_price, tiebreak_key
from openrtb.enums import LossReason
from openrtb.money import cpm_to_micros

FLOOR = cpm_to_micros("0.50")
INCREMENT = cpm_to_micros("0.01")


def bid(bid_id: str, price_cpm: str, quality: str = "1") -> Candidate:
    """A candidate from decimal strings: CPM and quality (1 = QUALITY_ONE)."""
    return Candidate(bid_id, f"seat-{bid_id}", cpm_to_micros(price_cpm), cpm_to_micros(quality))


def run(
    *candidates: Candidate,
    floor: int = FLOOR,
    increment: int = INCREMENT,
    auction_id: str = "auction-1",
) -> ImpOutcome:
    return run_second_price(
        "imp-1", candidates, floor_micros=floor, increment_micros=increment, auction_id=auction_id
    )


def loss_of(outcome: ImpOutcome, bid_id: str) -> Loss:
    (loss,) = (loss for loss in outcome.losses if loss.candidate.bid_id == bid_id)
    return loss


def test_equal_quality_is_classic_second_price() -> None:
    a, b = bid("a", "2.00"), bid("b", "1.50")
    outcome = run(a, b)
    assert outcome.imp_id == "imp-1"
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_510_000  # 1.50 + 0.01
    assert outcome.losses == (Loss(b, LossReason.LOST_TO_HIGHER_BID, 2_000_001),)


def test_quality_reverses_the_order() -> None:
    # a: 2.00 × 0.5 = 1.00 adjusted; b: 1.50 × 1.0 = 1.50 adjusted, so b wins despite bidding
    # less, and pays a's adjusted score at its own quality: 1.00 / 1.0 = 1.00, plus 0.01.
    a, b = bid("a", "2.00", "0.5"), bid("b", "1.50", "1.0")
    outcome = run(a, b)
    assert outcome.winner == b
    assert outcome.clearing_price_micros == 1_010_000
    # a needs 2.00 × 0.5 ... > 1.50 × 1.0, i.e. a bid above 3.00 at quality 0.5.
    assert outcome.losses == (Loss(a, LossReason.LOST_TO_HIGHER_BID, 3_000_001),)


def test_quality_winner_can_pay_less_than_the_runner_up_bid() -> None:
    # b (q 2.0) wins over a (q 0.5) and pays 3.00 × 0.5 / 2.0 = 0.75 + 0.01, below a's 3.00.
    a, b = bid("a", "3.00", "0.5"), bid("b", "1.00", "2.0")
    outcome = run(a, b)
    assert outcome.winner == b
    assert outcome.clearing_price_micros == 760_000
    assert loss_of(outcome, "a").min_to_win_micros == 4_000_001  # 1.00 × 2.0 / 0.5, plus 1


def test_clearing_price_rounds_up_to_the_micro() -> None:
    # 1.00 × 1.0 / 0.3 = 3.333333… → 3_333_334 micros (3_333_333 would not beat the runner-up).
    winner, runner_up = bid("w", "10.00", "0.3"), bid("r", "1.00")
    outcome = run(winner, runner_up, increment=0)
    assert outcome.winner == winner
    assert outcome.clearing_price_micros == 3_333_334
    assert loss_of(outcome, "r").min_to_win_micros == 3_000_001


def test_increment_never_lifts_the_price_above_the_bid() -> None:
    a, b = bid("a", "1.000"), bid("b", "0.995")
    outcome = run(a, b)
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_000_000  # not 0.995 + 0.01


def test_floor_above_an_eligible_runner_up_sets_the_price() -> None:
    # b clears the floor on price, but its adjusted score is worth only 0.60 at a's quality.
    a, b = bid("a", "3.00"), bid("b", "1.20", "0.5")
    outcome = run(a, b, floor=cpm_to_micros("1.00"))
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_010_000
    assert outcome.losses == (Loss(b, LossReason.LOST_TO_HIGHER_BID, 6_000_001),)


def test_floor_above_the_runner_up_bid_excludes_it() -> None:
    a, b = bid("a", "2.00"), bid("b", "0.80")
    outcome = run(a, b, floor=cpm_to_micros("1.00"))
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_010_000
    assert outcome.losses == (Loss(b, LossReason.BELOW_AUCTION_FLOOR, 2_000_001),)


def test_below_floor_bid_with_high_quality_does_not_rank() -> None:
    # b's adjusted score (0.90 × 3.0 = 2.70) beats a's, but b is below the floor on price.
    a, b = bid("a", "2.00"), bid("b", "0.90", "3.0")
    outcome = run(a, b, floor=cpm_to_micros("1.00"))
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_010_000
    assert outcome.losses == (Loss(b, LossReason.BELOW_AUCTION_FLOOR, 1_000_000),)


def test_lone_bid_pays_floor_plus_increment() -> None:
    a = bid("a", "3.00")
    outcome = run(a, floor=cpm_to_micros("1.00"))
    assert outcome == ImpOutcome("imp-1", a, 1_010_000, ())


def test_lone_bid_below_floor_plus_increment_pays_its_bid() -> None:
    a = bid("a", "1.005")
    outcome = run(a, floor=cpm_to_micros("1.00"))
    assert outcome == ImpOutcome("imp-1", a, 1_005_000, ())


def test_bid_exactly_at_the_floor_is_eligible() -> None:
    a = bid("a", "1.00")
    outcome = run(a, floor=cpm_to_micros("1.00"))
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 1_000_000


def test_all_below_floor_means_no_winner() -> None:
    a, b = bid("a", "0.40"), bid("b", "0.30", "2.0")
    outcome = run(a, b)
    assert outcome.winner is None
    assert outcome.clearing_price_micros == 0
    assert outcome.losses == (
        Loss(a, LossReason.BELOW_AUCTION_FLOOR, FLOOR),
        Loss(b, LossReason.BELOW_AUCTION_FLOOR, FLOOR),
    )


def test_no_candidates_means_no_winner() -> None:
    assert run() == ImpOutcome("imp-1", None, 0, ())


def test_no_floor_and_no_increment_lets_a_lone_bid_clear_at_zero() -> None:
    a = bid("a", "2.00")
    assert run(a, floor=0, increment=0).clearing_price_micros == 0


def test_negative_floor_and_increment_count_as_zero() -> None:
    a, b = bid("a", "2.00"), bid("b", "1.50")
    assert run(a, b, floor=-5, increment=-7) == run(a, b, floor=0, increment=0)
    assert run(a, b, floor=-5, increment=-7).clearing_price_micros == 1_500_000


@pytest.mark.parametrize(
    ("price_micros", "quality_ppm", "min_to_win_micros"),
    [
        (0, QUALITY_ONE, 1_000_001),
        (-1_000_000, QUALITY_ONE, 1_000_001),
        (5_000_000, 0, 0),
        (5_000_000, -QUALITY_ONE, 0),
        (-5_000_000, -QUALITY_ONE, 0),  # positive product, still invalid
    ],
)
def test_invalid_bids_lose_and_do_not_rank(
    price_micros: int, quality_ppm: int, min_to_win_micros: int
) -> None:
    a = bid("a", "1.00")
    invalid = Candidate("x", "seat-x", price_micros, quality_ppm)
    outcome = run(invalid, a)
    assert outcome.winner == a
    assert outcome.clearing_price_micros == FLOOR + INCREMENT
    assert outcome.losses == (Loss(invalid, LossReason.INVALID_BID_RESPONSE, min_to_win_micros),)


def test_only_invalid_bids_mean_no_winner() -> None:
    outcome = run(Candidate("x", "s", 0), Candidate("y", "s", 1_000_000, 0), floor=0)
    assert outcome.winner is None
    assert outcome.clearing_price_micros == 0
    assert [loss.reason for loss in outcome.losses] == [LossReason.INVALID_BID_RESPONSE] * 2
    assert [loss.min_to_win_micros for loss in outcome.losses] == [1, 0]


def test_losses_keep_input_order_and_skip_only_the_winner() -> None:
    bids = [bid("a", "1.00"), bid("b", "0.10"), bid("c", "3.00"), bid("d", "0"), bid("e", "2")]
    outcome = run(*bids)
    assert outcome.winner == bids[2]
    assert [loss.candidate.bid_id for loss in outcome.losses] == ["a", "b", "d", "e"]
    assert [loss.reason for loss in outcome.losses] == [
        LossReason.LOST_TO_HIGHER_BID,
        LossReason.BELOW_AUCTION_FLOOR,
        LossReason.INVALID_BID_RESPONSE,
        LossReason.LOST_TO_HIGHER_BID,
    ]


def test_tie_goes_to_the_largest_tiebreak_key_and_pays_its_own_bid() -> None:
    a, b = bid("a", "2.00"), bid("b", "2.00")
    for auction_id in ("auction-1", "auction-2", "auction-3", "auction-4"):
        outcome = run(a, b, auction_id=auction_id)
        expected = max((a, b), key=lambda c: tiebreak_key(auction_id, c.bid_id))
        assert outcome.winner == expected
        assert outcome.clearing_price_micros == 2_000_000
        (loss,) = outcome.losses
        assert loss.reason == LossReason.LOST_TO_HIGHER_BID
        assert loss.min_to_win_micros == 2_000_001


def test_tie_across_qualities_pays_own_bid() -> None:
    # 2.00 × 0.5 = 1.00 × 1.0: whichever wins pays exactly its own bid.
    a, b = bid("a", "2.00", "0.5"), bid("b", "1.00", "1.0")
    winners = set()
    for n in range(50):
        outcome = run(a, b, auction_id=f"auction-{n}")
        assert outcome.winner is not None
        assert outcome.clearing_price_micros == outcome.winner.price_micros
        winners.add(outcome.winner.bid_id)
    assert winners == {"a", "b"}


def test_tie_is_reproducible_and_independent_of_input_order() -> None:
    bids = [bid("a", "2.00"), bid("b", "2.00"), bid("c", "2.00"), bid("d", "1.00")]
    first = run(*bids, auction_id="auction-42")
    assert run(*bids, auction_id="auction-42") == first
    assert run(*reversed(bids), auction_id="auction-42").winner == first.winner


def test_tied_bidders_win_equally_often_over_many_auctions() -> None:
    # Fixed auction ids, so deterministic; bounds are ~7.7 standard deviations from 1000.
    bids = (bid("a", "2.00"), bid("b", "1.00", "2.0"), bid("c", "4.00", "0.5"), bid("d", "1.99"))
    wins: Counter[str] = Counter()
    for n in range(3000):
        outcome = run(*bids, auction_id=f"auction-{n}")
        assert outcome.winner is not None
        wins[outcome.winner.bid_id] += 1
    assert set(wins) == {"a", "b", "c"}
    assert all(800 <= count <= 1200 for count in wins.values()), wins


def test_runner_up_tie_does_not_matter() -> None:
    a, b, c = bid("a", "3.00"), bid("b", "2.00"), bid("c", "2.00")
    outcome = run(a, b, c)
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 2_010_000


def test_identical_candidates_each_appear_once() -> None:
    a = bid("a", "2.00")
    outcome = run(a, a, a)
    assert outcome.winner == a
    assert outcome.clearing_price_micros == 2_000_000
    assert len(outcome.losses) == 2
