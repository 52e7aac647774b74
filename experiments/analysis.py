"""``rtb experiment``'s analysis: each variant's figures, and each treatment against the
control by the sequential test (``experiments.stats``) over looks at the growing data."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from experiments.stats import (
    Estimate,
    SequentialTest,
    mixing_variance,
    ratio,
    sample_size,
    sequential_test,
)
from experiments.units import Units

__all__ = ["METRICS", "Analysis", "Comparison", "VariantFigures", "analyse"]

METRICS: Final = {
    "win_rate": ("impressions", "bids"),
    "ctr": ("clicks", "impressions"),
    "cvr": ("conversions", "clicks"),
    "ecpc": ("spend", "clicks"),
    "roi": ("value", "spend"),
}
"""Each metric as numerator and denominator columns (money in currency units)."""
_MICROS: Final = 1_000_000


def _column(units: Units, name: str) -> NDArray[np.float64]:
    if name in units.micros:
        return units.micros[name].astype(np.float64) / _MICROS
    return units.counts[name].astype(np.float64)


def estimate(units: Units, metric: str) -> Estimate:
    """``metric`` over ``units``, with its variance."""
    numerator, denominator = METRICS[metric]
    return ratio(_column(units, numerator), _column(units, denominator))


@dataclass(frozen=True, slots=True)
class VariantFigures:
    """One variant's totals (money in micros) and metrics."""

    name: str
    units: int
    counts: dict[str, int]
    micros: dict[str, int]
    metrics: dict[str, Estimate]


@dataclass(frozen=True, slots=True)
class Comparison:
    """A treatment against the control on the tested metric."""

    treatment: str
    test: SequentialTest
    needed_per_arm: int
    """Units per arm a fixed-horizon test would need for the minimum detectable effect."""


@dataclass(frozen=True, slots=True)
class Analysis:
    control: str
    metric: str
    alpha: float
    relative_mde: float
    power: float
    variants: tuple[VariantFigures, ...]
    comparisons: tuple[Comparison, ...]


def _figures(units: Units, name: str) -> VariantFigures:
    mine = units.of(name, len(units))
    return VariantFigures(
        name,
        len(mine),
        {k: int(v.sum()) for k, v in mine.counts.items()},
        {k: int(v.sum()) for k, v in mine.micros.items()},
        {metric: estimate(mine, metric) for metric in METRICS},
    )


def _look_points(n: int, looks: int) -> list[int]:
    return sorted({max(1, math.ceil(n * (i + 1) / looks)) for i in range(looks)})


def analyse(
    units: Units,
    control: str,
    metric: str,
    *,
    alpha: float,
    relative_mde: float,
    power: float,
    looks: int,
) -> Analysis:
    """Figures of every variant, and each other variant against ``control`` on ``metric``
    after each of ``looks`` equal steps through the units (as a daily look would see them);
    ValueError naming an unknown control or metric."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    names = sorted(set(units.variant.tolist()))
    if control not in names:
        raise ValueError(f"no units of the control {control!r} (variants: {', '.join(names)})")
    figures = tuple(_figures(units, name) for name in names)
    base = next(f for f in figures if f.name == control).metrics[metric]
    tau2 = mixing_variance(base.value, relative_mde) if math.isfinite(base.value) else math.nan
    comparisons = []
    points = _look_points(len(units), looks)
    for name in names:
        if name == control:
            continue
        steps: Sequence[tuple[Estimate, Estimate]] = [
            (estimate(units.of(control, k), metric), estimate(units.of(name, k), metric))
            for k in points
        ]
        test = sequential_test(steps, alpha, tau2 if tau2 > 0 else 1e-12)
        needed = (
            sample_size(base.unit_variance, base.value, relative_mde, alpha, power)
            if math.isfinite(base.unit_variance)
            else 0
        )
        comparisons.append(Comparison(name, test, needed))
    return Analysis(control, metric, alpha, relative_mde, power, figures, tuple(comparisons))
