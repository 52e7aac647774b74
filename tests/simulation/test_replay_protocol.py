"""The protocol's rule, the reference strategies' formulas, RLB's programme and the
hindsight optimum, on small logs where every answer can be worked out another way."""

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.replay.auction import buy, replay_bids
from simulation.replay.baselines import Const, Lin, Ortb, TrainingFacts, lin_grid, ortb_grid
from simulation.replay.logs import AuctionLog, from_arrays
from simulation.replay.optimum import hindsight_optimum
from simulation.replay.rlb import RlbStrategy
from simulation.replay.synthetic import LogSpec, generate


def log_of(prices: list[float], pctr: list[float], clicks: list[int] | None = None) -> AuctionLog:
    return from_arrays(np.array(clicks or [0] * len(prices)), np.array(prices), np.array(pctr))


def sequential(bids: list[int], log: AuctionLog, budget: int) -> list[int]:
    """The protocol written out one impression at a time."""
    left, won = budget, []
    for i, (bid, price, cost) in enumerate(
        zip(bids, log.price_cpm_micros.tolist(), log.cost_micros.tolist(), strict=True)
    ):
        if bid > price and cost <= left:
            won.append(i)
            left -= cost
    return won


def test_a_bid_wins_above_the_price_pays_it_and_the_budget_ends_it() -> None:
    log = log_of([50, 80, 50, 20, 10], [0.1] * 5)  # costs 50,000 80,000 50,000 20,000 10,000
    bids = np.array([60_000_000, 90_000_000, 50_000_000, 30_000_000, 20_000_000])
    outcome = replay_bids(bids, log, budget_micros=145_000)
    # 0 wins (60 > 50); 1 wins (90 > 80), leaving 15,000; 2 ties and loses; 3 costs more than
    # is left; 4 still fits.
    assert outcome.won.tolist() == [0, 1, 4]
    assert outcome.spent_micros == 140_000
    assert outcome.impressions == 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 400)), min_size=1, max_size=60),
    st.integers(0, 3_000_000),
)
def test_the_vectorised_rule_is_the_sequential_one(
    rows: list[tuple[int, int]], budget: int
) -> None:
    prices = [float(p) for p, _ in rows]
    log = log_of(prices, [0.01] * len(rows))
    bids = [b * 1_000_000 for _, b in rows]
    outcome = replay_bids(np.array(bids, np.int64), log, budget)
    assert outcome.won.tolist() == sequential(bids, log, budget)
    assert outcome.spent_micros == int(log.cost_micros[outcome.won].sum()) <= budget


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1000), max_size=40), st.integers(0, 5000))
def test_buy_takes_each_cost_that_fits_at_its_turn(costs: list[int], budget: int) -> None:
    taken, spent = buy(np.array(costs, np.int64), budget)
    left, expected = budget, []
    for i, cost in enumerate(costs):
        if cost <= left:
            expected.append(i)
            left -= cost
    assert taken.tolist() == expected
    assert spent == budget - left


def test_the_reference_formulas() -> None:
    pctr = np.array([0.0, 0.001, 0.004])
    assert Const(12.5).bids(pctr).tolist() == [12_500_000] * 3
    assert Lin(80.0, 0.002).bids(pctr).tolist() == [0, 40_000_000, 160_000_000]
    ortb = Ortb(50.0, 1e-5).bids(pctr)
    expected = [math.floor((math.sqrt(50 / 1e-5 * p + 2500) - 50) * 1e6) for p in pctr]
    assert np.abs(ortb - np.array(expected)).max() <= 1  # float rounding at the micro


def test_the_grids_cover_the_training_market() -> None:
    log = generate(LogSpec(rows_per_day=2000, train_days=1, test_days=1), seed=5).train
    facts = TrainingFacts.of(log)
    b0 = [lin.base_bid_cpm for lin in lin_grid(facts)]
    assert min(b0) < facts.avg_cpm / 32
    assert max(b0) > facts.avg_cpm * 8
    assert len(ortb_grid(facts)) == 3 * 41


def exact_knapsack(costs: list[int], values: list[float], budget: int) -> float:
    best = 0.0
    for chosen in itertools.product((0, 1), repeat=len(costs)):
        if sum(c for c, x in zip(costs, chosen, strict=True) if x) <= budget:
            best = max(best, sum(v for v, x in zip(values, chosen, strict=True) if x))
    return best


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 60), st.floats(0.0, 0.05, allow_nan=False)),
        min_size=1,
        max_size=10,
    ),
    st.integers(0, 200),
)
def test_greedy_and_its_bound_bracket_the_exact_optimum(
    rows: list[tuple[int, float]], budget_micros: int
) -> None:
    log = log_of([float(p) for p, _ in rows], [q for _, q in rows])
    optimum = hindsight_optimum(log, budget_micros)
    greedy = optimum.outcome.pctr_sum(log)
    exact = exact_knapsack(log.cost_micros.tolist(), [q for _, q in rows], budget_micros)
    assert optimum.outcome.spent_micros <= budget_micros
    assert greedy <= exact + 1e-12
    assert exact <= optimum.upper_bound + 1e-12
    assert optimum.upper_bound - greedy <= max(q for _, q in rows) + 1e-12


def test_rlb_values_grow_with_budget_and_time_and_the_last_auction_bids_all() -> None:
    train = generate(LogSpec(rows_per_day=3000, train_days=1, test_days=1), seed=2).train
    plan = RlbStrategy(budget_cells=200).plan(train, budget_micros=500_000, auctions=400)
    values = plan.values
    assert (np.diff(values, axis=0) >= -1e-15).all()  # one more auction is never worse
    assert (np.diff(values, axis=1) >= -1e-15).all()  # nor more budget
    # With one auction left nothing is worth saving money for: bid everything there is.
    assert plan._exact_bid(1, 50, theta=1e-9) == min(50, plan.top_price)


def test_rlb_spends_its_budget_and_no_more() -> None:
    logs = generate(LogSpec(rows_per_day=3000, train_days=2, test_days=1), seed=4)
    budget = logs.test.total_cost_micros // 16
    outcome = (
        RlbStrategy(budget_cells=400)
        .plan(logs.train, budget, len(logs.test))
        .run(logs.test, budget)
    )
    assert 0.97 * budget <= outcome.spent_micros <= budget
