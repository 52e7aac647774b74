"""The pacing controller alone: single steps, and a simulated plant bid through the
strategy's levers (``bidding.strategy``; the mapping itself: tests/bidding/test_strategy.py)."""

import heapq
import math
import random
import statistics
from dataclasses import replace

import pytest

from bidding.strategy import advice_at
from budget.pacing_control import (
    U_MAX,
    U_MIN,
    ControllerConfig,
    ControllerState,
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
    assert advice_at(stepped.u).participation == 0.0


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
    config: ControllerConfig = CONFIG,
    notice_delay_s: float = 0.0,
    hold_factor: float = 1.0,
) -> tuple[int, list[int]]:
    """A campaign buying impressions of ``price_micros``: at u = 0 it would buy ``capacity``
    times its plan, scaled by participation × multiplier^elasticity; Poisson arrivals. Each
    won impression holds ``hold_factor`` × its price (its bid) until its billing notice,
    an exponential ``notice_delay_s`` later (0: by the next step), charges the price. The
    final spend and spend per 15-minute slot (by bid time, as the simulation counts it)."""
    rng = random.Random(seed)
    state = ControllerState(0.0, 0)
    spent = held = 0
    hold = int(price_micros * hold_factor)
    notices: list[tuple[float, int]] = []  # (due, serial): each settles one impression
    slots = [0] * 96
    now = plan.start_s
    while now < plan.end_s:
        while notices and notices[0][0] <= now:
            heapq.heappop(notices)
            spent += price_micros
            held -= hold
        state = step(
            state,
            now_s=now,
            spent_micros=spent,
            budget_micros=BUDGET,
            plan=plan,
            config=config,
            held_micros=held,
        )
        planned = BUDGET * (plan.share(now + tick_s) - plan.share(now))
        rate = capacity * planned / price_micros
        advice = advice_at(state.u)
        rate *= advice.participation * advice.multiplier**elasticity
        bought = 0
        clock = rng.expovariate(rate) if rate > 0 else math.inf
        while clock < 1.0:
            bought += 1
            clock += rng.expovariate(rate)
        bought = min(bought, (BUDGET - spent - held) // hold)  # what the holds allow
        for _ in range(bought):
            delay = rng.expovariate(1 / notice_delay_s) if notice_delay_s > 0 else 0.0
            heapq.heappush(notices, (now + delay, len(notices) + int(now)))
            held += hold
        slots[int((now - plan.start_s) // 900)] += bought * price_micros
        now += tick_s
    spent += len(notices) * price_micros  # the last notices arrive after the day
    return spent, slots


def slot_error(plan: DayPlan, slots: list[int]) -> float:
    """RMS of spend − plan per 15-minute slot, over the planned spend per slot."""
    planned = [
        BUDGET * (plan.share(plan.start_s + 900 * (i + 1)) - plan.share(plan.start_s + 900 * i))
        for i in range(96)
    ]
    rms = math.sqrt(sum((a - p) ** 2 for a, p in zip(slots, planned, strict=True)) / 96)
    return rms / (BUDGET / 96)


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
    assert slot_error(plan, slots) < 0.15  # 5,000 impressions: Poisson alone would be ~14 %


def test_open_holds_count_as_spend() -> None:
    """A won impression counts from its hold on, not only once its notice has charged it:
    on plan by settled spend but one bid's hold open is ahead of plan (bid less)."""
    plan = even_plan()
    state = ControllerState(at(plan, 11.99), BUDGET // 2)
    now = at(plan, 12)
    on_plan = plan.planned_micros(BUDGET, now)
    kwargs = {"now_s": now, "spent_micros": on_plan, "budget_micros": BUDGET, "plan": plan}
    settled = step(state, config=CONFIG, **kwargs)  # type: ignore[arg-type]
    held = step(state, config=CONFIG, held_micros=BUDGET // 1000, **kwargs)  # type: ignore[arg-type]
    ignored = step(
        state,
        config=replace(CONFIG, held_weight=0.0),
        held_micros=BUDGET // 1000,
        **kwargs,  # type: ignore[arg-type]
    )
    assert held.u < settled.u - 0.1
    assert held.spent_micros == on_plan + BUDGET // 1000
    assert ignored.u == settled.u


def test_counting_holds_tracks_the_plan_despite_late_notices() -> None:
    """Billing notices 30 s late: measuring spend + open holds keeps each 15-minute slot
    closer to plan than waiting for the notices (same plant, same draws)."""
    plan = diurnal_plan()
    errors = {}
    for weight in (0.0, 1.0):
        config = ControllerConfig(horizon_s=60.0, memory_s=900.0, held_weight=weight)
        runs = [
            simulate_plant(
                plan,
                2.0,
                seed=seed,
                tick_s=5.0,
                config=config,
                notice_delay_s=30.0,
                hold_factor=1.5,
            )
            for seed in range(3)
        ]
        for spent, _ in runs:
            assert BUDGET * 0.98 <= spent <= BUDGET
        errors[weight] = statistics.fmean(slot_error(plan, slots) for _, slots in runs)
    assert errors[1.0] < 0.8 * errors[0.0]


def test_undeliverable_budget_bids_everything_it_can() -> None:
    """Capacity below the plan even at double bids: the controller stays at the top."""
    plan = even_plan()
    spent, _ = simulate_plant(plan, 0.2, seed=3, elasticity=1.0)
    assert spent < BUDGET * 0.5
