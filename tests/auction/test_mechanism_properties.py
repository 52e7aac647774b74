"""Properties of ``run_imp`` over random terms, deals and bids (hypothesis)."""

from dataclasses import dataclass, replace

from hypothesis import given
from hypothesis import strategies as st

from auction.first_price import run_first_price
from auction.mechanism import run_imp
from auction.second_price import run_second_price
from auction.types import AuctionRules, Candidate, DealTerms, ImpOutcome, ImpTerms
from openrtb.enums import LossReason

AUCTION_ID = "auction-3"
SEATS = ("seat-0", "seat-1", "seat-2", "seat-3")
DOMAINS = ("a.example", "b.example")

prices = st.one_of(
    st.integers(1, 5 * 10**6), st.sampled_from([500_000, 1_000_000, 2_000_000]), st.just(0)
)
qualities = st.one_of(st.sampled_from([500_000, 1_000_000, 2_000_000]), st.integers(1, 2 * 10**6))
floors = st.one_of(st.just(0), st.sampled_from([500_000, 1_000_000, 2_000_000]))
seat_sets = st.one_of(st.none(), st.frozensets(st.sampled_from(SEATS), min_size=1))


@dataclass(frozen=True)
class Case:
    terms: ImpTerms
    candidates: list[Candidate]
    rules: AuctionRules
    at: int

    def run(self, candidates: list[Candidate] | None = None) -> ImpOutcome:
        return run_imp(
            self.terms,
            self.candidates if candidates is None else candidates,
            at=self.at,
            rules=self.rules,
            auction_id=AUCTION_ID,
        )


@st.composite
def deal_terms(draw: st.DrawFn, deal_id: str, ats: tuple[int, ...]) -> DealTerms:
    return DealTerms(
        deal_id,
        draw(floors),
        at=draw(st.sampled_from(ats)),
        wseat=draw(seat_sets),
        wadomain=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(DOMAINS), min_size=1))),
    )


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    ats: tuple[int, ...] = (1, 2, 3),
    priority: bool | None = None,
    max_size: int = 12,
) -> Case:
    deals = tuple(draw(deal_terms(f"d{i}", ats)) for i in range(draw(st.integers(0, 3))))
    terms = ImpTerms(
        "imp-1",
        draw(floors),
        deals=deals,
        private_auction=draw(st.booleans()),
        allowed_seats=draw(seat_sets),
        blocked_seats=draw(st.frozensets(st.sampled_from(SEATS), max_size=1)),
    )
    rows = draw(
        st.lists(
            st.tuples(
                prices,
                qualities,
                st.sampled_from(SEATS),
                st.sampled_from((None, *DOMAINS)),
                st.sampled_from((None, None, "d0", "d1", "d2", "d9")),
            ),
            max_size=max_size,
        )
    )
    candidates = [
        Candidate(f"bid-{i}", seat, price, quality, adomain, deal_id)
        for i, (price, quality, seat, adomain, deal_id) in enumerate(rows)
    ]
    rules = AuctionRules(
        increment_micros=draw(st.sampled_from([0, 10_000])),
        deal_priority=draw(st.booleans()) if priority is None else priority,
    )
    return Case(terms, candidates, rules, draw(st.sampled_from([1, 2])) if 3 in ats else 2)


def floor_of(case: Case, candidate: Candidate) -> int:
    if candidate.deal_id is None:
        return max(case.terms.floor_micros, 0)
    (deal,) = (d for d in case.terms.deals if d.deal_id == candidate.deal_id)
    return max(deal.floor_micros, 0)


def winner_id(outcome: ImpOutcome) -> str | None:
    return None if outcome.winner is None else outcome.winner.bid_id


@given(cases())
def test_every_candidate_appears_exactly_once(case: Case) -> None:
    outcome = case.run()
    seen = [loss.candidate.bid_id for loss in outcome.losses]
    seen += [] if outcome.winner is None else [outcome.winner.bid_id]
    assert sorted(seen) == sorted(c.bid_id for c in case.candidates)
    order = [c.bid_id for c in case.candidates if c.bid_id != winner_id(outcome)]
    assert [loss.candidate.bid_id for loss in outcome.losses] == order  # input order


