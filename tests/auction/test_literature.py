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

Mapping: a value per click is a bid in micros ($1 = 1_000_000) at quality 1.0 — a bid on a
page is the bidder's value per unit of slot CTR — and a position's clicks become its slot CTR
relative to the top position (``ctr_ppm`` = 10^6 × x_s ÷ x_1). The exchange charges per
impression: a slot's VCG price per impression is the paper's price per click × its relative
CTR, and with the page shown x_1 times an hour (one click per impression at CTR 1) the
payment per hour is the price per impression × x_1. An advertiser bids the same price for
every slot from its own seat, so separation makes it one agent, as in the papers. GSP is for
comparison only and charges per click.
"""

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from auction import Candidate, ImpOutcome
from auction.gsp import run_gsp
from auction.types import ImpTerms
from auction.vcg import run_vcg, slot_value_micros

M = 1_000_000
AUCTION_ID = "literature"


def positions(*clicks: int) -> list[ImpTerms]:
    """Slots whose CTRs are the positions' clicks relative to the top one (exactly)."""
    assert all(x * M % clicks[0] == 0 for x in clicks)
    return [ImpTerms(f"pos-{s + 1}", 0, ctr_ppm=x * M // clicks[0]) for s, x in enumerate(clicks)]


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


def vcg_per_hour(outcomes: Sequence[ImpOutcome], top_clicks: int) -> list[int]:
    """VCG payment per hour in micros: price per impression × impressions per hour."""
    return [o.clearing_price_micros * top_clicks for o in outcomes]


def gsp_per_hour(outcomes: Sequence[ImpOutcome], clicks: Sequence[int]) -> list[int]:
    """GSP payment per hour in micros: price per click × clicks per hour."""
    return [o.clearing_price_micros * x for o, x in zip(outcomes, clicks, strict=True)]


def test_eos_gsp_truthful_payments_are_800_and_200() -> None:
    outcomes = gsp(positions(200, 100), [10 * M, 4 * M, 2 * M])
    assert seats(outcomes) == ["adv-1", "adv-2"]
    assert gsp_per_hour(outcomes, [200, 100]) == [800 * M, 200 * M]


def test_eos_vcg_payments_are_600_and_200() -> None:
    slots = positions(200, 100)
    outcomes = vcg(slots, [10 * M, 4 * M, 2 * M])
    assert seats(outcomes) == ["adv-1", "adv-2"]
    assert vcg_per_hour(outcomes, 200) == [600 * M, 200 * M]
    # Per impression: 4 × (1 − 0.5) + 2 × 0.5 = 3 and 2 × 0.5 = 1 — the papers' 3 and 2 per
    # click × CTRs 1 and 0.5. The second winner is worth 4 × 0.5 = 2 there and keeps 1.
    assert [o.clearing_price_micros for o in outcomes] == [3 * M, M]


def vcg_payoff(
    outcomes: Sequence[ImpOutcome],
    slots: Sequence[ImpTerms],
    seat: str,
    value: int,
    top_clicks: int,
) -> int:
    """Utility per hour: (value per click × CTR − price per impression) × impressions."""
    return sum(
        (value * s.ctr_ppm - o.clearing_price_micros * M) * top_clicks // M
        for o, s in zip(outcomes, slots, strict=True)
        if o.winner is not None and o.winner.seat == seat
    )


def gsp_payoff(outcomes: Sequence[ImpOutcome], clicks: Sequence[int], seat: str, value: int) -> int:
    return sum(
        (value - o.clearing_price_micros) * x
        for o, x in zip(outcomes, clicks, strict=True)
        if o.winner is not None and o.winner.seat == seat
    )


def test_eos_truth_telling_is_not_a_gsp_equilibrium_but_is_dominant_in_vcg() -> None:
    clicks = [200, 199]
    slots = positions(*clicks)
    honest, shaded = [10 * M, 4 * M, 2 * M], [3 * M, 4 * M, 2 * M]
    assert gsp_payoff(gsp(slots, honest), clicks, "adv-1", 10 * M) == 1_200 * M
    assert gsp_payoff(gsp(slots, shaded), clicks, "adv-1", 10 * M) == 1_592 * M
    # VCG: top position at $2.01 an impression, 1,598 > 1,592 for the shaded bid.
    assert vcg(slots, honest)[0].clearing_price_micros == 2_010_000
    assert vcg_payoff(vcg(slots, honest), slots, "adv-1", 10 * M, 200) == 1_598 * M
    assert vcg_payoff(vcg(slots, shaded), slots, "adv-1", 10 * M, 200) == 1_592 * M


def test_varian_vcg_prices_and_revenue_lower_bound() -> None:
    x, b = [100, 60, 30], [8 * M, 6 * M, 4 * M, 3 * M]
    slots = positions(*x)
    outcomes = vcg(slots, b)
    # Per click: p_1 = (6·40 + 4·30 + 3·30) / 100 = 4.5, p_2 = (4·30 + 3·30) / 60 = 3.5,
    # p_3 = 3·30 / 30 = 3; per impression × CTRs 1, 0.6, 0.3: 4.50, 2.10, 0.90.
    assert [o.clearing_price_micros for o in outcomes] == [4_500_000, 2_100_000, 900_000]
    r_lower = 1 * b[1] * (x[0] - x[1]) + 2 * b[2] * (x[1] - x[2]) + 3 * b[3] * x[2]
    assert sum(vcg_per_hour(outcomes, x[0])) == r_lower == 750 * M
    # GSP charges the next bid per click: never less than VCG for the same bids, as EOS note.
    assert [o.clearing_price_micros for o in gsp(slots, b)] == [6 * M, 4 * M, 3 * M]
    assert sum(gsp_per_hour(gsp(slots, b), x)) == 930 * M > r_lower  # 600 + 240 + 90


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 10**6), min_size=1, max_size=5, unique=True),
    st.lists(st.integers(1, 10**9), min_size=1, max_size=7),
)
def test_vcg_prices_follow_varians_formula(ctrs: list[int], bids: list[int]) -> None:
    x = sorted(ctrs, reverse=True)  # slot CTRs in ppm
    b = sorted(bids, reverse=True)
    slots = [ImpTerms(f"pos-{s + 1}", 0, ctr_ppm=c) for s, c in enumerate(x)]
    outcomes = vcg(slots, b)
    xs = [*x, 0]
    bs = [*b, *[0] * (len(x) + 1)]
    for s, outcome in enumerate(outcomes):
        if s >= len(b):
            assert outcome.winner is None
            continue
        assert outcome.winner is not None
        assert outcome.winner.price_micros == b[s]
        # Varian's price per click × CTR, per impression: Σ_{t≥s} b_{t+1} (x_t − x_{t+1}).
        total = sum(bs[t + 1] * (xs[t] - xs[t + 1]) for t in range(s, len(x)))
        value = slot_value_micros(b[s], x[s])
        assert outcome.clearing_price_micros == min(-(-total // M), value)  # rounded up
        assert outcome.clearing_price_micros <= value  # never more than the slot is worth
        # Never above GSP's next bid per click, per impression.
        assert outcome.clearing_price_micros <= -(-bs[s + 1] * x[s] // M)
