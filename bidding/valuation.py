"""Value-based bids: what an impression is worth to a campaign, as a CPM in integer micros.

The three goals all reduce to *value per click* × pCTR (× pCVR when the goal is paid per
conversion), so one vectorised expression prices every candidate of a request at once:

* ROI: CPM = 1000 × pCTR × pCVR × conversion value ÷ target ROI × pacing multiplier
* CPA: CPM = 1000 × pCTR × pCVR × target CPA × pacing multiplier
* CPC: CPM = 1000 × pCTR × target CPC × pacing multiplier

The CPM is then clipped to the campaign's [min bid, max bid]; a bid below the impression's
floor is not sent (``Unsent.BELOW_FLOOR``), nor is one whose value is zero
(``Unsent.NO_VALUE``: a pCTR of 0, or a pacing multiplier of 0 — clipping such a value *up* to
the min bid would spend money pacing asked not to spend). A fixed-price campaign (no goal)
bids its ``bid_cpm_micros`` unchanged: no models, no pacing multiplier, still against floors.

Rounding: the product is computed in float64 and rounded *down* to the micro after being
scaled by (1 − 2⁻⁴⁰). The float product is within a few ulps (~10⁻¹⁵ relative) of the exact
product of the inputs, so the scaled value is never above the exact value: a campaign never
bids a micro above what the impression is worth to it, at the price of bidding at most one
micro below it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "VALUE_VECTOR_MIN",
    "BidDecision",
    "Goal",
    "GoalKind",
    "Priced",
    "Unsent",
    "ValuationTable",
    "ValuedBids",
    "bid_cpm",
    "value_bids",
    "value_bids_scalar",
    "value_bids_vector",
    "value_cpm_micros",
]

_DOWN: Final = 1.0 - 2.0**-40
"""Scale applied before rounding down, so float error can never round a bid up (see above)."""

VALUE_VECTOR_MIN: Final = 64
"""From this many candidates the vectorised bid formula is faster than plain Python inside
the router (measured: docs/performance.md, ``bench.router_paths``)."""

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


class Unsent(StrEnum):
    """Why a candidate's bid is not sent."""

    NO_VALUE = "no value"
    BELOW_FLOOR = "below floor"


class BidDecision(NamedTuple):
    """A scalar decision: a bid and no reason, or no bid and the reason."""

    bid_cpm_micros: int | None
    reason: Unsent | None


_NO_MAX: Final = 2**62


_Row = tuple[float, bool, int, int, int, float]
"""One campaign of a ``ValuationTable`` as plain numbers: value per click, uses pCVR, fixed,
min and max CPM micros, the max as a float."""


@dataclass(frozen=True, slots=True)
class ValuationTable:
    """Per campaign (by position), the numbers the bid formula needs, built once: as arrays
    for the vectorised path, as tuples of Python numbers for the scalar one."""

    value_per_click: FloatArray
    uses_cvr: npt.NDArray[np.bool_]
    fixed_cpm_micros: IntArray
    """The fixed price of a campaign without a goal; 0 for value-based campaigns."""
    min_cpm_micros: IntArray
    max_cpm_micros: IntArray
    rows: tuple[_Row, ...]

    @classmethod
    def of(cls, campaigns: Sequence[Priced]) -> ValuationTable:
        """The table of ``campaigns`` in their order (positions match the index's)."""
        rows = []
        for campaign in campaigns:
            goal = campaign.goal
            if goal is None:
                rows.append((0.0, False, campaign.bid_cpm_micros, 0, _NO_MAX, float(_NO_MAX)))
                continue
            high = campaign.max_bid_cpm_micros
            high = _NO_MAX if high is None else high
            row = (goal.value_per_click_micros, goal.uses_cvr, 0, campaign.min_bid_cpm_micros)
            rows.append((*row, high, float(high)))
        columns = list(zip(*rows, strict=True)) or [()] * 6
        return cls(
            np.array(columns[0], np.float64),
            np.array(columns[1], np.bool_),
            np.array(columns[2], np.int64),
            np.array(columns[3], np.int64),
            np.array(columns[4], np.int64),
            tuple(rows),
        )


