"""VCG for a page: worked cases of the rule, its floors, separation, ties and exactness."""

from collections.abc import Sequence

import pytest

from auction import Candidate, run_second_price, tiebreak_key
from auction.separation import group_agents
from auction.types import ImpOutcome, ImpTerms
from auction.vcg import clearing_price, run_vcg, slot_value_micros
from openrtb.enums import LossReason

M = 1_000_000
AUCTION_ID = "auction-vcg"


def page(*ctrs: int, floor: int = 0) -> list[ImpTerms]:
    return [ImpTerms(f"imp-{j}", floor, ctr_ppm=ctr) for j, ctr in enumerate(ctrs)]


def summary(outcomes: Sequence[ImpOutcome]) -> list[tuple[str | None, int]]:
    return [(o.winner.bid_id if o.winner else None, o.clearing_price_micros) for o in outcomes]


def test_one_slot_is_the_second_price_auction() -> None:
    bids = [Candidate("a", "s1", 5 * M), Candidate("b", "s2", 3 * M), Candidate("c", "s3", 4 * M)]
    outcome = run_vcg(page(M), {"imp-0": bids}, auction_id=AUCTION_ID)[0]
    assert outcome == run_second_price(
        "imp-0", bids, floor_micros=0, increment_micros=0, auction_id=AUCTION_ID
    )
    assert (outcome.winner, outcome.clearing_price_micros) == (bids[0], 4 * M)