@given(cases())
def test_payment_is_between_the_winners_floor_and_its_bid(case: Case) -> None:
    outcome = case.run()
    winner = outcome.winner
    if winner is None:
        assert outcome.clearing_price_micros == 0
        return
    assert floor_of(case, winner) <= outcome.clearing_price_micros <= winner.price_micros
    deal = next((d for d in case.terms.deals if d.deal_id == winner.deal_id), None)
    if deal is not None and deal.at == 3:
        assert outcome.clearing_price_micros == max(deal.floor_micros, 0)
    elif (deal.at if deal is not None else case.at) == 1:
        assert outcome.clearing_price_micros == winner.price_micros


@given(cases())
def test_the_winner_follows_the_rules(case: Case) -> None:
    outcome = case.run()
    winner = outcome.winner
    if winner is None:
        return
    terms = case.terms
    assert winner.price_micros > 0
    assert winner.quality_ppm > 0
    assert terms.allowed_seats is None or winner.seat in terms.allowed_seats
    assert winner.seat not in terms.blocked_seats
    if terms.private_auction or (
        case.rules.deal_priority
        and any(loss.reason == LossReason.LOST_TO_PMP_DEAL for loss in outcome.losses)
    ):
        assert winner.deal_id is not None
    for loss in outcome.losses:
        if loss.reason == LossReason.LOST_TO_HIGHER_BID:
            assert loss.candidate.adjusted <= winner.adjusted


@given(cases())
def test_without_seat_or_deal_rules_it_is_plain_first_or_second_price(case: Case) -> None:
    candidates = [replace(c, deal_id=None) for c in case.candidates]
    bare = ImpTerms("imp-1", case.terms.floor_micros)
    # A blocked seat nobody bids from forces the general path; the result must not change.
    forced = replace(bare, blocked_seats=frozenset({"nobody"}))
    general = run_imp(forced, candidates, at=case.at, rules=case.rules, auction_id=AUCTION_ID)
    fast = run_imp(bare, candidates, at=case.at, rules=case.rules, auction_id=AUCTION_ID)
    if case.at == 1:
        plain = run_first_price(
            "imp-1", candidates, floor_micros=bare.floor_micros, auction_id=AUCTION_ID
        )
    else:
        plain = run_second_price(
            "imp-1",
            candidates,
            floor_micros=bare.floor_micros,
            increment_micros=case.rules.increment_micros,
            auction_id=AUCTION_ID,
        )
    assert general == fast == plain


@given(cases(max_size=8))
def test_min_to_win_wins_and_zero_means_no_price_could(case: Case) -> None:
    outcome = case.run()
    top = 0 if outcome.winner is None else outcome.winner.adjusted
    for loss in outcome.losses:
        bidder = loss.candidate
        if bidder.quality_ppm <= 0:
            continue
        index = case.candidates.index(bidder)

        def rerun(price: int, index: int = index) -> ImpOutcome:
            changed = list(case.candidates)
            changed[index] = replace(case.candidates[index], price_micros=price)
            return case.run(changed)

        if loss.min_to_win_micros == 0:
            assert winner_id(rerun(10**12)) != bidder.bid_id
            continue
        assert winner_id(rerun(loss.min_to_win_micros)) == bidder.bid_id
        below = loss.min_to_win_micros - 1
        if winner_id(rerun(below)) == bidder.bid_id:
            assert below * bidder.quality_ppm == top  # only through the tie-break


@given(cases(ats=(2,), priority=False, max_size=8), st.data())
def test_second_price_without_deal_priority_is_truthful(case: Case, data: st.DataObject) -> None:
    case = replace(case, rules=replace(case.rules, increment_micros=0))
    if not case.candidates:
        return
    index = data.draw(st.integers(0, len(case.candidates) - 1))
    bidder = case.candidates[index]
    value = bidder.price_micros

    def utility(report: int) -> int:
        changed = list(case.candidates)
        changed[index] = replace(bidder, price_micros=report)
        outcome = case.run(changed)
        if winner_id(outcome) != bidder.bid_id:
            return 0
        return value - outcome.clearing_price_micros

    truthful = utility(value)
    assert truthful >= 0
    known = bidder.deal_id is None or any(d.deal_id == bidder.deal_id for d in case.terms.deals)
    floor = floor_of(case, bidder) if known else 0
    grid = {0, 1, value // 2, value - 1, value + 1, 2 * value, 10**9, floor - 1, floor, floor + 1}
    grid |= {c.adjusted // bidder.quality_ppm + d for c in case.candidates for d in (-1, 0, 1)}
    grid |= set(data.draw(st.lists(st.integers(1, 10**8), max_size=5)))
    for report in grid:
        assert utility(report) <= truthful, report
