"""The guards of a canary rollout, as pure functions over each arm's running counts.

A canary is judged against the control it runs beside, on the same traffic at the same time,
so the day's shape and the market cancel out. Each guard is a metric of one arm — the bid
rate (bids per priced request), the win rate (billed impressions per bid), the spend rate
(micros charged per priced request: each arm's plan is its share of the traffic, so a canary
spending faster or slower per request than control is off plan), the eCPC and the error
rate — with a tolerance on the canary's relative difference from control.

The counts are looked at continuously, so a fixed-horizon test would roll back good canaries
far more often than its α says. A guard is breached only when the difference is beyond its
tolerance *and* the always-valid mSPRT of ``experiments.stats`` rejects "no difference" at
α divided among the guards: however often the guards are looked at, a canary no different
from control is rolled back with probability at most α.

Wins, spend and clicks arrive as events, not per request, so their variances are those of
compound Poisson sums over auctions: Σ (an auction's spend)², an auction's several
impressions summed first (they are won together, so counting them apart would understate
the variance and roll back good canaries). That overstates the variance of a win rate
(Poisson, not binomial), and leaving the covariance of spend and clicks out of the eCPC's
overstates it too (the two grow together): both err towards keeping a canary, never towards
a false rollback.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

from experiments.stats import mixing_variance, msprt_ratio

__all__ = ["ArmCounts", "Breach", "Guard", "GuardConfig", "judge"]


_RECENT_AUCTIONS = 100_000


class Guard(StrEnum):
    BID_RATE = "bid_rate"
    WIN_RATE = "win_rate"
    SPEND_RATE = "spend_rate"
    ECPC = "ecpc"
    ERROR_RATE = "error_rate"


@dataclass(slots=True)
class ArmCounts:
    """What one arm has done since the canary started (integers; money in micros)."""

    requests: int = 0
    """Requests with at least one value-based candidate priced (the units)."""
    bids: int = 0
    bids_squared: int = 0
    """Σ over requests of (bids in it)²: the bid rate's variance."""
    wins: int = 0
    """Billed impressions (an impression's first charge)."""
    wins_squared: int = 0
    """Σ over auctions of (its wins)²."""
    spend_micros: int = 0
    spend_squared: int = 0
    """Σ over auctions of (its spend)²: the spend's variance."""
    clicks: int = 0
    errors: int = 0
    """Requests whose canary models failed (they were priced by control's instead)."""
    _recent: OrderedDict[str, tuple[int, int]] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )
    """Wins and spend so far of the auctions charged lately (bounded: an auction whose
    entry has gone counts its later charges as a new auction's)."""

    def priced(self, bids: int) -> None:
        self.requests += 1
        self.bids += bids
        self.bids_squared += bids * bids

    def charged(self, auction_id: str, micros: int) -> None:
        """An impression of ``auction_id`` charged ``micros``."""
        wins, spend = self._recent.pop(auction_id, (0, 0))
        self.wins += 1
        self.wins_squared += 2 * wins + 1  # (w + 1)² − w²
        self.spend_micros += micros
        self.spend_squared += 2 * spend * micros + micros * micros
        self._recent[auction_id] = (wins + 1, spend + micros)
        if len(self._recent) > _RECENT_AUCTIONS:
            self._recent.popitem(last=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "bids": self.bids,
            "wins": self.wins,
            "spend_micros": self.spend_micros,
            "clicks": self.clicks,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """Tolerances (relative to control) and how much evidence a rollback needs."""

    bid_rate: float = 0.3
    win_rate: float = 0.3
    spend_rate: float = 0.3
    ecpc: float = 0.5
    """eCPC guards one way: a canary buying clicks cheaper is not rolled back."""
    max_error_rate: float = 0.01
    """The canary's share of requests whose models failed (control's cannot fail this way)."""
    min_errors: int = 10
    min_requests: int = 1000
    """Priced requests each arm needs before a guard is judged."""
    min_clicks: int = 30
    """Clicks each arm needs before the eCPC is judged."""
    alpha: float = 0.001
    """The chance of rolling back a canary no different from control, over all the guards
    and every look."""
    tolerances: dict[Guard, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "tolerances",
            {
                Guard.BID_RATE: self.bid_rate,
                Guard.WIN_RATE: self.win_rate,
                Guard.SPEND_RATE: self.spend_rate,
                Guard.ECPC: self.ecpc,
            },
        )


@dataclass(frozen=True, slots=True)
class Breach:
    """A guard the canary failed: what it measured against control, and the evidence."""

    guard: Guard
    control: float
    canary: float
    p_value: float

    @property
    def reason(self) -> str:
        change = self.canary / self.control - 1 if self.control else math.inf
        return (
            f"{self.guard.value} {self.canary:.6g} against control's {self.control:.6g} "
            f"({change:+.0%}, always-valid p {self.p_value:.2g})"
        )


@dataclass(frozen=True, slots=True)
class _Estimate:
    value: float
    variance: float


def _rate(total: int, squares: int, units: int) -> _Estimate:
    """A per-unit mean and its variance (from the sum of squares)."""
    if units < 2:
        return _Estimate(math.nan, math.nan)
    mean = total / units
    spread = max(squares / units - mean * mean, 0.0) * units / (units - 1)
    # At least one unit's worth of doubt: an arm that always bid once (or never) has no
    # spread, and without a floor no difference from it could ever be significant.
    return _Estimate(mean, max(spread, 1 / units) / units)


def _estimates(arm: ArmCounts) -> dict[Guard, _Estimate]:
    n = arm.requests
    out = {
        Guard.BID_RATE: _rate(arm.bids, arm.bids_squared, n),
        Guard.SPEND_RATE: (
            _Estimate(arm.spend_micros / n, arm.spend_squared / n**2)
            if n > 0
            else _Estimate(math.nan, math.nan)
        ),
    }
    if arm.bids > 0:
        b = arm.bids
        out[Guard.WIN_RATE] = _Estimate(arm.wins / b, max(arm.wins_squared, 1) / (b * b))
    if arm.clicks > 0:
        c = arm.clicks
        ecpc = arm.spend_micros / c
        out[Guard.ECPC] = _Estimate(ecpc, (arm.spend_squared + ecpc * ecpc * c) / (c * c))
    return out


def _bad(guard: Guard, relative: float, tolerance: float) -> bool:
    if guard is Guard.ECPC:  # cheaper clicks are not a failure
        return relative > tolerance
    return abs(relative) > tolerance


def judge(
    control: ArmCounts,
    canary: ArmCounts,
    config: GuardConfig,
    mixing: dict[Guard, float] | None = None,
) -> Breach | None:
    """The first guard the canary has failed so far, or None (not enough data counts as
    passing: a canary is rolled back on evidence, not on silence). ``mixing``: each guard's
    τ², set from control's value at the guard's first judged look and kept after (the
    mSPRT's promise holds for a mixture fixed in advance, not one that follows the data)."""
    mixing = {} if mixing is None else mixing
    if canary.errors >= config.min_errors and canary.requests > 0:
        share = canary.errors / canary.requests
        if share > config.max_error_rate:
            return Breach(Guard.ERROR_RATE, 0.0, share, 0.0)
    if min(control.requests, canary.requests) < config.min_requests:
        return None
    alpha = config.alpha / len(config.tolerances)
    ours, theirs = _estimates(canary), _estimates(control)
    for guard, tolerance in config.tolerances.items():
        if guard is Guard.ECPC and min(control.clicks, canary.clicks) < config.min_clicks:
            continue
        if guard not in ours or guard not in theirs:
            continue
        mine, base = ours[guard], theirs[guard]
        if not (base.value > 0 and math.isfinite(mine.value)):
            continue
        tau2 = mixing.setdefault(guard, mixing_variance(base.value, tolerance))
        relative = mine.value / base.value - 1
        if not _bad(guard, relative, tolerance):
            continue
        p_value = min(
            1.0,
            1.0 / msprt_ratio(mine.value - base.value, mine.variance + base.variance, tau2),
        )
        if p_value <= alpha:
            return Breach(guard, base.value, mine.value, p_value)
    return None