@dataclass(frozen=True, slots=True)
class ValuedBids:
    """The bids of a batch of candidates: ``bid_cpm_micros[i]`` is sent when ``sent[i]``."""

    value_cpm_micros: IntArray
    """What each impression is worth (before clipping), rounded down."""
    bid_cpm_micros: IntArray
    """Clipped to the campaign's [min, max]; 0 where nothing is sent."""
    sent: npt.NDArray[np.bool_]
    below_floor: npt.NDArray[np.bool_]

    def reason(self, i: int) -> Unsent | None:
        """Why candidate ``i`` sends nothing (None when it bids)."""
        if self.sent[i]:
            return None
        return Unsent.BELOW_FLOOR if self.below_floor[i] else Unsent.NO_VALUE

    def decision(self, i: int) -> BidDecision:
        """Candidate ``i`` as a scalar decision."""
        reason = self.reason(i)
        return BidDecision(None if reason else int(self.bid_cpm_micros[i]), reason)


def value_bids(
    table: ValuationTable,
    positions: npt.NDArray[np.intp] | Sequence[int],
    pctr: FloatArray | Sequence[float],
    pcvr: FloatArray | Sequence[float],
    floor_cpm_micros: int | IntArray | Sequence[int],
    multiplier: float | FloatArray | Sequence[float] = 1.0,
) -> ValuedBids:
    """Bids of the candidates at ``positions`` of ``table``.

    ``pctr``/``pcvr`` are the models' probabilities per candidate (clipped to [0, 1]; NaN
    counts as 0); ``floor_cpm_micros`` the floor each candidate bids against (a scalar for
    one impression); ``multiplier`` the pacing multiplier (scalar or per candidate, ≥ 0).
    Below ``VALUE_VECTOR_MIN`` candidates in plain Python, from it in one vectorised pass:
    the same float operations in the same order, so the same micros.
    """
    if len(positions) < VALUE_VECTOR_MIN:
        return value_bids_scalar(table, positions, pctr, pcvr, floor_cpm_micros, multiplier)
    return value_bids_vector(table, positions, pctr, pcvr, floor_cpm_micros, multiplier)


def value_bids_vector(
    table: ValuationTable,
    positions: npt.NDArray[np.intp] | Sequence[int],
    pctr: FloatArray | Sequence[float],
    pcvr: FloatArray | Sequence[float],
    floor_cpm_micros: int | IntArray | Sequence[int],
    multiplier: float | FloatArray | Sequence[float] = 1.0,
) -> ValuedBids:
    """``value_bids`` in one vectorised pass (many candidates)."""
    idx = np.asarray(positions, dtype=np.intp)
    # fmax/fmin return the non-NaN operand: NaN → 0, then clipped (plain ufuncs: np.clip
    # and np.nan_to_num cost several times more).
    ctr = np.fmin(np.fmax(np.asarray(pctr, np.float64), 0.0), 1.0)
    cvr = np.fmin(np.fmax(np.asarray(pcvr, np.float64), 0.0), 1.0)
    mult = np.fmax(np.asarray(multiplier, np.float64), 0.0)
    rate = np.where(table.uses_cvr[idx], cvr, 1.0)
    high = table.max_cpm_micros[idx]
    with np.errstate(invalid="ignore", over="ignore"):  # 0 × inf: NaN, no value below
        raw = 1000.0 * ctr * rate * table.value_per_click[idx] * mult * _DOWN
    # NaN is no value; cap in float before the integer cast (an absurd value cannot overflow
    # int64).
    capped = np.minimum(np.fmax(raw, 0.0), high.astype(np.float64))
    value = np.floor(capped).astype(np.int64)
    fixed = table.fixed_cpm_micros[idx]
    value = np.where(fixed > 0, fixed, value)
    bid = np.minimum(np.maximum(value, table.min_cpm_micros[idx]), high)
    has_value = value > 0
    below = has_value & (bid < np.asarray(floor_cpm_micros, np.int64))
    sent = has_value & ~below
    return ValuedBids(value, np.where(sent, bid, 0), sent, below)


