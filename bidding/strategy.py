"""The project's bidding strategy: how the pacer's control level becomes bids.

The pacer (``budget.pacing``) decides *how much* a campaign should spend: one control level
``u``, log₂ of the wanted spend rate relative to bidding the impression's value. This module
decides *how*, for the live router and for ``rtb replay`` alike (both call ``advice_at``,
``takes_part`` and ``bidding.valuation.value_bids``; nothing else decides a paced bid).

Spending less is done by **bidding less on every impression**, never by skipping auctions
at random while there is room to bid lower. A value-based bid is value × multiplier, the
multiplier being the dual variable of the budget (the Lagrangian of "most value within the
budget": bid value ÷ (1 + λ)). Lowering it raises the value-per-cost bar an impression must
clear in a second-price auction, so a short budget is concentrated on the impressions with
the best value per cost; throttling at random buys a random sample of the same impressions
the full bid would buy, at the full bid's prices. So:

* ``u ≥ U_FLOOR``: multiplier ``2^u`` (up to 2.0 at ``u = 1``, down to ``MULTIPLIER_FLOOR``
  = 1/64), every auction taken part in;
* ``u < U_FLOOR``: the multiplier stays at its floor and participation is ``2^(u − U_FLOOR)``,
  down to 1/64 just above ``STOP_LEVEL``, and 0 at it (the controller's ``U_MIN``: budget
  spent or far ahead of plan). Participation is the last resort: for a market so flat in the
  bid (a campaign that outbids everyone, a campaign at its ``min_bid``) that bidding lower
  no longer spends less.

A **fixed-price** campaign cannot bid lower: its one lever is participation, ``2^u`` below
``u = 0`` (``PacingAdvice.fixed_participation``), so that its spend too moves as 2^u.

The spend of the first region moves as 2^u where the market's price distribution is locally
like a power law of exponent 1, which is the plant model of ``budget.pacing_control``; its
learned offset absorbs the rest. The floor used to be 0.5 with participation below it:
docs/bidding.md shows what that cost at short budgets.
"""

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np

from bidding.exploration import bernoulli

__all__ = [
    "FULL_SPEED",
    "MULTIPLIER_FLOOR",
    "STOP_LEVEL",
    "U_FLOOR",
    "PacingAdvice",
    "advice_at",
    "participation_of",
    "takes_part",
]

U_CEILING: Final = 1.0
"""The highest control level the controller gives (``budget.pacing_control.U_MAX``)."""
U_FLOOR: Final = -6.0
"""Below this level bids stop falling and participation falls instead."""
MULTIPLIER_FLOOR: Final = 2.0**U_FLOOR
STOP_LEVEL: Final = -12.0
"""At or below this level nothing is bid (``budget.pacing_control.U_MIN``; a test pins the
two together, since neither package imports the other)."""


class PacingAdvice(NamedTuple):
    """How a campaign should bid right now to follow its spend plan (``budget.pacing``)."""

    multiplier: float
    """Scales a value-based bid before its [min, max] clip (fixed prices are not scaled)."""
    participation: float
    """The probability that a value-based campaign bids at all on a request."""
    fixed_participation: float
    """The same for a fixed-price campaign, whose price the multiplier does not scale."""


FULL_SPEED: Final = PacingAdvice(1.0, 1.0, 1.0)


def advice_at(u: float) -> PacingAdvice:
    """The advice at control level ``u`` (the mapping of the module docstring)."""
    if u <= STOP_LEVEL:
        return PacingAdvice(MULTIPLIER_FLOOR, 0.0, 0.0)
    fixed = math.exp2(min(u, 0.0))
    if u >= U_FLOOR:
        return PacingAdvice(math.exp2(min(u, U_CEILING)), 1.0, fixed)
    return PacingAdvice(MULTIPLIER_FLOOR, math.exp2(u - U_FLOOR), fixed)


def participation_of(advice: PacingAdvice, value_based: bool) -> float:
    """The probability that a campaign of this kind bids on a request it fits."""
    return advice.participation if value_based else advice.fixed_participation


def takes_part(probabilities: Sequence[float], rng: np.random.Generator) -> list[bool]:
    """Per candidate, whether it bids at all (one draw per candidate below full
    participation, in order: ``bidding.exploration.bernoulli``)."""
    return bernoulli(probabilities, rng)
