"""The statistics of an A/B test of bid strategies, as pure functions over numpy arrays.

Every metric a buyer compares is a ratio of sums over units (rows: auctions, users):
CTR = clicks ÷ impressions, CVR = conversions ÷ clicks, eCPC = spend ÷ clicks, ROI =
value ÷ spend. ``ratio`` estimates one with its variance by the delta method, so the units
need not be independent draws of the denominator.

Peeking at a fixed-horizon z-test every day inflates its false-positive rate far above α;
the test here stays valid however often it is looked at. It is the mixture sequential
probability ratio test (mSPRT) with a normal mixing distribution N(0, τ²) over the
difference of the two arms' estimates, whose likelihood ratio against "no difference" is

    Λ = √(v / (v + τ²)) · exp(τ² · d² / (2 · v · (v + τ²)))

for an estimated difference d with variance v. Λ is a nonnegative martingale under the null,
so by Ville's inequality P(Λ ever reaches 1/α) ≤ α: the always-valid p-value is the running
minimum of 1/Λ over the looks, and the always-valid confidence interval the intersection of
the sets {δ : Λ(d − δ) < 1/α} over them. τ sets which effects the test is quickest on;
``mixing_variance`` takes it from the minimum detectable effect.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

__all__ = [
    "Estimate",
    "Look",
    "SequentialTest",
    "mixing_variance",
    "msprt_ratio",
    "ratio",
    "sample_size",
    "sequential_test",
]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A ratio of sums over ``units`` and the variance of that estimate; ``unit_variance``
    is the variance of one unit's linearised contribution (what a sample size needs)."""

    value: float
    variance: float
    unit_variance: float
    units: int

    def interval(self, alpha: float) -> tuple[float, float]:
        """The fixed-horizon (1 − ``alpha``) interval: valid at one look decided in advance."""
        half = float(norm.ppf(1 - alpha / 2)) * math.sqrt(self.variance)
        return self.value - half, self.value + half


def ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> Estimate:
    """Σ numerator ÷ Σ denominator over the units, with its delta-method variance; NaN
    where the denominator sums to zero or fewer than two units exist."""
    n = len(numerator)
    total = float(denominator.sum())
    if n < 2 or total == 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    value = float(numerator.sum()) / total
    linear = (numerator - value * denominator) / (total / n)
    unit_variance = float(linear.var(ddof=1))
    return Estimate(value, unit_variance / n, unit_variance, n)


def mixing_variance(baseline: float, relative_mde: float) -> float:
    """τ² for an effect of ``relative_mde`` on a metric at ``baseline``: the mixture then
    puts its weight where the effects worth finding are."""
    return (relative_mde * baseline) ** 2


def msprt_ratio(difference: float, variance: float, tau2: float, delta: float = 0.0) -> float:
    """Λ of the hypothesis "the difference is ``delta``" (module docstring)."""
    if not variance > 0:
        return 1.0
    total = variance + tau2
    exponent = tau2 * (difference - delta) ** 2 / (2 * variance * total)
    return math.sqrt(variance / total) * math.exp(min(exponent, 700.0))


def _half_width(variance: float, tau2: float, alpha: float) -> float:
    """Half the width of {δ : Λ(δ) < 1/α} at one look."""
    total = variance + tau2
    return math.sqrt(
        variance * total / tau2 * (2 * math.log(1 / alpha) + math.log(total / variance))
    )


@dataclass(frozen=True, slots=True)
class Look:
    """The test as it stood after one look at the data."""

    units: tuple[int, int]
    difference: float
    p_value: float
    """Always valid: the smallest 1/Λ so far (capped at 1)."""
    interval: tuple[float, float]
    """Always valid: the intersection of every look's interval so far."""


@dataclass(frozen=True, slots=True)
class SequentialTest:
    """Every look of an mSPRT of treatment − control, and its verdict at ``alpha``."""

    looks: tuple[Look, ...]
    alpha: float
    tau2: float

    @property
    def rejected(self) -> bool:
        """Whether the test has found a difference (at any look, so for good)."""
        return bool(self.looks) and self.looks[-1].p_value <= self.alpha


def sequential_test(
    looks: Sequence[tuple[Estimate, Estimate]], alpha: float, tau2: float
) -> SequentialTest:
    """The mSPRT over successive (control, treatment) estimates, each on all the data up to
    its look; a look where either estimate is undefined changes nothing."""
    p_value, low, high = 1.0, -math.inf, math.inf
    out = []
    for control, treatment in looks:
        difference = treatment.value - control.value
        variance = treatment.variance + control.variance
        if math.isfinite(difference) and variance > 0:
            p_value = min(p_value, 1.0 / msprt_ratio(difference, variance, tau2))
            half = _half_width(variance, tau2, alpha)
            low, high = max(low, difference - half), min(high, difference + half)
        out.append(
            Look((control.units, treatment.units), difference, min(p_value, 1.0), (low, high))
        )
    return SequentialTest(tuple(out), alpha, tau2)


def sample_size(unit_variance: float, baseline: float, relative_mde: float,
                alpha: float, power: float) -> int:  # fmt: skip
    """Units per arm a fixed-horizon two-sided test at ``alpha`` needs to find a change of
    ``relative_mde`` × ``baseline`` with probability ``power`` (equal arms, the control's
    unit variance for both)."""
    effect = relative_mde * baseline
    if not (effect != 0 and unit_variance > 0):
        return 0
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    return math.ceil(2 * unit_variance * z**2 / effect**2)