def value_bids_scalar(
    table: ValuationTable,
    positions: npt.NDArray[np.intp] | Sequence[int],
    pctr: FloatArray | Sequence[float],
    pcvr: FloatArray | Sequence[float],
    floor_cpm_micros: int | IntArray | Sequence[int],
    multiplier: float | FloatArray | Sequence[float] = 1.0,
) -> ValuedBids:
    """``value_bids`` one candidate at a time in Python floats and ints (a handful)."""
    n = len(positions)
    rows, floor = table.rows, math.floor
    values: list[int] = []
    bids: list[int] = []
    sent: list[bool] = []
    below: list[bool] = []
    for position, ctr, cvr, mult, floor_micros in zip(
        _ints(positions, n),
        _floats(pctr, n),
        _floats(pcvr, n),
        _floats(multiplier, n),
        _ints(floor_cpm_micros, n),
        strict=True,
    ):
        per_click, uses_cvr, value, low, high, high_float = rows[position]
        if value <= 0:  # value-based (a fixed price is the value)
            # The vectorised path's fmax/fmin (NaN → 0, clipped to [0, 1]), then the same
            # products in the same order.
            ctr = (ctr if ctr < 1.0 else 1.0) if ctr > 0.0 else 0.0
            rate = ((cvr if cvr < 1.0 else 1.0) if cvr > 0.0 else 0.0) if uses_cvr else 1.0
            raw = 1000.0 * ctr * rate * per_click * (mult if mult > 0.0 else 0.0) * _DOWN
            # Zero or NaN is no value; capped in float like the vectorised path.
            value = floor(raw if raw < high_float else high_float) if raw > 0.0 else 0
        values.append(value)
        bid = low if value < low else value
        bid = high if bid > high else bid
        ok = value > 0 and bid >= floor_micros
        below.append(value > 0 and not ok)
        sent.append(ok)
        bids.append(bid if ok else 0)
    numbers, flags = np.array((values, bids), np.int64), np.array((sent, below), np.bool_)
    return ValuedBids(numbers[0], numbers[1], flags[0], flags[1])


_SCALARS: Final = (int, float, np.generic)


def _floats(values: float | FloatArray | Sequence[float], n: int) -> Sequence[float]:
    """``n`` Python numbers from a scalar (repeated), an array or a sequence (as it is:
    Python arithmetic on its ints and floats is numpy's on their float64 values)."""
    if isinstance(values, np.ndarray):
        out: float | list[float] = values.tolist()
        return out if isinstance(out, list) else [out] * n
    if isinstance(values, _SCALARS):
        return [float(values)] * n
    return values


def _ints(values: int | IntArray | npt.NDArray[np.intp] | Sequence[int], n: int) -> Sequence[int]:
    """``n`` Python ints from a scalar (repeated), an array or a sequence (as it is)."""
    if isinstance(values, np.ndarray):
        out: int | list[int] = values.tolist()
        return out if isinstance(out, list) else [out] * n
    if isinstance(values, _SCALARS):
        return [int(values)] * n
    return values


def value_cpm_micros(goal: Goal, pctr: float, pcvr: float, multiplier: float = 1.0) -> int:
    """The scalar value of one impression to a goal, rounded down like ``value_bids``."""
    rate = pcvr if goal.uses_cvr else 1.0
    raw = 1000.0 * pctr * rate * goal.value_per_click_micros * multiplier * _DOWN
    return max(0, math.floor(raw))


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
