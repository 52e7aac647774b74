"""The reference strategies of the iPinYou benchmark, whose bids depend on pCTR alone.

* **Const**: one bid for every impression.
* **Lin** (Perlich et al. 2012, as benchmarked by Zhang et al. 2014): bid = b0 × pCTR ÷ the
  training log's average CTR.
* **ORTB** (Zhang, Yuan, Wang 2014, the concave form ORTB1): bid = √(c/λ × pCTR + c²) − c.

Each is a frozen parameter set with ``bids(pctr)`` in CPM micros and a ``grid`` of the
parameter sets ``simulation.replay.tuning`` tries on the training log. Bids are computed
in floats (CPM of the log's unit) and rounded down to the micro, then compared with the
market price in integer micros.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

from openrtb.money import MICROS_PER_UNIT
from simulation.replay.logs import AuctionLog

__all__ = [
    "Const",
    "FixedStrategy",
    "Lin",
    "Ortb",
    "TrainingFacts",
    "const_grid",
    "lin_grid",
    "ortb_grid",
]

_MAX_BID_CPM: Final = 1e9
_LIN_STEPS: Final = tuple(2.0 ** (k / 8) for k in range(-48, 33))
"""b0 from 1/64 to 16 times the training CPM, in steps of 2^(1/8) (9 %)."""
_ORTB_C: Final = (0.5, 1.0, 2.0)
"""c as a multiple of the training CPM (Zhang 2014 tunes c with λ)."""
_ORTB_STEPS: Final = tuple(2.0 ** (k / 4) for k in range(-24, 17))


class FixedStrategy(Protocol):
    """A strategy whose bid is a function of the impression's pCTR only."""

    @property
    def label(self) -> str: ...

    def bids(self, pctr: NDArray[np.float64]) -> NDArray[np.int64]: ...


@dataclass(frozen=True, slots=True)
class TrainingFacts:
    """What the strategies may know of the training log (never of the test log)."""

    avg_ctr: float
    """Clicks per impression."""
    avg_cpm: float
    """Mean market price, CPM of the log's unit."""
    ecpc_micros: int
    """Cost per click when buying every impression, micros (the value of a click)."""
    price_quantiles_cpm: tuple[float, ...]

    @classmethod
    def of(cls, log: AuctionLog) -> "TrainingFacts":
        clicks = int(log.click.sum())
        if clicks == 0:
            raise ValueError(f"{log.source}: no clicks in the training log: nothing to learn")
        cpm = log.price_cpm_micros / MICROS_PER_UNIT
        levels = np.quantile(cpm, np.linspace(0.0, 1.0, 61))
        return cls(
            avg_ctr=clicks / len(log),
            avg_cpm=float(cpm.mean()),
            ecpc_micros=log.total_cost_micros // clicks,
            price_quantiles_cpm=tuple(float(q) for q in np.unique(levels)),
        )


def _micros(bid_cpm: NDArray[np.float64]) -> NDArray[np.int64]:
    capped = np.minimum(np.fmax(bid_cpm, 0.0), _MAX_BID_CPM)
    out: NDArray[np.int64] = np.floor(capped * MICROS_PER_UNIT).astype(np.int64)
    return out


@dataclass(frozen=True, slots=True)
class Const:
    bid_cpm: float

    @property
    def label(self) -> str:
        return f"bid {self.bid_cpm:.4g}"

    def bids(self, pctr: NDArray[np.float64]) -> NDArray[np.int64]:
        return _micros(np.full(len(pctr), self.bid_cpm))


@dataclass(frozen=True, slots=True)
class Lin:
    base_bid_cpm: float
    avg_ctr: float

    @property
    def label(self) -> str:
        return f"b0 {self.base_bid_cpm:.4g}"

    def bids(self, pctr: NDArray[np.float64]) -> NDArray[np.int64]:
        return _micros(self.base_bid_cpm * pctr / self.avg_ctr)


@dataclass(frozen=True, slots=True)
class Ortb:
    c_cpm: float
    lam: float
    """λ, per CPM of the log's unit."""

    @property
    def label(self) -> str:
        return f"c {self.c_cpm:.4g}, λ {self.lam:.3g}"

    def bids(self, pctr: NDArray[np.float64]) -> NDArray[np.int64]:
        c = self.c_cpm
        return _micros(np.sqrt(c / self.lam * pctr + c * c) - c)


def const_grid(facts: TrainingFacts) -> Sequence[Const]:
    """Bids at the training prices' quantiles (every 1/60th), and above the highest."""
    top = facts.price_quantiles_cpm[-1]
    return [Const(q) for q in facts.price_quantiles_cpm] + [Const(math.floor(top) + 1.0)]


def lin_grid(facts: TrainingFacts) -> Sequence[Lin]:
    return [Lin(facts.avg_cpm * step, facts.avg_ctr) for step in _LIN_STEPS]


def ortb_grid(facts: TrainingFacts) -> Sequence[Ortb]:
    """λ around the value where ORTB's slope at low pCTR, 1 ÷ (2λ), is Lin's b0 ÷ CTR."""
    lam_mid = facts.avg_ctr / (2 * facts.avg_cpm)
    return [Ortb(facts.avg_cpm * c, lam_mid / step) for c in _ORTB_C for step in _ORTB_STEPS]
