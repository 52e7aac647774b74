"""The pacing controller alone: the actuator mapping, single steps, and a simulated plant."""

import itertools
import math
import random

import pytest

from budget.pacing_control import (
    U_MAX,
    U_MIN,
    ControllerConfig,
    ControllerState,
    multiplier,
    participation,
    step,
)
from budget.pacing_plan import DayPlan, TrafficProfile

DAY = "2025-03-12"
BUDGET = 100_000_000
CONFIG = ControllerConfig(horizon_s=300.0, memory_s=900.0)


def even_plan() -> DayPlan:
    return DayPlan(DAY, "UTC", TrafficProfile.even())


def diurnal_plan() -> DayPlan:
    weights = [0.2 + math.exp(-(((q / 4) - 20) ** 2) / 10) for q in range(96)]
    return DayPlan(DAY, "UTC", TrafficProfile(tuple(weights)))


@pytest.mark.parametrize("u", [U_MIN - 5, U_MIN, -7.3, -2.0, -1.0, -0.2, 0.0, 0.5, U_MAX, 3.0])
def test_advice_stays_in_bounds(u: float) -> None:
    assert 0.5 <= multiplier(u) <= 2.0
    assert 0.0 <= participation(u) <= 1.0


def test_advice_is_monotonic_and_continuous() -> None:
    levels = [U_MIN + i * (U_MAX - U_MIN) / 2000 for i in range(2001)]
    mults = [multiplier(u) for u in levels]
    parts = [participation(u) for u in levels]
    assert mults == sorted(mults)
    assert parts == sorted(parts)
    for a, b in itertools.pairwise(levels):
        if a > U_MIN:  # participation drops to 0 at U_MIN on purpose
            assert abs(multiplier(b) - multiplier(a)) < 0.01
            assert abs(participation(b) - participation(a)) < 0.01
    assert (multiplier(0.0), participation(0.0)) == (1.0, 1.0)
    assert (multiplier(U_MAX), participation(U_MAX)) == (2.0, 1.0)
    assert (multiplier(-2.0), participation(-2.0)) == (0.5, 0.5)
    assert participation(U_MIN) == 0.0


def at(plan: DayPlan, hours: float) -> float:
    return plan.start_s + hours * 3600


def test_behind_plan_bids_up_ahead_of_plan_slows_down() -> None:
    plan = even_plan()
    state = ControllerState(at(plan, 11.99), BUDGET // 2)
    now = at(plan, 12)
    behind = step(
        state,
        now_s=now,
        spent_micros=BUDGET * 2 // 5,
        budget_micros=BUDGET,
        plan=plan,
        config=CONFIG,
    )
    ahead = step(
        state,
        now_s=now,
        spent_micros=BUDGET * 51 // 100,
        budget_micros=BUDGET,
        plan=plan,
        config=CONFIG,
    )
    on_plan = step(
        state, now_s=now, spent_micros=BUDGET // 2, budget_micros=BUDGET, plan=plan, config=CONFIG
    )
    assert behind.u == U_MAX  # far behind: everything the actuator has
    assert ahead.u == U_MIN  # more than the next horizon's plan already spent: stop
    assert abs(on_plan.u) < 0.1


def test_spent_budget_stops_bidding() -> None:
    plan = even_plan()
    state = ControllerState(at(plan, 9.99), BUDGET - 1)
    stepped = step(
        state,
        now_s=at(plan, 10),
        spent_micros=BUDGET,
        budget_micros=BUDGET,
        plan=plan,
        config=CONFIG,
    )
    assert participation(stepped.u) == 0.0


def test_a_fresh_state_adopted_within_min_step() -> None:
    plan = even_plan()
    state = ControllerState(at(plan, 10), BUDGET // 3, u=0.4, spend_sum=5.0, model_sum=7.0)
    again = step(
        state,
        now_s=at(plan, 10) + 0.5,
        spent_micros=BUDGET,
        budget_micros=BUDGET,
        plan=plan,
        config=CONFIG,
    )
    assert again is state


def test_no_windup_after_a_long_stall() -> None:
    """Hours without any spend (a supply outage) saturate the output, but as soon as spend
    can run again the controller is back within a few steps (nothing was integrated)."""
    plan = even_plan()
    state = ControllerState(0.0, 0)
    for minute in range(0, 6 * 60, 1):
        state = step(
            state,
            now_s=at(plan, minute / 60),
            spent_micros=0,
            budget_micros=BUDGET,
            plan=plan,
            config=CONFIG,
        )
    assert state.u == U_MAX
    caught_up = plan.planned_micros(BUDGET, at(plan, 6.1))
    state = step(
        state,
        now_s=at(plan, 6.1),
        spent_micros=caught_up,
        budget_micros=BUDGET,
        plan=plan,
        config=CONFIG,
    )
    assert state.u < 0.5


def simulate_plant(
    plan: DayPlan,
    capacity: float,
    *,
    seed: int,
    elasticity: float = 1.5,
    price_micros: int = 20_000,
    tick_s: float = 15.0,
) -> tuple[int, list[int]]:
    """A campaign buying impressions of ``price_micros``: at u = 0 it would buy ``capacity``
    times its plan, scaled by participation × multiplier^elasticity; Poisson arrivals.
    The final spend and spend per 15-minute slot."""
    rng = random.Random(seed)
    state = ControllerState(0.0, 0)
    spent = 0
    slots = [0] * 96
    now = plan.start_s
    while now < plan.end_s:
        state = step(
            state, now_s=now, spent_micros=spent, budget_micros=BUDGET, plan=plan, config=CONFIG
        )
        planned = BUDGET * (plan.share(now + tick_s) - plan.share(now))
        rate = capacity * planned / price_micros
        rate *= participation(state.u) * multiplier(state.u) ** elasticity
        bought = 0
        clock = rng.expovariate(rate) if rate > 0 else math.inf
        while clock < 1.0:
            bought += 1
            clock += rng.expovariate(rate)
        cost = min(bought * price_micros, (BUDGET - spent) // price_micros * price_micros)
        spent += cost
        slots[int((now - plan.start_s) // 900)] += cost
        now += tick_s
    return spent, slots


@pytest.mark.parametrize(
    ("capacity", "elasticity"),
    [(1.0, 0.3), (1.0, 1.5), (1.0, 4.0), (3.0, 0.3), (3.0, 4.0), (20.0, 1.5), (0.6, 2.0)],
)
def test_converges_on_a_simulated_plant(capacity: float, elasticity: float) -> None:
    """Whether bidding plainly would buy 0.6× (reachable only by bidding up) or 20× its
    plan, and however the market answers a higher bid, the campaign ends within 2 % of its
    budget (never over) and its 15-minute spend stays close to the plan."""
    plan = diurnal_plan()
    spent, slots = simulate_plant(
        plan, capacity, seed=int(capacity * 10 + elasticity), elasticity=elasticity
    )
    assert BUDGET * 0.98 <= spent <= BUDGET
    planned = [
        BUDGET * (plan.share(plan.start_s + 900 * (i + 1)) - plan.share(plan.start_s + 900 * i))
        for i in range(96)
    ]
    rms = math.sqrt(sum((a - p) ** 2 for a, p in zip(slots, planned, strict=True)) / 96)
    assert rms / (BUDGET / 96) < 0.15  # 5,000 impressions: Poisson alone would be ~14 %


def test_undeliverable_budget_bids_everything_it_can() -> None:
    """Capacity below the plan even at double bids: the controller stays at the top."""
    plan = even_plan()
    spent, _ = simulate_plant(plan, 0.2, seed=3, elasticity=1.0)
    assert spent < BUDGET * 0.5
