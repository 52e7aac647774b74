"""The position-auction examples of the literature, reproduced exactly.

Sources:

* B. Edelman, M. Ostrovsky, M. Schwarz (2007), "Internet Advertising and the Generalized
  Second-Price Auction: Selling Billions of Dollars Worth of Keywords", American Economic
  Review 97(1), 242–259. Section II's example: two positions receiving 200 and 100 clicks an
  hour, three advertisers valuing a click at $10, $4 and $2. Bidding truthfully in GSP they pay
  $800 and $200 an hour; VCG charges $600 and $200. Its variant with 200 and 199 clicks shows
  truth-telling is not a GSP equilibrium: advertiser 1 gains by bidding $3 for position 2,
  ($10 − $2) × 199 = $1,592 > ($10 − $4) × 200 = $1,200.
* H. R. Varian (2007), "Position auctions", International Journal of Industrial Organization
  25(6), 1163–1178. Agents value slot s at v_a × x_s, slots ordered x_1 > x_2 > …; the VCG
  price per click of slot s is p_s = Σ_{t≥s} b_{t+1} (x_t − x_{t+1}) / x_s (x_{S+1} = 0), and
  the VCG revenue equals the lower bound of the symmetric Nash equilibria,
  R_L = Σ_s s × b_{s+1} (x_s − x_{s+1}). The paper's examples are empirical, so the numbers
  here are built from those formulas.

Mapping: a value per click is a price in micros ($1 = 1_000_000) at quality 1.0; the clicks of
a position are its ``ctr_ppm`` (only ratios matter); an advertiser bids the same price for
every slot from its own seat, so separation makes it one agent, as in the papers.
"""

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from auction import Candidate, ImpOutcome
from auction.gsp import run_gsp
from auction.types import ImpTerms
from auction.vcg import run_vcg

M = 1_000_000
AUCTION_ID = "literature"


def positions(*clicks: int) -> list[ImpTerms]:
    return [ImpTerms(f"pos-{s + 1}", 0, ctr_ppm=x) for s, x in enumerate(clicks)]


def vcg(slots: Sequence[ImpTerms], per_click: Sequence[int]) -> tuple[ImpOutcome, ...]:
    by_imp = {
        slot.imp_id: [
            Candidate(f"adv-{a + 1}@{slot.imp_id}", f"adv-{a + 1}", v)
            for a, v in enumerate(per_click)
        ]
        for slot in slots
    }
    return run_vcg(slots, by_imp, auction_id=AUCTION_ID)


def gsp(slots: Sequence[ImpTerms], per_click: Sequence[int]) -> tuple[ImpOutcome, ...]:
    bids = [Candidate(f"adv-{a + 1}", f"adv-{a + 1}", v) for a, v in enumerate(per_click)]
    return run_gsp(slots, bids, auction_id=AUCTION_ID)


def seats(outcomes: Sequence[ImpOutcome]) -> list[str | None]:
    return [o.winner.seat if o.winner else None for o in outcomes]


def per_hour(outcomes: Sequence[ImpOutcome], slots: Sequence[ImpTerms]) -> list[int]:
    """Payment per hour in micros: price per click × clicks per hour."""
    return [o.clearing_price_micros * s.ctr_ppm for o, s in zip(outcomes, slots, strict=True)]


def test_eos_gsp_truthful_payments_are_800_and_200() -> None:
    slots = positions(200, 100)
    outcomes = gsp(slots, [10 * M, 4 * M, 2 * M])
    assert seats(outcomes) == ["adv-1", "adv-2"]
    assert per_hour(outcomes, slots) == [800 * M, 200 * M]


def test_eos_vcg_payments_are_600_and_200() -> None:
    slots = positions(200, 100)
    outcomes = vcg(slots, [10 * M, 4 * M, 2 * M])
    assert seats(outcomes) == ["adv-1", "adv-2"]
    assert per_hour(outcomes, slots) == [600 * M, 200 * M]
    assert [o.clearing_price_micros for o in outcomes] == [3 * M, 2 * M]


def payoff(outcomes: Sequence[ImpOutcome], slots: Sequence[ImpTerms], seat: str, value: int) -> int:
    return sum(
        (value - o.clearing_price_micros) * s.ctr_ppm
        for o, s in zip(outcomes, slots, strict=True)
        if o.winner is not None and o.winner.seat == seat
    )


def test_eos_truth_telling_is_not_a_gsp_equilibrium_but_is_dominant_in_vcg() -> None:
    slots = positions(200, 199)
    honest, shaded = [10 * M, 4 * M, 2 * M], [3 * M, 4 * M, 2 * M]
    assert payoff(gsp(slots, honest), slots, "adv-1", 10 * M) == 1_200 * M
    assert payoff(gsp(slots, shaded), slots, "adv-1", 10 * M) == 1_592 * M
    # VCG: top position at $2.01 a click, 1,598 > 1,592 for the shaded bid.
    assert payoff(vcg(slots, honest), slots, "adv-1", 10 * M) == 1_598 * M
    assert payoff(vcg(slots, shaded), slots, "adv-1", 10 * M) == 1_592 * M


def test_varian_vcg_prices_and_revenue_lower_bound() -> None:
    x, b = [100, 60, 30], [8 * M, 6 * M, 4 * M, 3 * M]
    slots = positions(*x)
    outcomes = vcg(slots, b)
    # p_1 = (6·40 + 4·30 + 3·30) / 100, p_2 = (4·30 + 3·30) / 60, p_3 = 3·30 / 30.
    assert [o.clearing_price_micros for o in outcomes] == [4_500_000, 3_500_000, 3 * M]
    r_lower = 1 * b[1] * (x[0] - x[1]) + 2 * b[2] * (x[1] - x[2]) + 3 * b[3] * x[2]
    assert sum(per_hour(outcomes, slots)) == r_lower == 750 * M
    # GSP charges the next bid: never less than VCG for the same bids, as EOS note.
    assert [o.clearing_price_micros for o in gsp(slots, b)] == [6 * M, 4 * M, 3 * M]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 10**6), min_size=1, max_size=5, unique=True),
    st.lists(st.integers(1, 10**9), min_size=1, max_size=7),
)
def test_vcg_prices_follow_varians_formula(clicks: list[int], bids: list[int]) -> None:
    x = sorted(clicks, reverse=True)
    b = sorted(bids, reverse=True)
    slots = positions(*x)
    outcomes = vcg(slots, b)
    next_prices = [o.clearing_price_micros for o in gsp(slots, b)]
    xs = [*x, 0]
    bs = [*b, *[0] * (len(x) + 1)]
    for s, outcome in enumerate(outcomes):
        if s >= len(b):
            assert outcome.winner is None
            continue
        assert outcome.winner is not None
        assert outcome.winner.price_micros == b[s]
        total = sum(bs[t + 1] * (xs[t] - xs[t + 1]) for t in range(s, len(x)))
        assert outcome.clearing_price_micros == -(-total // x[s])  # rounded up to the micro
        assert outcome.clearing_price_micros <= next_prices[s] == bs[s + 1]
