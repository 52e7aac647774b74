"""Value-based bids: what an impression is worth to a campaign, as a CPM in integer micros.

The three goals all reduce to *value per click* × pCTR (× pCVR when the goal is paid per
conversion), so one vectorised expression prices every candidate of a request at once:

* ROI: CPM = 1000 × pCTR × pCVR × conversion value ÷ target ROI × pacing multiplier
* CPA: CPM = 1000 × pCTR × pCVR × target CPA × pacing multiplier
* CPC: CPM = 1000 × pCTR × target CPC × pacing multiplier

The CPM is then clipped to the campaign's [min bid, max bid]; a bid below the impression's
floor is not sent (``NoBid.BELOW_FLOOR``), nor is one whose value is zero
(``NoBid.NO_VALUE``: a pCTR of 0, or a pacing multiplier of 0 — clipping such a value *up* to
the min bid would spend money pacing asked not to spend). A fixed-price campaign (no goal)
bids its ``bid_cpm_micros`` unchanged: no models, no pacing multiplier, still against floors.

Rounding: the product is computed in float64 and rounded *down* to the micro after being
scaled by (1 − 2⁻⁴⁰). The float product is within a few ulps (~10⁻¹⁵ relative) of the exact
product of the inputs, so the scaled value is never above the exact value: a campaign never
bids a micro above what the impression is worth to it, at the price of bidding at most one
micro below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "BidDecision",
    "Goal",
    "GoalKind",
    "NoBid",
    "Priced",
    "ValuationTable",
    "ValuedBids",
    "bid_cpm",
    "value_bids",
    "value_cpm_micros",
]

_DOWN: Final = 1.0 - 2.0**-40
"""Scale applied before rounding down, so float error can never round a bid up (see above)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class GoalKind(StrEnum):
    """What the advertiser pays for, and so what a click is worth."""

    CPC = "cpc"
    CPA = "cpa"
    ROI = "roi"


@dataclass(frozen=True, slots=True)
class Goal:
    """A campaign's goal; money in integer micros of the campaign's currency."""

    kind: GoalKind
    target_cpc_micros: int = 0
    target_cpa_micros: int = 0
    conversion_value_micros: int = 0
    target_roi: float = 1.0
    """Revenue per unit of spend wanted (4.0: every 1 spent should bring 4 of conversions)."""

    @property
    def uses_cvr(self) -> bool:
        """Whether the value depends on the conversion rate (CPA and ROI goals)."""
        return self.kind is not GoalKind.CPC

    @property
    def value_per_click_micros(self) -> float:
        """What one click is worth before pCVR: the target CPC, the target CPA, or the
        conversion value the target ROI allows spending (value ÷ ROI)."""
        if self.kind is GoalKind.CPC:
            return float(self.target_cpc_micros)
        if self.kind is GoalKind.CPA:
            return float(self.target_cpa_micros)
        return self.conversion_value_micros / self.target_roi


class Priced(Protocol):
    """What valuation needs of a campaign (``bidding.campaigns.Campaign`` has it)."""

    @property
    def goal(self) -> Goal | None: ...
    @property
    def bid_cpm_micros(self) -> int: ...
    @property
    def min_bid_cpm_micros(self) -> int: ...
    @property
    def max_bid_cpm_micros(self) -> int | None: ...


class NoBid(StrEnum):
    """Why a candidate's bid is not sent."""

    NO_VALUE = "no value"
    BELOW_FLOOR = "below floor"


class BidDecision(NamedTuple):
    """A scalar decision: a bid and no reason, or no bid and the reason."""

    bid_cpm_micros: int | None
    reason: NoBid | None


_NO_MAX: Final = 2**62


@dataclass(frozen=True, slots=True)
class ValuationTable:
    """Per campaign (by position), the numbers the bid formula needs, as arrays built once."""

    value_per_click: FloatArray
    uses_cvr: npt.NDArray[np.bool_]
    fixed_cpm_micros: IntArray
    """The fixed price of a campaign without a goal; 0 for value-based campaigns."""
    min_cpm_micros: IntArray
    max_cpm_micros: IntArray

    @classmethod
    def of(cls, campaigns: Sequence[Priced]) -> ValuationTable:
        """The table of ``campaigns`` in their order (positions match the index's)."""
        n = len(campaigns)
        vpc = np.zeros(n, np.float64)
        uses_cvr = np.zeros(n, np.bool_)
        fixed = np.zeros(n, np.int64)
        low = np.zeros(n, np.int64)
        high = np.full(n, _NO_MAX, np.int64)
        for i, campaign in enumerate(campaigns):
            goal = campaign.goal
            if goal is None:
                fixed[i] = campaign.bid_cpm_micros
                continue
            vpc[i] = goal.value_per_click_micros
            uses_cvr[i] = goal.uses_cvr
            low[i] = campaign.min_bid_cpm_micros
            if campaign.max_bid_cpm_micros is not None:
                high[i] = campaign.max_bid_cpm_micros
        return cls(vpc, uses_cvr, fixed, low, high)