def test_each_slot_goes_where_it_adds_most_value() -> None:
    # Two advertisers, one bid each per slot (same seat: one agent each), slot 1 at CTR 0.5.
    slots = page(M, M // 2)
    bids = {
        "imp-0": [Candidate("x0", "x", 3 * M), Candidate("y0", "y", 2 * M)],
        "imp-1": [Candidate("x1", "x", 3 * M), Candidate("y1", "y", 2 * M)],
    }
    outcomes = run_vcg(slots, bids, auction_id=AUCTION_ID)
    # Values per impression: x 3 / 1.5, y 2 / 1; x on top (3 + 1 > 2 + 1.5). y pays nothing
    # (nobody else wants slot 1); x pays, per impression, the value y loses: 2 − 1.
    assert summary(outcomes) == [("x0", M), ("y1", 0)]


def test_floors_are_the_sellers_value() -> None:
    # Floors 0.5 per impression. Values above them: x 2.5 on top, 1.5 − 0.5 = 1 below; y 1.5
    # and 0.5. x on top (3 > 2.5). x pays 0.5 + [W(−x) = 1.5 − (3 − 2.5)] = 1.5; y only the
    # floor: without y, x still takes the top.
    slots = page(M, M // 2, floor=M // 2)
    bids = {
        "imp-0": [Candidate("x0", "x", 3 * M), Candidate("y0", "y", 2 * M)],
        "imp-1": [Candidate("x1", "x", 3 * M), Candidate("y1", "y", 2 * M)],
    }
    outcomes = run_vcg(slots, bids, auction_id=AUCTION_ID)
    assert summary(outcomes) == [("x0", 3 * M // 2), ("y1", M // 2)]


def test_a_floor_is_per_impression_on_a_low_ctr_slot() -> None:
    # CTR 0.5, floor 1.00 per impression: a bid of 1.50 per unit of CTR is worth 0.75 there.
    slots = page(M // 2, floor=M)
    low, high = Candidate("low", "a", 3 * M // 2), Candidate("high", "b", 3 * M)
    (empty,) = run_vcg(slots, {"imp-0": [low]}, auction_id=AUCTION_ID)
    assert empty.winner is None
    # The lowest bid that is worth the floor there: 1.00 ÷ 0.5 = 2.00.
    assert empty.losses == ((low, LossReason.BELOW_AUCTION_FLOOR, 2 * M),)
    (sold,) = run_vcg(slots, {"imp-0": [low, high]}, auction_id=AUCTION_ID)
    # high is worth 1.50 per impression and pays the floor, 1.00 — not 3.00 × anything.
    assert (sold.winner, sold.clearing_price_micros) == (high, M)


def test_a_bid_at_the_floor_wins_an_empty_slot_at_the_floor() -> None:
    bid = Candidate("a", "s", M)
    outcome = run_vcg(page(M, floor=M), {"imp-0": [bid]}, auction_id=AUCTION_ID)[0]
    assert (outcome.winner, outcome.clearing_price_micros) == (bid, M)


def test_floor_and_unequal_quality_differ_from_second_price_by_design() -> None:
    # Second price ranks by p × q (b: 1.5 × 1.5 = 2.25 beats a: 2); VCG by value above the
    # floor (a: (2 − 1) × 1 = 1 beats b: 0.5 × 1.5 = 0.75). The module doc says why.
    a = Candidate("a", "s1", 2 * M, M)
    b = Candidate("b", "s2", 3 * M // 2, 3 * M // 2)
    vcg = run_vcg(page(M, floor=M), {"imp-0": [a, b]}, auction_id=AUCTION_ID)[0]
    second = run_second_price(
        "imp-0", [a, b], floor_micros=M, increment_micros=0, auction_id=AUCTION_ID
    )
    assert (vcg.winner, second.winner) == (a, b)
    assert vcg.clearing_price_micros == M + 750_000  # floor + ⌈0.75 / 1.0⌉


def test_separation_one_winner_per_seat_and_per_adomain() -> None:
    slots = page(M, M // 2)
    bids = {
        "imp-0": [
            Candidate("s-top", "big", 9 * M),
            Candidate("d-top", "x", 7 * M, adomain="d.com"),
        ],
        "imp-1": [
            Candidate("s-low", "big", 9 * M),
            Candidate("d-low", "y", 7 * M, adomain="d.com"),
            Candidate("other", "z", M),
        ],
    }
    outcomes = run_vcg(slots, bids, auction_id=AUCTION_ID)
    # Agents (values per impression): seat "big" (9 on top, 4.5 below), d.com (7, 3.5),
    # z (–, 0.5). W = 9 + 3.5 = 12.5. big pays (d.com on top + z below) − 3.5 = 4; d.com pays
    # (big on top + z below) − 9 = 0.5.
    assert summary(outcomes) == [("s-top", 4 * M), ("d-low", M // 2)]
    losses = {loss.candidate.bid_id: loss for o in outcomes for loss in o.losses}
    assert {bid_id: loss.reason for bid_id, loss in losses.items()} == dict.fromkeys(
        ["d-top", "s-low", "other"], LossReason.LOST_TO_HIGHER_BID
    )
    # s-low: seat big moves to slot 1 iff its value there, 0.5 × bid, + W(no big, no slot 1)
    # > W = 12.5, and W(no big, no slot 1) = d.com on top = 7: bid > 11.
    assert losses["s-low"].min_to_win_micros == 11 * M + 1


def test_separation_groups_are_components() -> None:
    bids = [
        Candidate("1", "A", M, adomain="x"),
        Candidate("2", "B", M, adomain="y"),
        Candidate("3", "A", M, adomain="y"),  # links 1 and 2
        Candidate("4", "C", M),
        Candidate("5", "D", M, adomain="x"),
    ]
    assert group_agents(bids) == [0, 0, 0, 1, 0]


def test_a_sibling_does_not_raise_its_winners_price() -> None:
    bids = [Candidate("a", "seat", 5 * M), Candidate("b", "seat", 4 * M), Candidate("c", "o", M)]
    outcome = run_vcg(page(M), {"imp-0": bids}, auction_id=AUCTION_ID)[0]
    assert (outcome.winner, outcome.clearing_price_micros) == (bids[0], M)
    sibling = next(loss for loss in outcome.losses if loss.candidate.bid_id == "b")
    assert sibling == (bids[1], LossReason.LOST_TO_HIGHER_BID, 5 * M + 1)


def test_loss_reasons_and_min_to_win() -> None:
    slots = page(M, M // 2, floor=M // 2)
    bids = {
        "imp-0": [
            Candidate("win", "a", 5 * M),
            Candidate("low", "b", M // 4),
            Candidate("zero", "c", 0),
            Candidate("noq", "d", 3 * M, 0),
        ],
        "imp-1": [Candidate("alone", "e", 2 * M)],
    }
    outcomes = run_vcg(slots, bids, auction_id=AUCTION_ID)
    # Uncontested: both pay the floor (alone is worth 2 × 0.5 = 1 ≥ 0.5 per impression).
    assert summary(outcomes) == [("win", M // 2), ("alone", M // 2)]
    # To take slot 0 a bid must be worth more above the floor than win: 5 − 0.5.
    assert [
        (loss.candidate.bid_id, loss.reason, loss.min_to_win_micros) for loss in outcomes[0].losses
    ] == [
        ("low", LossReason.BELOW_AUCTION_FLOOR, 5 * M + 1),
        ("zero", LossReason.INVALID_BID_RESPONSE, 5 * M + 1),
        ("noq", LossReason.INVALID_BID_RESPONSE, 0),
    ]


def test_ties_go_to_the_larger_tiebreak_key_reproducibly() -> None:
    bids = [Candidate(f"bid-{i}", f"seat-{i}", 2 * M) for i in range(6)]
    slots = page(M, 2 * M // 3, M // 3)
    by_imp = {
        slot.imp_id: [Candidate(f"{b.bid_id}@{slot.imp_id}", b.seat, 2 * M) for b in bids]
        for slot in slots
    }
    first = run_vcg(slots, by_imp, auction_id=AUCTION_ID)
    assert first == run_vcg(slots, by_imp, auction_id=AUCTION_ID)
    # Slot by slot in the order given, the tied bid with the largest key.
    taken: set[str] = set()
    for slot, outcome in zip(slots, first, strict=True):
        open_bids = [c for c in by_imp[slot.imp_id] if c.seat not in taken]
        expected = max(open_bids, key=lambda c: tiebreak_key(AUCTION_ID, c.bid_id))
        assert outcome.winner == expected
        # Tied with the best bid left out: pays its whole value, 2 × CTR per impression.
        assert outcome.clearing_price_micros == slot_value_micros(2 * M, slot.ctr_ppm)
        assert outcome.clearing_price_micros == 2 * slot.ctr_ppm
        taken.add(expected.seat)


def test_exact_where_floats_cannot_tell_values_apart() -> None:
    # 2^54 and 2^54 + 1 are the same float64: the exact search must still pick the larger.
    big = 1 << 54
    low, high = Candidate("low", "a", big), Candidate("high", "b", big + 1)
    for order in ([low, high], [high, low]):
        for auction_id in ("x", "y", "z"):
            outcome = run_vcg(page(M), {"imp-0": order}, auction_id=auction_id)[0]
            assert (outcome.winner, outcome.clearing_price_micros) == (high, big)


def test_clearing_price_rounds_up_and_clamps() -> None:
    assert clearing_price(100, 7, 2, 1_000) == 104  # 100 + ⌈3.5⌉
    assert clearing_price(100, 10**9, 2, 1_000) == 1_000  # never above the value
    assert clearing_price(100, -5, 2, 1_000) == 100  # never below the floor


def test_slot_value_is_bid_times_ctr_rounded_down() -> None:
    assert slot_value_micros(4 * M, M // 2) == 2 * M
    assert slot_value_micros(1_000_001, M // 2) == 500_000  # 500_000.5
    assert slot_value_micros(7, M) == 7


def test_rounding_up_never_lifts_a_price_above_the_value() -> None:
    # Tied bids worth 500_000.5 micros an impression: the winner owes all of it; rounded up
    # that is 500_001, one micro more than its value, so it pays 500_000.
    a, b = Candidate("a", "s1", 1_000_001), Candidate("b", "s2", 1_000_001)
    (outcome,) = run_vcg(page(M // 2), {"imp-0": [a, b]}, auction_id=AUCTION_ID)
    assert outcome.winner is not None
    assert outcome.clearing_price_micros == 500_000


def test_empty_inputs_and_bad_pages() -> None:
    assert run_vcg([], {}, auction_id=AUCTION_ID) == ()
    outcome = run_vcg(page(M), {}, auction_id=AUCTION_ID)[0]
    assert (outcome.winner, outcome.clearing_price_micros, outcome.losses) == (None, 0, ())
    with pytest.raises(ValueError, match="twice"):
        run_vcg(page(M) * 2, {}, auction_id=AUCTION_ID)
    with pytest.raises(ValueError, match="not on the page"):
        run_vcg(page(M), {"nope": []}, auction_id=AUCTION_ID)


def test_a_slot_without_clicks_cannot_be_sold() -> None:
    bid = Candidate("a", "s", 5 * M)
    outcome = run_vcg(page(0), {"imp-0": [bid]}, auction_id=AUCTION_ID)[0]
    assert outcome.winner is None
    assert outcome.losses == ((bid, LossReason.LOST_TO_HIGHER_BID, 0),)
