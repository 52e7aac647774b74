"""VCG for the slots of one page sold together, in exact integer arithmetic.

Why VCG: when several impressions of one request are sold at once (a page, a position
auction), bidders compete for a set of slots of different worth. VCG places bids where they
create the most value and charges each winner the value it displaces, so bidding one's true
value stays the best strategy, as with the single-impression second price.

What a bid means (billing units). A bid ``p`` on a slot is the bidder's value *per unit of
slot CTR*: its value for one impression of slot ``j``, whose click-through multiplier is
``c_j`` (ppm, 1_000_000 = 1.0), is ``p × c_j`` — the bid is a price per click, up to the
constant clicks of a CTR-1 slot, as in the position-auction literature. The floor ``f_j`` is
per impression, as OpenRTB's ``bidfloor`` is: the slot sells for no less than ``f_j`` per
impression. Every price this module returns is per impression (what the impression is
charged, as a CPM); ``min_to_win_micros`` is in bid units (what the loser would have had to
bid). Why per impression: the charge, the SSP's revenue and ``bid.price`` all count
impressions, and charging the per-unit price per impression would bill a bid on a slot of
CTR ``c`` up to ``1 ÷ c`` times its value there.

The rule, for slots ``j`` with floor ``f_j`` (micros) and ``c_j``, and candidates with
price ``p`` (micros) and quality ``q`` (ppm), each bidding for one slot (``U`` = 1_000_000):

* a candidate with ``p <= 0`` or ``q <= 0`` is invalid (loss reason 3), one with
  ``p × c_j < f_j × U`` (worth less than the floor per impression) is below the floor (100);
  only the rest are *eligible*. A slot with ``c_j <= 0`` cannot be sold;
* candidates that share a seat or an adomain form one *agent* (:mod:`auction.separation`),
  which wins at most one slot; its value for slot ``j`` is its best candidate's there;
* the value of candidate ``i`` in slot ``j`` is ``v = (p_i × c_j − f_j × U) × q_i``: its
  quality-adjusted value per impression *above the floor*. Floors are the seller's own value
  for the slot, so the allocation that maximises ``Σ v`` maximises bidders' plus seller's
  value; with zero floors it is the total quality-adjusted value ``Σ p × c × q``. Why
  subtract the floor rather than merely filter on it: a winner's utility, ``(true value −
  price paid) × q`` per impression, is then exactly its VCG utility for the reserve-adjusted
  valuation ``v``, so VCG's truthfulness carries over to the reserve. (Filtering alone makes
  the page allocation non-monotone: raising a bid past a lower slot's higher floor can move
  it down the page.)
* ties: among allocations of maximal ``Σ v``, the one that fills more slots wins (so a bid
  exactly at the floor takes an otherwise empty slot, as in the second-price auction); then,
  slot by slot in the order given, the one whose bid in that slot has the larger
  :func:`auction.tiebreak.tiebreak_key` (then the earlier bid). The same rule picks an agent's
  best candidate for a slot. For one slot this is exactly ``run_second_price``'s tie rule.
* the winning agent ``a`` of slot ``j`` pays the Clarke pivot ``W₋ₐ − (W − v_a)`` in value
  units, where ``W`` is the optimal ``Σ v`` and ``W₋ₐ`` the optimum without agent ``a``. Per
  impression, as a CPM: ``f_j + ⌈payment ÷ (q × U)⌉`` — rounded *up* to the micro, since a
  micro less would not have covered the externality — then clamped into ``[f_j,
  ⌊p × c_j ÷ U⌋]``, so it never exceeds the winner's value for the slot
  (:func:`slot_value_micros`). ``0 <= W₋ₐ − (W − v_a) <= v_a`` holds for an optimal ``W``, so
  the clamp binds only by the one micro of rounding up, when ``p × c_j`` is not a whole
  number of micros: there "never above the value" wins over "rounded up".
* every other candidate loses, with ``min_to_win_micros``: the smallest price, at its own
  quality, whose value is *strictly* above the threshold ``t`` at which its slot would have
  been its agent's: ``⌊(t + f_j × U × q) ÷ (q × c_j)⌋ + 1``, and at least the lowest eligible
  bid ``⌈f_j × U ÷ c_j⌉`` (and one micro). For an agent that won nothing, or won another
  slot, ``t = W₋ₐ,₋ⱼ`` short of ``W``, i.e. ``t = W − W₋ₐ,₋ⱼ`` (the optimum without the agent
  and without slot ``j``); for a sibling of the winning bid in the same slot, ``t`` is the
  winning bid's value. A slot left empty is won by any eligible bid of an agent that won
  nothing, so there it is the lowest eligible bid. A candidate that lost to a sibling of its
  own seat or domain loses with reason 102 too: it was outbid on the page, by its own side.
  ``0`` means no price could have won (``q <= 0`` or ``c_j <= 0``).

With ``c_j = U`` (no ``slot_ctr``) a bid, its value and its price are all per impression and
the formulas are the familiar ones: value ``(p − f) × q × U``, price ``f + ⌈payment ÷ (q ×
U)⌉`` within ``[f, p]``.

Why the Clarke pivot per agent: an agent's candidates act for one buyer (one seat, or one
advertiser), so it pays the externality on *other* agents, not on its own siblings; in the
position setting each advertiser is one agent with a bid in every slot, which gives the
textbook VCG prices (Edelman–Ostrovsky–Schwarz 2007, Varian 2007): their price per click of
a slot is this module's price per impression ÷ ``c_j``. Consequences: with one slot of CTR
1.0 and no shared seats or domains this is ``run_second_price`` with zero increment,
exactly, when the floor is zero or the qualities are equal; with a floor and unequal
qualities the two differ by design (second price ranks by ``p × q``, VCG by value above the
floor). A same-seat sibling does not raise its winner's price.

How it is computed (all money exact): scipy's ``linear_sum_assignment`` finds a near-optimal
agents × slots assignment in float64 (values can exceed 2⁵³, so floats may misorder
near-ties). It only seeds an exact search on the *slot graph* — nodes are the slots plus an
"outside" node, an edge ``s → t`` moves the agent of ``s`` to ``t`` — with integer weights
that encode the whole tie rule lexicographically (Python integers have no overflow).
Bellman–Ford from the outside node finds any improving rotation (a positive cycle), which is
applied until none is left; the same pass gives, for every slot ``j``, the best way to refill
``j`` if its agent left, which *is* the Clarke payment (``W₋ₐ = W − v_a + refill(j)``). One
more pass towards the outside node gives every ``W₋ⱼ``; a winner that has losing siblings in
other slots needs one pass on its own ``W₋ₐ`` assignment. Solves: one float solve and
``2 + k`` exact passes of ``O(S³)`` each, ``k`` such winners, whatever the number of bids.
"""

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from scipy.optimize import linear_sum_assignment

