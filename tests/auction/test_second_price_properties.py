"""Properties of the second-price auction over random bid profiles (hypothesis)."""

import random
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from auction import Candidate, ImpOutcome, run_second_price, tiebreak_key
from openrtb.enums import LossReason

AUCTION_ID = "auction-7"

# Round values mixed in so that ties in adjusted score actually happen.
prices = st.one_of(
    st.integers(1, 10**9), st.sampled_from([500_000, 1_000_000, 2_000_000, 4_000_000])
)
qualities = st.one_of(
    st.integers(1, 2 * 10**6), st.sampled_from([250_000, 500_000, 1_000_000, 2_000_000])
)
floors = st.one_of(st.just(0), st.sampled_from([500_000, 1_000_000]), st.integers(0, 10**9))
increments = st.one_of(st.just(0), st.integers(0, 100_000))


@st.composite
def profiles(draw: st.DrawFn, max_size: int = 30) -> list[Candidate]:
    """1–``max_size`` valid candidates with distinct bid ids."""
    pairs = draw(st.lists(st.tuples(prices, qualities), min_size=1, max_size=max_size))
    return [Candidate(f"bid-{i}", f"seat-{i % 5}", p, q) for i, (p, q) in enumerate(pairs)]


def run(candidates: list[Candidate], floor: int, increment: int = 0) -> ImpOutcome:
    return run_second_price(
        "imp-1",
        candidates,
        floor_micros=floor,
        increment_micros=increment,
        auction_id=AUCTION_ID,
    )