@dataclass(frozen=True, slots=True)
class ValuedBids:
    """The bids of a batch of candidates: ``bid_cpm_micros[i]`` is sent when ``sent[i]``."""

    value_cpm_micros: IntArray
    """What each impression is worth (before clipping), rounded down."""
    bid_cpm_micros: IntArray
    """Clipped to the campaign's [min, max]; 0 where nothing is sent."""
    sent: npt.NDArray[np.bool_]
    below_floor: npt.NDArray[np.bool_]

    def reason(self, i: int) -> NoBid | None:
        """Why candidate ``i`` sends nothing (None when it bids)."""
        if self.sent[i]:
            return None
        return NoBid.BELOW_FLOOR if self.below_floor[i] else NoBid.NO_VALUE

    def decision(self, i: int) -> BidDecision:
        """Candidate ``i`` as a scalar decision."""
        reason = self.reason(i)
        return BidDecision(None if reason else int(self.bid_cpm_micros[i]), reason)


def value_bids(
    table: ValuationTable,
    positions: npt.NDArray[np.intp] | Sequence[int],
    pctr: npt.ArrayLike,
    pcvr: npt.ArrayLike,
    floor_cpm_micros: npt.ArrayLike,
    multiplier: npt.ArrayLike = 1.0,
) -> ValuedBids:
    """Bids of the candidates at ``positions`` of ``table``, one vectorised pass.

    ``pctr``/``pcvr`` are the models' probabilities per candidate (clipped to [0, 1]; NaN
    counts as 0); ``floor_cpm_micros`` the floor each candidate bids against (a scalar for
    one impression); ``multiplier`` the pacing multiplier (scalar or per candidate, ≥ 0).
    """
    idx = np.asarray(positions, dtype=np.intp)
    # fmax/fmin return the non-NaN operand: NaN → 0, then clipped (plain ufuncs: np.clip
    # and np.nan_to_num cost several times more on the few candidates of one request).
    ctr = np.fmin(np.fmax(np.asarray(pctr, np.float64), 0.0), 1.0)
    cvr = np.fmin(np.fmax(np.asarray(pcvr, np.float64), 0.0), 1.0)
    mult = np.fmax(np.asarray(multiplier, np.float64), 0.0)
    rate = np.where(table.uses_cvr[idx], cvr, 1.0)
    high = table.max_cpm_micros[idx]
    raw = 1000.0 * ctr * rate * table.value_per_click[idx] * mult * _DOWN
    # Cap in float before the integer cast (an absurd value cannot overflow int64).
    value = np.floor(np.minimum(raw, high.astype(np.float64))).astype(np.int64)
    fixed = table.fixed_cpm_micros[idx]
    value = np.where(fixed > 0, fixed, value)
    bid = np.minimum(np.maximum(value, table.min_cpm_micros[idx]), high)
    has_value = value > 0
    below = has_value & (bid < np.asarray(floor_cpm_micros, np.int64))
    sent = has_value & ~below
    return ValuedBids(value, np.where(sent, bid, 0), sent, below)


def value_cpm_micros(goal: Goal, pctr: float, pcvr: float, multiplier: float = 1.0) -> int:
    """The scalar value of one impression to a goal, rounded down like ``value_bids``."""
    rate = pcvr if goal.uses_cvr else 1.0
    raw = 1000.0 * pctr * rate * goal.value_per_click_micros * multiplier * _DOWN
    return max(0, int(np.floor(raw)))


def bid_cpm(
    campaign: Priced,
    pctr: float,
    pcvr: float,
    floor_cpm_micros: int,
    multiplier: float = 1.0,
) -> BidDecision:
    """One campaign's bid on one impression (the scalar form of ``value_bids``)."""
    valued = value_bids(
        ValuationTable.of([campaign]), [0], [pctr], [pcvr], floor_cpm_micros, multiplier
    )
    return valued.decision(0)