from auction.separation import group_agents
from auction.tiebreak import tiebreak_key
from auction.types import QUALITY_ONE, Candidate, ImpOutcome, ImpTerms, Loss
from openrtb.enums import LossReason

__all__ = ["clearing_price", "run_vcg", "slot_value_micros"]

_INVALID: Final = LossReason.INVALID_BID_RESPONSE
_BELOW_FLOOR: Final = LossReason.BELOW_AUCTION_FLOOR
_OUTBID: Final = LossReason.LOST_TO_HIGHER_BID
_NONE: Final = -1
"""No agent / no candidate / ineligible (valid values are >= 0)."""
_U: Final = QUALITY_ONE
"""CTR 1.0 in ppm: ``p × c ÷ _U`` is a bid's value per impression in micros."""

Edge = tuple[int, int, int]


def run_vcg(
    slots: Sequence[ImpTerms],
    candidates_by_imp: Mapping[str, Sequence[Candidate]],
    *,
    auction_id: str,
) -> tuple[ImpOutcome, ...]:
    """Run VCG for ``slots`` sold together; one outcome per slot, in the order given.

    ``candidates_by_imp`` maps an imp id to the bids for that slot (already screened for deals
    and seat rules); only ``imp_id``, ``floor_micros`` and ``ctr_ppm`` of the terms are used.
    Each outcome has its winner (or None) at ``clearing_price_micros`` (0 when none) — per
    impression, never above :func:`slot_value_micros` of the winner's bid — and every other
    candidate of that slot, in input order, as a loss. A negative floor counts as 0. Raises
    ValueError for a repeated slot id or bids for an imp not in ``slots``.
    """
    page = _Page(slots, candidates_by_imp, auction_id)
    return page.outcomes(slots, _solve(page))