def reference(candidates: list[Candidate], floor: int, increment: int) -> ImpOutcome:
    """The rule written the slow, obvious way: filter, sort everything, read off the top two."""
    eligible = sorted(
        (
            (c.price_micros * c.quality_ppm, tiebreak_key(AUCTION_ID, c.bid_id), -i)
            for i, c in enumerate(candidates)
            if c.price_micros >= max(floor, 1) and c.quality_ppm > 0
        ),
        reverse=True,
    )
    if not eligible:
        return ImpOutcome("imp-1", None, 0, ())
    winner = candidates[-eligible[0][2]]
    runner_up = eligible[1][0] if len(eligible) > 1 else 0
    second = max(floor, -(-runner_up // winner.quality_ppm))
    return ImpOutcome("imp-1", winner, min(winner.price_micros, second + increment), ())


def winner_id(outcome: ImpOutcome) -> str | None:
    return None if outcome.winner is None else outcome.winner.bid_id


@given(profiles(), floors, increments)
def test_matches_the_sort_based_reference(
    candidates: list[Candidate], floor: int, increment: int
) -> None:
    outcome = run(candidates, floor, increment)
    expected = reference(candidates, floor, increment)
    assert outcome.winner == expected.winner
    assert outcome.clearing_price_micros == expected.clearing_price_micros


@given(profiles(), floors, increments)
def test_payment_is_between_floor_and_bid(
    candidates: list[Candidate], floor: int, increment: int
) -> None:
    outcome = run(candidates, floor, increment)
    if outcome.winner is None:
        assert outcome.clearing_price_micros == 0
        assert all(c.price_micros < floor for c in candidates)
    else:
        assert floor <= outcome.clearing_price_micros <= outcome.winner.price_micros


@given(profiles(), floors, increments)
def test_winner_has_the_highest_eligible_adjusted_score(
    candidates: list[Candidate], floor: int, increment: int
) -> None:
    outcome = run(candidates, floor, increment)
    if outcome.winner is not None:
        eligible = [c for c in candidates if c.price_micros >= floor]
        assert outcome.winner.adjusted == max(c.adjusted for c in eligible)


@given(profiles(), floors, increments)
def test_every_candidate_appears_exactly_once(
    candidates: list[Candidate], floor: int, increment: int
) -> None:
    outcome = run(candidates, floor, increment)
    seen = [loss.candidate.bid_id for loss in outcome.losses]
    if outcome.winner is not None:
        seen.append(outcome.winner.bid_id)
    assert sorted(seen) == sorted(c.bid_id for c in candidates)
    for loss in outcome.losses:
        below = loss.candidate.price_micros < floor
        expected = LossReason.BELOW_AUCTION_FLOOR if below else LossReason.LOST_TO_HIGHER_BID
        assert loss.reason == expected


@given(
    st.lists(
        st.tuples(st.integers(-(10**6), 10**9), st.integers(-(10**6), 2 * 10**6)), max_size=30
    ),
    st.integers(-(10**6), 10**9),
    st.integers(-(10**6), 10**5),
)
def test_total_over_invalid_input(pairs: list[tuple[int, int]], floor: int, increment: int) -> None:
    candidates = [Candidate(f"bid-{i}", "seat", p, q) for i, (p, q) in enumerate(pairs)]
    outcome = run(candidates, floor, increment)
    assert len(outcome.losses) + (outcome.winner is not None) == len(candidates)
    for loss in outcome.losses:
        c = loss.candidate
        if c.price_micros <= 0 or c.quality_ppm <= 0:
            assert loss.reason == LossReason.INVALID_BID_RESPONSE
    if outcome.winner is not None:
        assert outcome.winner.price_micros > 0
        assert outcome.winner.quality_ppm > 0
        assert 0 <= outcome.clearing_price_micros <= outcome.winner.price_micros


@given(profiles(), floors, increments, st.randoms(use_true_random=False))
def test_input_order_does_not_change_the_result(
    candidates: list[Candidate], floor: int, increment: int, rng: random.Random
) -> None:
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    first, second = run(candidates, floor, increment), run(shuffled, floor, increment)
    assert first.winner == second.winner
    assert first.clearing_price_micros == second.clearing_price_micros
    assert sorted(first.losses, key=repr) == sorted(second.losses, key=repr)


@given(profiles(max_size=12), floors, increments)
def test_min_to_win_is_the_smallest_strictly_winning_bid(
    candidates: list[Candidate], floor: int, increment: int
) -> None:
    outcome = run(candidates, floor, increment)
    top = 0 if outcome.winner is None else outcome.winner.adjusted
    for loss in outcome.losses:
        index = candidates.index(loss.candidate)

        def rerun(price: int, index: int = index) -> ImpOutcome:
            changed = list(candidates)
            changed[index] = replace(candidates[index], price_micros=price)
            return run(changed, floor, increment)

        bidder = loss.candidate
        assert winner_id(rerun(loss.min_to_win_micros)) == bidder.bid_id
        below = loss.min_to_win_micros - 1
        if winner_id(rerun(below)) == bidder.bid_id:
            # One micro less can only win through the tie-break, never outright.
            assert below * bidder.quality_ppm == top
            assert below >= max(floor, 1)


@given(profiles(max_size=10), floors, st.data())
def test_bidding_true_value_is_a_dominant_strategy(
    candidates: list[Candidate], floor: int, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(candidates) - 1))
    bidder = candidates[index]
    value = bidder.price_micros
    others = [
        c.adjusted for i, c in enumerate(candidates) if i != index and c.price_micros >= floor
    ]
    critical = -(-max(others, default=0) // bidder.quality_ppm)

    def utility(report: int) -> int:
        changed = list(candidates)
        changed[index] = replace(bidder, price_micros=report)
        outcome = run(changed, floor, 0)
        if winner_id(outcome) != bidder.bid_id:
            return 0
        return value - outcome.clearing_price_micros

    truthful = utility(value)
    assert truthful >= 0
    grid = {0, 1, value // 2, value - 1, value + 1, 2 * value, 10**9, floor - 1, floor, floor + 1}
    grid |= {critical - 1, critical, critical + 1}
    grid |= set(data.draw(st.lists(st.integers(1, 2 * 10**9), max_size=5)))
    for report in grid:
        assert utility(report) <= truthful, report
