"""The pacing controller: spend error in, one control level ``u`` out.

**Output.** One number ``u``: log₂ of the wanted spend rate relative to bidding plainly
(``u = 0``), in [``U_MIN``, ``U_MAX``]. How a level becomes bids is a bidding decision, made
by the consumer's strategy (``bidding.strategy.advice_at``: value × 2^u down to 1/64, then
participation, nothing at ``U_MIN``); the controller only assumes that spend moves about as
2^u (``gain``) and learns how far the campaign's market is from that.

**Controller** (one step per tick, state in ``ControllerState``). The spend it measures is
the *committed* spend: settled spend plus the open holds (``held_weight`` × the ledger's
held amount). Holds of lost bids are released right after their auction, so what stays
held is won impressions waiting for their billing notice: counted from the moment they are
won (at their bid, corrected to the clearing price when the notice settles), not a notice
delay later.

* *feed-forward*: the plan's own rate. Spend is measured as a ratio to the planned spend
  of the same interval, so the day's traffic curve needs no correction at all;
* *learned plant* (the integral part): ``b`` = log₂ of how much the campaign spends at
  ``u = 0`` relative to plan, estimated as a ratio of exponentially weighted sums of actual
  spend and of ``plan increment × 2^u`` over ``memory_s`` (starting from ``b = 0`` with the
  weight of one memory span, and carried over from day to day);
* *proportional correction on the cumulative error*: spend what puts the campaign back on
  plan ``horizon_s`` from now, ``g* = (plan(t + H) − spent) / (plan(t + H) − plan(t))``;
* output ``u = log₂ g* − b``, clipped to ``[U_MIN, 1]``.

Because ``u`` is computed, not integrated, saturation cannot wind up; the estimate of ``b``
moves by at most ``dt / memory_s`` of the way per step, which keeps the loop stable even
where the real gain is far from the model's (see docs/pacing.md for the tuning).
"""

import math
from dataclasses import dataclass
from typing import Final

from budget.pacing_plan import DayPlan

U_MAX: Final = 1.0
U_MIN: Final = -12.0
"""At and below this level a campaign does not bid at all."""
_B_LIMIT: Final = 8.0
"""The learned plant offset is kept within ±8 (a factor 256 from plan): beyond that the
estimate is noise (a campaign out of flight, a day without traffic)."""
_DAY_S: Final = 86_400.0
_BUDGET_LIMITED: Final = 0.01
"""With less than 1 % of the budget left, spend is limited by the budget (holds refused),
not by the market: such intervals say nothing about the plant and are not learnt from."""


def gain(u: float) -> float:
    """The model of spend at ``u`` relative to ``u = 0`` (2^u; 0 when not bidding)."""
    return 0.0 if u <= U_MIN else math.exp2(u)


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Tuning of the controller (docs/pacing.md explains the choices)."""

    horizon_s: float = 120.0
    """H: a spend error is planned away over this long (shorter near the day's end)."""
    held_weight: float = 1.0
    """Open holds count towards the measured spend at this weight: 1 counts a won impression
    at its bid from the moment it is won (its hold) until its billing notice charges the
    clearing price; 0 counts settled spend only, seen a notice delay late."""
    memory_s: float = 900.0
    """Time constant of the learned plant offset."""
    min_step_s: float = 1.0
    """A state updated less than this long ago is adopted as it is (another process just
    stepped it)."""


@dataclass(frozen=True, slots=True)
class ControllerState:
    """What one campaign's controller carries from step to step (shared via the store)."""

    updated_s: float
    """When the state was last stepped (0: never, this day)."""
    spent_micros: int
    """The campaign's measured spend that day at ``updated_s`` (settled + weighted holds)."""
    u: float = 0.0
    spend_sum: float = 0.0
    """Weighted sum of actual spend (micros)."""
    model_sum: float = 0.0
    """Weighted sum of ``plan increment × gain(u)`` (micros)."""

    @property
    def offset(self) -> float:
        """``b``: log₂ of actual over modelled spend (0 until something is known)."""
        return learned_offset(self.spend_sum, self.model_sum)


def learned_offset(spend_sum: float, model_sum: float) -> float:
    """log₂(spend / model), clipped to ±``_B_LIMIT``; the small prior at 0 keeps it finite
    (and 0) before anything has been observed."""
    prior = 1.0 + 1e-3 * max(spend_sum, model_sum)
    value = math.log2((spend_sum + prior) / (model_sum + prior))
    return max(-_B_LIMIT, min(_B_LIMIT, value))


def step(
    state: ControllerState,
    *,
    now_s: float,
    spent_micros: int,
    budget_micros: int,
    plan: DayPlan,
    config: ControllerConfig,
    held_micros: int = 0,
) -> ControllerState:
    """The controller's state after observing, at ``now_s``, the campaign's settled spend
    ``spent_micros`` and the money its open holds reserve, ``held_micros``."""
    spent_micros += round(config.held_weight * max(0, held_micros))
    since = state.updated_s if state.updated_s > 0 else plan.start_s
    dt = now_s - since
    if dt < config.min_step_s and state.updated_s > 0:
        return state
    spend_sum, model_sum = state.spend_sum, state.model_sum
    share_now = plan.share(now_s)
    if spend_sum <= 0 and model_sum <= 0:
        # Nothing learnt yet: start from "spends as planned" with the weight of one memory
        # span of average plan, so the first quiet minutes do not swing the estimate.
        spend_sum = model_sum = budget_micros * config.memory_s / _DAY_S
    if dt > 0 and budget_micros - spent_micros > _BUDGET_LIMITED * budget_micros:
        decay = math.exp(-dt / config.memory_s)
        planned = budget_micros * (share_now - plan.share(since))
        spent = spent_micros - state.spent_micros
        spend_sum = max(0.0, decay * spend_sum + spent)
        model_sum = decay * model_sum + planned * gain(state.u)
    offset = learned_offset(spend_sum, model_sum)
    share_ahead = plan.share(min(now_s + config.horizon_s, plan.end_s))
    due = budget_micros * share_ahead - spent_micros
    planned_ahead = budget_micros * (share_ahead - share_now)
    if spent_micros >= budget_micros or due <= 0:
        u = U_MIN
    elif planned_ahead <= 1e-9 * budget_micros:
        u = state.u  # no traffic planned ahead (a daypart gap): nothing to steer
    else:
        u = math.log2(due / planned_ahead) - offset
    u = max(U_MIN, min(U_MAX, u))
    return ControllerState(now_s, spent_micros, u, spend_sum, model_sum)