class _Page:
    """The problem in integers: eligible values, agents, and the exact tie-breaking weights."""

    __slots__ = (
        "agent_of",
        "auction_id",
        "by_slot",
        "candidates",
        "ctrs",
        "floors",
        "n_agents",
        "ranks",
        "rep",
        "scale",
        "shift",
        "slot_of",
        "unit",
        "value",
        "weights",
    )

    def __init__(
        self,
        slots: Sequence[ImpTerms],
        candidates_by_imp: Mapping[str, Sequence[Candidate]],
        auction_id: str,
    ) -> None:
        index_of: dict[str, int] = {}
        for j, terms in enumerate(slots):
            if index_of.setdefault(terms.imp_id, j) != j:
                raise ValueError(f"slot {terms.imp_id!r} appears twice")
        unknown = [imp_id for imp_id in candidates_by_imp if imp_id not in index_of]
        if unknown:
            raise ValueError(f"candidates for imps not on the page: {unknown!r}")

        self.auction_id = auction_id
        self.floors = [max(terms.floor_micros, 0) for terms in slots]
        self.ctrs = [terms.ctr_ppm for terms in slots]
        self.candidates: list[Candidate] = []
        self.slot_of: list[int] = []
        for j, terms in enumerate(slots):
            for candidate in candidates_by_imp.get(terms.imp_id, ()):
                self.candidates.append(candidate)
                self.slot_of.append(j)

        n_slots = len(slots)
        self.value = [_NONE] * len(self.candidates)
        eligible: list[int] = []
        for i, candidate in enumerate(self.candidates):
            j = self.slot_of[i]
            floor, ctr = self.floors[j], self.ctrs[j]
            price, quality = candidate.price_micros, candidate.quality_ppm
            if price > 0 and quality > 0 and ctr > 0 and price * ctr >= floor * _U:
                self.value[i] = (price * ctr - floor * _U) * quality
                eligible.append(i)

        labels = group_agents([self.candidates[i] for i in eligible])
        self.n_agents = max(labels, default=-1) + 1
        self.agent_of = [_NONE] * len(self.candidates)
        self.ranks: dict[int, int] = {}
        self.rep = [[_NONE] * n_slots for _ in range(self.n_agents)]
        for i, agent in zip(eligible, labels, strict=True):
            self.agent_of[i] = agent
            row, j = self.rep[agent], self.slot_of[i]
            if row[j] == _NONE or self.beats(i, row[j]):
                row[j] = i
        self.by_slot: list[list[int]] = [[] for _ in range(n_slots)]
        for agent, row in enumerate(self.rep):
            for j, i in enumerate(row):
                if i != _NONE:
                    self.by_slot[j].append(agent)
        for j, agents in enumerate(self.by_slot):
            agents.sort(key=lambda agent: self.value[self.rep[agent][j]], reverse=True)

        # Weight of (agent, slot) = value × scale + unit + rank(bid) << shift × (S − 1 − slot):
        # comparing sums compares Σ value, then the number of slots filled, then ranks slot by
        # slot. rank < 2^(shift − 1), so each slot's term outweighs all later ones; the rank
        # terms sum below unit; and any path's non-value part stays below scale / 2, so value
        # sums are recovered exactly by rounding (see _values).
        self.shift = (len(self.candidates) + 1).bit_length() + 65
        self.unit = 1 << (self.shift * n_slots + 1)
        self.scale = self.unit * 8 * (n_slots + 1)
        self.weights: dict[int, int] = {}

    def rank(self, i: int) -> int:
        """Tie-break rank of candidate ``i``: larger key first, then earlier in the input."""
        rank = self.ranks.get(i)
        if rank is None:
            n = len(self.candidates)
            key = tiebreak_key(self.auction_id, self.candidates[i].bid_id)
            rank = self.ranks[i] = key * n + (n - 1 - i) + 1
        return rank

    def beats(self, i: int, other: int) -> bool:
        """Candidate ``i`` is preferred to ``other``: larger value, then larger rank."""
        value, other_value = self.value[i], self.value[other]
        return value > other_value or (value == other_value and self.rank(i) > self.rank(other))

    def weight(self, agent: int, slot: int) -> int:
        """The tie-breaking weight of ``agent`` in ``slot``; _NONE when it has no eligible bid."""
        i = self.rep[agent][slot]
        if i == _NONE:
            return _NONE
        cache_key = agent * len(self.floors) + slot
        weight = self.weights.get(cache_key)
        if weight is None:
            tie = self.rank(i) << (self.shift * (len(self.floors) - 1 - slot))
            weight = self.weights[cache_key] = self.value[i] * self.scale + self.unit + tie
        return weight

    def entrant(self, occupied: Sequence[int], slot: int) -> int:
        """The best agent outside the assignment ``occupied`` for ``slot``, or _NONE."""
        placed = set(occupied)
        best = _NONE
        for agent in self.by_slot[slot]:
            if agent in placed:
                continue
            if best == _NONE:
                best = agent
            elif self.value[self.rep[agent][slot]] < self.value[self.rep[best][slot]]:
                break
            elif self.beats(self.rep[agent][slot], self.rep[best][slot]):
                best = agent
        return best

    def outcomes(self, slots: Sequence[ImpTerms], solution: "_Solution") -> tuple[ImpOutcome, ...]:
        """Winners at their Clarke prices and every other candidate as a loss, per slot."""
        winners = [
            self.rep[agent][j] if agent != _NONE else _NONE
            for j, agent in enumerate(solution.occupant)
        ]
        prices = [
            self.price(i, solution.payments[j]) if i != _NONE else 0 for j, i in enumerate(winners)
        ]
        losses: list[list[Loss]] = [[] for _ in slots]
        for i, candidate in enumerate(self.candidates):
            j = self.slot_of[i]
            if i != winners[j]:
                losses[j].append(Loss(candidate, self.reason(i), self.min_to_win(i, solution)))
        return tuple(
            ImpOutcome(
                terms.imp_id,
                self.candidates[winners[j]] if winners[j] != _NONE else None,
                prices[j],
                tuple(losses[j]),
            )
            for j, terms in enumerate(slots)
        )

    def price(self, i: int, payment: int) -> int:
        """CPM per impression for a Clarke payment in value units: ``f + ⌈payment ÷ (q × U)⌉``
        within ``[f, ⌊p × c ÷ U⌋]``."""
        j = self.slot_of[i]
        candidate = self.candidates[i]
        return clearing_price(
            self.floors[j],
            payment,
            candidate.quality_ppm * _U,
            slot_value_micros(candidate.price_micros, self.ctrs[j]),
        )

    def reason(self, i: int) -> int:
        candidate = self.candidates[i]
        price = candidate.price_micros
        if price <= 0 or candidate.quality_ppm <= 0:
            return _INVALID
        j = self.slot_of[i]
        if price * self.ctrs[j] < self.floors[j] * _U:
            return _BELOW_FLOOR
        return _OUTBID

    def min_to_win(self, i: int, solution: "_Solution") -> int:
        """Smallest price whose value is strictly above candidate ``i``'s threshold (module doc)."""
        j = self.slot_of[i]
        candidate = self.candidates[i]
        quality, ctr = candidate.quality_ppm, self.ctrs[j]
        if quality <= 0 or ctr <= 0:
            return 0
        floor_value = self.floors[j] * _U  # the floor in units of p × c
        lowest = max(1, -(-floor_value // ctr))  # the lowest eligible bid
        agent = self.agent_of[i] if self.agent_of[i] != _NONE else solution.linked(self, i)
        home = solution.slot_of_agent.get(agent, _NONE) if agent != _NONE else _NONE
        if home == j:
            threshold = self.value[self.rep[agent][j]]
        elif home != _NONE:
            threshold = solution.welfare - solution.without_agent_and_slot(self, agent, j)
        elif solution.occupant[j] == _NONE:
            return lowest
        else:
            threshold = solution.welfare - solution.without_slot[j]
        return max(lowest, (threshold + floor_value * quality) // (quality * ctr) + 1)


def slot_value_micros(price_micros: int, ctr_ppm: int) -> int:
    """A bid's value for one impression of a slot of CTR ``ctr_ppm``: ``⌊p × c ÷ U⌋`` micros.

    Rounded down: it is the most that impression may be charged (a bid is per unit of slot
    CTR, a charge per impression). ``price_micros`` itself when ``ctr_ppm`` is 1.0.
    """
    return price_micros * ctr_ppm // _U


def clearing_price(floor: int, payment: int, per_micro: int, value: int) -> int:
    """``floor + ⌈payment ÷ per_micro⌉`` clamped into ``[floor, value]``.

    ``per_micro`` is ``q × U``, the value of one micro of price per impression; ``value`` is
    the winner's :func:`slot_value_micros`. Rounding up: a micro less would not cover the
    externality. For an optimal assignment ``0 <= payment <= (p × c − f × U) × q``, so the
    upper clamp binds only by that rounding's micro (never charge more than the value wins),
    and the lower one never.
    """
    price = floor - (-payment // per_micro)
    return min(max(price, floor), value)


class _Solution:
    """The exact optimum, its Clarke payments, and the counterfactual welfares thresholds use."""

    __slots__ = (
        "_links",
        "_without_agent",
        "graph",
        "occupant",
        "payments",
        "refill_pred",
        "slot_of_agent",
        "welfare",
        "without_slot",
    )

    def __init__(
        self, page: _Page, occupant: list[int], refill: list[int], pred: list[int], graph: "_Graph"
    ) -> None:
        self.occupant = occupant
        self.slot_of_agent = {agent: j for j, agent in enumerate(occupant) if agent != _NONE}
        self.welfare = sum(
            page.value[page.rep[agent][j]] for j, agent in enumerate(occupant) if agent != _NONE
        )
        self.payments = [
            _values(page, refill[j]) if agent != _NONE else 0 for j, agent in enumerate(occupant)
        ]
        self.refill_pred = pred
        self.graph = graph
        to_outside = _longest_to_outside(len(occupant) + 1, graph.edges)
        self.without_slot = [self.welfare + _values(page, gain) for gain in to_outside[:-1]]
        self._without_agent: dict[int, list[int]] = {}
        self._links: dict[str, int] | None = None

    def without_agent_and_slot(self, page: _Page, agent: int, slot: int) -> int:
        """``W₋ₐ,₋ⱼ`` for a winning agent: one pass on the optimum without the agent."""
        cached = self._without_agent.get(agent)
        if cached is None:
            home = self.slot_of_agent[agent]
            occupant = list(self.occupant)
            node = home
            while node != len(occupant):  # apply the best refill of the agent's slot
                before = self.refill_pred[node]
                occupant[node] = (
                    self.graph.entrants[node] if before == len(occupant) else self.occupant[before]
                )
                node = before
            without = self.welfare - page.value[page.rep[agent][home]] + self.payments[home]
            graph = _graph(page, occupant, entrants=False)
            gains = _longest_to_outside(len(occupant) + 1, graph.edges)
            cached = self._without_agent[agent] = [without + _values(page, g) for g in gains[:-1]]
        return cached[slot]

    def linked(self, page: _Page, i: int) -> int:
        """The agent an ineligible candidate would join (first by seat, then by domain)."""
        if self._links is None:
            links: dict[str, int] = {}
            for k, agent in enumerate(page.agent_of):
                if agent != _NONE:
                    candidate = page.candidates[k]
                    links.setdefault("s:" + candidate.seat, agent)
                    if candidate.adomain is not None:
                        links.setdefault("d:" + candidate.adomain, agent)
            self._links = links
        candidate = page.candidates[i]
        agent = self._links.get("s:" + candidate.seat, _NONE)
        if agent == _NONE and candidate.adomain is not None:
            agent = self._links.get("d:" + candidate.adomain, _NONE)
        return agent


class _Graph:
    """The slot graph of an assignment: edges ``(from, to, weight gain)``, outside node last."""

    __slots__ = ("edges", "entrants")

    def __init__(self, edges: list[Edge], entrants: list[int]) -> None:
        self.edges = edges
        self.entrants = entrants


def _graph(page: _Page, occupant: Sequence[int], *, entrants: bool) -> _Graph:
    """Edges of the slot graph of ``occupant``.

    ``s → t``: the agent of ``s`` moves to ``t`` (gain: its weight there minus here);
    ``s → out``: it leaves the page; an empty slot only has ``t → out`` (a move ends there);
    ``out → t``: the best outside agent enters ``t``, or nobody (gain 0). The last kind is only
    needed for paths that start outside (``entrants=True``).
    """
    n_slots = len(occupant)
    outside = n_slots
    edges: list[Edge] = []
    for s, agent in enumerate(occupant):
        if agent == _NONE:
            edges.append((s, outside, 0))
            continue
        own = page.weight(agent, s)
        for t in range(n_slots):
            if t != s:
                there = page.weight(agent, t)
                if there != _NONE:
                    edges.append((s, t, there - own))
        edges.append((s, outside, -own))
    chosen = [_NONE] * n_slots
    if entrants:
        for t in range(n_slots):
            agent = chosen[t] = page.entrant(occupant, t)
            edges.append((outside, t, page.weight(agent, t) if agent != _NONE else 0))
    return _Graph(edges, chosen)


def _longest_from_outside(n_nodes: int, edges: list[Edge]) -> tuple[list[int], list[int], int]:
    """Bellman–Ford from the outside node: longest gains, predecessors, and a node that was
    still improving after ``n_nodes`` rounds (a positive cycle leads to it) or _NONE."""
    outside = n_nodes - 1
    unreached = -(1 << 4096)
    gain = [unreached] * n_nodes
    gain[outside] = 0
    pred = [_NONE] * n_nodes
    for _ in range(n_nodes):
        changed = _NONE
        for start, end, weight in edges:
            here = gain[start]
            if here == unreached:
                continue
            there = here + weight
            if there > gain[end]:
                gain[end] = there
                pred[end] = start
                changed = end
        if changed == _NONE:
            return gain, pred, _NONE
    return gain, pred, changed


def _longest_to_outside(n_nodes: int, edges: list[Edge]) -> list[int]:
    """Longest gain of a path from each node to the outside node, never leaving it again."""
    outside = n_nodes - 1
    unreached = -(1 << 4096)
    gain = [unreached] * n_nodes
    gain[outside] = 0
    for _ in range(n_nodes):
        changed = False
        for start, end, weight in edges:
            if start == outside or gain[end] == unreached:
                continue
            there = gain[end] + weight
            if there > gain[start]:
                gain[start] = there
                changed = True
        if not changed:
            break
    return gain


def _values(page: _Page, weight: int) -> int:
    """The value part of a sum of weights (its other parts stay below scale / 2)."""
    return (weight + page.scale // 2) // page.scale


def _seed(page: _Page) -> list[int]:
    """A near-optimal assignment from scipy, on the agents that can matter.

    Only an agent among the S best of some slot can be in an optimal assignment (any other
    can be swapped for an unplaced better one), so the matrix is at most S² × S. Floats may
    misorder values closer than 2⁻⁵² relative; the exact search repairs that.
    """
    n_slots = len(page.floors)
    pool = sorted({agent for agents in page.by_slot for agent in agents[:n_slots]})
    occupant = [_NONE] * n_slots
    if not pool:
        return occupant
    matrix = np.zeros((len(pool), n_slots))
    for row, agent in enumerate(pool):
        for j, i in enumerate(page.rep[agent]):
            if i != _NONE:
                matrix[row, j] = float(page.value[i])
    top = matrix.max()
    if top > 0:
        matrix /= top
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    for row, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if page.rep[pool[row]][j] != _NONE:
            occupant[j] = pool[row]
    return occupant


def _solve(page: _Page) -> _Solution:
    """Seed with scipy, apply improving rotations until none is left, then price."""
    occupant = _seed(page)
    n_nodes = len(occupant) + 1
    while True:
        graph = _graph(page, occupant, entrants=True)
        gain, pred, cycle_end = _longest_from_outside(n_nodes, graph.edges)
        if cycle_end == _NONE:
            return _Solution(page, occupant, gain, pred, graph)
        occupant = _rotate(occupant, pred, graph.entrants, cycle_end)


def _rotate(occupant: list[int], pred: list[int], entrants: list[int], end: int) -> list[int]:
    """Apply the positive cycle that Bellman–Ford's predecessors lead ``end`` into."""
    outside = len(occupant)
    node = end
    for _ in range(outside + 1):  # n steps back from a still-improving node land on the cycle
        node = pred[node]
    cycle = [node]
    step = pred[node]
    while step != node:
        cycle.append(step)
        step = pred[step]
    moved = list(occupant)
    for node in cycle:
        if node != outside:
            before = pred[node]
            moved[node] = entrants[node] if before == outside else occupant[before]
    return moved
