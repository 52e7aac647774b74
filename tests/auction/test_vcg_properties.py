"""Properties of page VCG over random profiles, against brute force (hypothesis).

The brute force enumerates every assignment of agents to slots; it shares nothing with the
implementation but the definition of value (bid × ctr per impression, above the floor, ×
quality) and the agents (checked separately against a plain graph search). Prices are per
impression; the central billing property is that no winner pays more than its value for its
slot, ⌊bid × ctr⌋.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cache
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from auction import Candidate, ImpOutcome, run_second_price
from auction import vcg as vcg_module
from auction.page import run_page
from auction.separation import group_agents
from auction.types import ImpTerms
from auction.vcg import run_vcg, slot_value_micros
from openrtb.enums import LossReason
from openrtb.money import impression_cost_micros

AUCTION_ID = "auction-props"
M = 1_000_000

prices = st.one_of(
    st.sampled_from([M, 2 * M, 3 * M, 4 * M, 5 * M]), st.integers(1, 10**8), st.integers(1, 10**12)
)
qualities = st.one_of(st.sampled_from([500_000, M, 2 * M]), st.integers(1, 4 * M))
floors = st.one_of(st.just(0), st.sampled_from([M, 2 * M]), st.integers(0, 6 * M))
ctrs = st.one_of(st.sampled_from([M, 500_000, 250_000, 333_333]), st.integers(1, M))

By = dict[str, list[Candidate]]


@st.composite
def profiles(
    draw: st.DrawFn, max_slots: int = 8, max_candidates: int = 20, invalid: bool = False
) -> tuple[list[ImpTerms], By]:
    """Slots with random floors and ctrs; candidates with shared seats and adomains."""
    n_slots = draw(st.integers(1, max_slots))
    slots = [ImpTerms(f"imp-{j}", draw(floors), ctr_ppm=draw(ctrs)) for j in range(n_slots)]
    by_imp: By = {}
    for i in range(draw(st.integers(1, max_candidates))):
        slot = draw(st.integers(0, n_slots - 1))
        seat = draw(st.one_of(st.sampled_from(["s0", "s1", "s2"]), st.just(f"seat-{i}")))
        adomain = draw(st.one_of(st.none(), st.sampled_from(["a.com", "b.com"])))
        price = draw(st.integers(-M, 3 * M) if invalid and draw(st.booleans()) else prices)
        quality = draw(st.integers(-1, M) if invalid and draw(st.booleans()) else qualities)
        candidate = Candidate(f"bid-{i}", seat, price, quality, adomain)
        by_imp.setdefault(f"imp-{slot}", []).append(candidate)
    return slots, by_imp


# --- brute force -------------------------------------------------------------------------


def floor(s: ImpTerms) -> int:
    return max(s.floor_micros, 0)


def components(candidates: Sequence[Candidate]) -> list[frozenset[int]]:
    """Agents by graph search: candidates linked by a shared seat or adomain."""
    seen: set[int] = set()
    groups: list[frozenset[int]] = []
    for start in range(len(candidates)):
        if start in seen:
            continue
        group, todo = {start}, [start]
        while todo:
            a = candidates[todo.pop()]
            for k, b in enumerate(candidates):
                linked = a.seat == b.seat or (a.adomain is not None and a.adomain == b.adomain)
                if linked and k not in group:
                    group.add(k)
                    todo.append(k)
        seen |= group
        groups.append(frozenset(group))
    return groups


class Brute:
    """Every counterfactual welfare by enumeration, for a small page."""

    def __init__(self, slots: Sequence[ImpTerms], by_imp: Mapping[str, Sequence[Candidate]]):
        self.slots = slots
        self.flat = [
            (c, j) for j, s in enumerate(slots) for c in by_imp.get(s.imp_id, ()) if self.ok(c, s)
        ]
        groups = components([c for c, _ in self.flat])
        self.agent_of = {self.flat[k][0].bid_id: a for a, g in enumerate(groups) for k in g}
        self.values: dict[tuple[int, int], int] = {}
        for c, j in self.flat:
            key = (self.agent_of[c.bid_id], j)
            self.values[key] = max(self.values.get(key, 0), self.value(c, j))
        self.n_agents = len(groups)

    @staticmethod
    def ok(c: Candidate, s: ImpTerms) -> bool:
        worth = c.price_micros * s.ctr_ppm  # per impression, in micros × 10^6
        return c.price_micros > 0 and c.quality_ppm > 0 and s.ctr_ppm > 0 and worth >= floor(s) * M

    def value(self, c: Candidate, j: int) -> int:
        s = self.slots[j]
        return (c.price_micros * s.ctr_ppm - floor(s) * M) * c.quality_ppm

    def best(self, without_agent: int = -1, without_slot: int = -1) -> int:
        @cache
        def rest(j: int, used: frozenset[int]) -> int:
            if j == len(self.slots):
                return 0
            best = rest(j + 1, used)
            if j != without_slot:
                for a in range(self.n_agents):
                    if a != without_agent and a not in used and (a, j) in self.values:
                        best = max(best, self.values[a, j] + rest(j + 1, used | {a}))
            return best

        return rest(0, frozenset())


def run(
    slots: Sequence[ImpTerms], by_imp: Mapping[str, Sequence[Candidate]]
) -> tuple[ImpOutcome, ...]:
    return run_vcg(slots, by_imp, auction_id=AUCTION_ID)


def winners(outcomes: Sequence[ImpOutcome]) -> Iterator[tuple[int, Candidate, int]]:
    for j, o in enumerate(outcomes):
        if o.winner is not None:
            yield j, o.winner, o.clearing_price_micros


# --- properties on pages of every size ------------------------------------------------------


@settings(max_examples=80)
@given(profiles(invalid=True))
def test_every_candidate_once_with_its_reason(profile: tuple[list[ImpTerms], By]) -> None:
    slots, by_imp = profile
    for slot, outcome in zip(slots, run(slots, by_imp), strict=True):
        mine = by_imp.get(slot.imp_id, [])
        seen = [loss.candidate for loss in outcome.losses]
        if outcome.winner is not None:
            seen.append(outcome.winner)
        assert sorted(c.bid_id for c in seen) == sorted(c.bid_id for c in mine)
        for loss in outcome.losses:
            c = loss.candidate
            if c.price_micros <= 0 or c.quality_ppm <= 0:
                assert loss.reason == LossReason.INVALID_BID_RESPONSE
            elif c.price_micros * slot.ctr_ppm < floor(slot) * M:  # worth less per impression
                assert loss.reason == LossReason.BELOW_AUCTION_FLOOR
            else:
                assert loss.reason == LossReason.LOST_TO_HIGHER_BID
            # A bid of min-to-win is worth at least the floor per impression.
            needed = loss.min_to_win_micros
            assert needed == 0 or slot_value_micros(needed, slot.ctr_ppm) >= slot.floor_micros


@settings(max_examples=150)
@given(profiles(invalid=True))
def test_no_winner_pays_more_than_its_value_for_its_slot(
    profile: tuple[list[ImpTerms], By],
) -> None:
    slots, by_imp = profile
    outcomes = run(slots, by_imp)
    seats, domains = [], []
    for j, winner, price in winners(outcomes):
        # Per impression: at least the floor, at most bid × ctr (rounded down), so never
        # above the bid either (ctr ≤ 1.0).
        value = slot_value_micros(winner.price_micros, slots[j].ctr_ppm)
        assert value * M <= winner.price_micros * slots[j].ctr_ppm
        assert floor(slots[j]) <= price <= value <= winner.price_micros
        seats.append(winner.seat)
        if winner.adomain is not None:
            domains.append(winner.adomain)
    assert len(seats) == len(set(seats))
    assert len(domains) == len(set(domains))
    for o in outcomes:
        assert o.winner is not None or o.clearing_price_micros == 0


@settings(max_examples=60)
@given(profiles())
def test_the_float_seed_does_not_change_the_result(profile: tuple[list[ImpTerms], By]) -> None:
    slots, by_imp = profile
    expected = run(slots, by_imp)
    empty = mock.patch.object(vcg_module, "_seed", lambda page: [-1] * len(page.floors))
    with empty:
        assert run(slots, by_imp) == expected


@settings(max_examples=100)
@given(
    st.lists(
        st.builds(
            Candidate,
            st.sampled_from("abcdefg"),
            st.sampled_from("stuvw"),
            st.just(M),
            st.just(M),
            st.sampled_from(["x", "y", "z", None]),
        )
    )
)
def test_agents_are_the_components_of_shared_seats_and_domains(bids: list[Candidate]) -> None:
    labels = group_agents(bids)
    groups = {frozenset(k for k, label in enumerate(labels) if label == a) for a in set(labels)}
    assert groups == set(components(bids))
    assert labels[:1] in ([], [0])


# --- against brute force on small pages -----------------------------------------------------

small = profiles(max_slots=4, max_candidates=7)


@settings(max_examples=200, deadline=None)
@given(small)
def test_welfare_is_the_brute_force_optimum(profile: tuple[list[ImpTerms], By]) -> None:
    slots, by_imp = profile
    brute = Brute(slots, by_imp)
    welfare = sum(brute.value(w, j) for j, w, _ in winners(run(slots, by_imp)))
    assert welfare == brute.best()


@settings(max_examples=200, deadline=None)
@given(small)
def test_prices_are_the_brute_force_externality(profile: tuple[list[ImpTerms], By]) -> None:
    slots, by_imp = profile
    brute = Brute(slots, by_imp)
    total = brute.best()
    for j, winner, price in winners(run(slots, by_imp)):
        agent = brute.agent_of[winner.bid_id]
        value = brute.value(winner, j)
        externality = brute.best(without_agent=agent) - (total - value)
        assert 0 <= externality <= value
        unclamped = floor(slots[j]) - (-externality // (winner.quality_ppm * M))
        worth = slot_value_micros(winner.price_micros, slots[j].ctr_ppm)
        # So the clamp binds by at most the micro of rounding up: never charge above the value.
        assert floor(slots[j]) <= unclamped <= worth + 1
        assert price == min(unclamped, worth)


@settings(max_examples=150, deadline=None)
@given(small)
def test_min_to_win_is_the_brute_force_threshold(profile: tuple[list[ImpTerms], By]) -> None:
    slots, by_imp = profile
    brute = Brute(slots, by_imp)
    outcomes = run(slots, by_imp)
    home = {brute.agent_of[w.bid_id]: j for j, w, _ in winners(outcomes)}
    total = brute.best()
    for j, outcome in enumerate(outcomes):
        floor_value = floor(slots[j]) * M  # the floor in units of bid × ctr
        lowest = max(1, -(-floor_value // slots[j].ctr_ppm))
        for loss in outcome.losses:
            c = loss.candidate
            if not Brute.ok(c, slots[j]):
                continue
            agent = brute.agent_of[c.bid_id]
            if home.get(agent) == j:
                threshold = brute.values[agent, j]
            elif agent not in home and outcome.winner is None:
                assert loss.min_to_win_micros == lowest
                continue
            else:
                threshold = total - brute.best(without_agent=agent, without_slot=j)
            per_micro = c.quality_ppm * slots[j].ctr_ppm  # value of a micro of bid
            needed = (threshold + floor_value * c.quality_ppm) // per_micro + 1
            assert loss.min_to_win_micros == max(lowest, needed)
            # And it does win: bidding it puts the candidate on the page.
            raised = {
                k: [replace(b, price_micros=loss.min_to_win_micros) if b is c else b for b in bids]
                for k, bids in by_imp.items()
            }
            assert run(slots, raised)[j].winner == replace(c, price_micros=loss.min_to_win_micros)


def utility(
    outcomes: Sequence[ImpOutcome],
    slots: Sequence[ImpTerms],
    truth: Mapping[str, int],
    members: set[str],
) -> int:
    """An agent's utility: (true value − price paid) × q per impression over its winning bids,
    the value being the true bid × ctr."""
    return sum(
        (truth[w.bid_id] * slots[j].ctr_ppm - price * M) * w.quality_ppm
        for j, w, price in winners(outcomes)
        if w.bid_id in members
    )


@settings(max_examples=120, deadline=None)
@given(small, st.data())
def test_no_agent_gains_by_misreporting(
    profile: tuple[list[ImpTerms], By], data: st.DataObject
) -> None:
    slots, by_imp = profile
    flat = [c for bids in by_imp.values() for c in bids]
    liar = data.draw(st.sampled_from(flat))
    brute = Brute(slots, by_imp)
    if liar.bid_id not in brute.agent_of:
        return
    agent = brute.agent_of[liar.bid_id]
    members = {bid_id for bid_id, a in brute.agent_of.items() if a == agent}
    truth = {c.bid_id: c.price_micros for c in flat}
    honest = run(slots, by_imp)
    honest_utility = utility(honest, slots, truth, members)
    # Rounding the honest price up costs less than one micro × q; capping a lie's price at
    # its value can save at most one more.
    slack = 2 * M * max(c.quality_ppm for c in flat if c.bid_id in members)
    lowest_bids = {max(1, -(-floor(s) * M // s.ctr_ppm)) for s in slots}  # worth each floor
    others = sorted({c.price_micros for c in flat} | lowest_bids)
    p = liar.price_micros
    grid = {1, p // 2, p - 1, p + 1, 2 * p, 10 * p, *others, *(o + 1 for o in others)}
    # Lies stay eligible: a bid below the floor leaves its agent, which changes who the agent
    # is (separation is over eligible bids), not what it pays.
    home = slots[next(j for j, s in enumerate(slots) if liar in by_imp.get(s.imp_id, []))]
    lowest = max(1, -(-floor(home) * M // home.ctr_ppm))
    for lie in sorted(x for x in grid if x >= lowest):
        lied = {
            k: [replace(b, price_micros=lie) if b is liar else b for b in bids]
            for k, bids in by_imp.items()
        }
        gain = utility(run(slots, lied), slots, truth, members) - honest_utility
        assert gain < max(slack, 1)


# --- one slot: the second-price auction -----------------------------------------------------


@st.composite
def single_slot(draw: st.DrawFn, equal_quality: bool) -> tuple[ImpTerms, list[Candidate]]:
    quality = draw(qualities)
    pairs = draw(st.lists(st.tuples(st.integers(-M, 10**9), qualities), min_size=1, max_size=12))
    bids = [
        Candidate(f"bid-{i}", f"seat-{i}", p, quality if equal_quality else q)
        for i, (p, q) in enumerate(pairs)
    ]
    reserve = draw(floors) if equal_quality else 0
    return ImpTerms("imp", reserve, ctr_ppm=M), bids


@settings(max_examples=300)
@given(st.one_of(single_slot(equal_quality=True), single_slot(equal_quality=False)))
def test_one_slot_is_exactly_second_price(case: tuple[ImpTerms, list[Candidate]]) -> None:
    """A slot of CTR 1.0 (no ``slot_ctr``): bids, values and prices are all per impression."""
    slot, bids = case
    expected = run_second_price(
        "imp", bids, floor_micros=slot.floor_micros, increment_micros=0, auction_id=AUCTION_ID
    )
    assert run_vcg([slot], {"imp": bids}, auction_id=AUCTION_ID)[0] == expected


@settings(max_examples=150)
@given(profiles(invalid=True), st.one_of(st.just(10_000), st.integers(0, 3 * M)))
def test_with_the_increment_no_page_winner_is_charged_more_than_its_value(
    profile: tuple[list[ImpTerms], By], increment: int
) -> None:
    slots, by_imp = profile
    plain = run(slots, by_imp)
    page = run_page(slots, by_imp, auction_id=AUCTION_ID, increment_micros=increment)
    assert [o.winner for o in page] == [o.winner for o in plain]
    for j, winner, price in winners(page):
        value = slot_value_micros(winner.price_micros, slots[j].ctr_ppm)
        assert price == min(plain[j].clearing_price_micros + increment, value)
        assert floor(slots[j]) <= price <= value
        # The charge (CPM micros ÷ 1000) is below the value of one impression, bid × ctr.
        assert impression_cost_micros(price) * 1000 * M <= winner.price_micros * slots[j].ctr_ppm
