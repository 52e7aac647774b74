"""Bid shading for first-price auctions, from a bid landscape learned per context bucket.

In a first-price auction paying one's value leaves no surplus; the bid that maximises
expected surplus is ``argmax_b (value − b) × P(win | b)``. ``P(win | b)`` is the probability
that the highest competing bid (the *minimum bid to win*) is below ``b``; a ``Landscape``
keeps a discretised distribution of it for one bucket (for example publisher × size ×
country), learned online from what the exchange tells us:

* a loss notice with the minimum bid to win, or a win with the clearing/second price, gives
  the competing price exactly → its bin gets one observation;
* a win or a loss *without* a price says only "below my bid" or "at or above my bid" (a
  censored observation) → one observation spread over the bins on that side in proportion to
  their current weight (one EM step, so no price is invented);
* every observation first decays all weights by ``decay``, so the landscape follows a
  market that moves (the effective memory is about 1 ÷ (1 − decay) observations).

A new bucket starts from a prior worth a few observations — a log-normal around a typical
price, or the router-wide landscape (``LandscapeBook``) — so its first shaded bids are sane,
and its own data take over after a few dozen auctions.

``shade`` searches a grid of 101 bids from the floor to the value, so it is within 1 % of the
value of the optimum (the landscape's 256 log-spaced bins from 0.01 to 100 CPM are each about
3.7 % wide); bids are integer micros rounded *down* and never above the value.
Second-price auctions bid the value (``bid_for``): there shading only loses auctions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Final

import numpy as np
import numpy.typing as npt

from openrtb.enums import AuctionType

__all__ = [
    "MAX_BUCKETS",
    "Landscape",
    "LandscapeBook",
    "bid_for",
    "bucket_key",
    "shade",
    "shade_many",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

GRID_STEPS: Final = 100
"""Candidate bids per shading decision (from the floor to the value, both included)."""
TIE_FRACTION: Final = 1e-6
"""Expected surpluses within this fraction of the value count as equal."""


class Landscape:
    """The distribution of the highest competing bid in one bucket, in CPM micros.

    Bins: ``[0, e₀)``, the log-spaced ``[eᵢ, eᵢ₊₁)`` and ``[e_K, ∞)``; within a bin the mass is
    taken as spread evenly (linear interpolation of the CDF).
    """

    __slots__ = ("_cdf", "decay", "points", "weights")

    def __init__(self, points: FloatArray, weights: FloatArray, decay: float = 0.999) -> None:
        if points.ndim != 1 or weights.shape != points.shape or points[0] != 0.0:
            raise ValueError("points start at 0 and pair with weights")
        if not 0.0 < decay <= 1.0:
            raise ValueError("decay must be in (0, 1]")
        self.points = points
        self.weights = weights.astype(np.float64)
        self.decay = decay
        self._cdf: FloatArray | None = None

    @classmethod
    def log_normal(
        cls,
        median_cpm_micros: float = 1_000_000,
        sigma: float = 1.0,
        strength: float = 10.0,
        low_micros: float = 10_000,
        high_micros: float = 100_000_000,
        bins: int = 256,
        decay: float = 0.999,
    ) -> Landscape:
        """A prior: competing bids log-normal around a median, worth ``strength`` auctions."""
        edges = np.geomspace(low_micros, high_micros, bins + 1)
        points = np.concatenate(([0.0], edges))
        z = (np.log(edges) - np.log(median_cpm_micros)) / sigma
        cdf_edges = 0.5 * (1.0 + _erf(z / np.sqrt(2.0)))
        cdf = np.concatenate(([0.0], cdf_edges, [1.0]))
        weights = np.diff(cdf) * strength
        return cls(points, weights, decay)

    def copy(self, strength: float | None = None) -> Landscape:
        """An independent copy, rescaled to ``strength`` observations when given."""
        weights = self.weights.copy()
        if strength is not None:
            weights *= strength / max(weights.sum(), 1e-12)
        return Landscape(self.points, weights, self.decay)

    @property
    def observations(self) -> float:
        """The effective number of observations (prior included, after decay)."""
        return float(self.weights.sum())

    def cdf(self) -> FloatArray:
        """P(competing bid < point) at every point (cached until the next observation)."""
        if self._cdf is None:
            total = self.weights.sum()
            cum = np.concatenate(([0.0], np.cumsum(self.weights[:-1])))
            self._cdf = cum / total if total > 0 else cum
        return self._cdf

    def win_probability(self, bids_micros: npt.ArrayLike) -> FloatArray:
        """P(win | bid) for first price: the competing bid is below ours."""
        return np.interp(np.asarray(bids_micros, np.float64), self.points, self.cdf())

    def _bin(self, price_micros: float) -> int:
        return int(np.searchsorted(self.points, price_micros, side="right")) - 1

    def _below_fraction(self, bid_micros: float) -> FloatArray:
        """Per bin, the fraction of it below ``bid_micros`` (the last bin counts as above)."""
        lower = self.points
        upper = np.append(self.points[1:], np.inf)
        width = np.where(np.isfinite(upper), upper - lower, 1.0)
        frac = np.clip((bid_micros - lower) / width, 0.0, 1.0)
        frac[-1] = 0.0
        return frac

    def observe(self, bid_micros: int, won: bool, min_to_win_micros: int | None = None) -> None:
        """One auction's feedback: our bid, whether it won, and the minimum bid to win when
        the exchange told us (loss notice, or the competing price on a win)."""
        self.weights *= self.decay
        self._cdf = None
        if min_to_win_micros is not None:
            self.weights[self._bin(max(0, min_to_win_micros))] += 1.0
            return
        below = self._below_fraction(float(bid_micros))
        share = self.weights * (below if won else 1.0 - below)
        total = share.sum()
        if total <= 0.0:
            self.weights[self._bin(max(0, bid_micros - 1) if won else bid_micros)] += 1.0
            return
        self.weights += share / total


def _erf(x: FloatArray) -> FloatArray:
    """Error function (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7): enough for a prior."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    result: FloatArray = sign * (1.0 - poly * np.exp(-a * a))
    return result


def shade_many(
    values_micros: npt.ArrayLike, landscape: Landscape, floor_micros: npt.ArrayLike = 0
) -> IntArray:
    """Shaded first-price bids for many candidates of one impression (one landscape).

    For each value, the bid on a grid of ``GRID_STEPS + 1`` points from the floor to the value
    that maximises (value − bid) × P(win | bid); ties (within ``TIE_FRACTION`` of the value)
    go to the higher bid (same surplus, more wins). Where the floor is above the value, the
    value itself is returned (the caller drops it as below the floor). Integer micros, rounded
    down; never above the value.
    """
    values = np.asarray(values_micros, np.int64)
    floors = np.broadcast_to(np.asarray(floor_micros, np.int64), values.shape)
    low = np.minimum(np.maximum(floors, 1), values)
    steps = np.arange(GRID_STEPS + 1, dtype=np.float64) / GRID_STEPS
    span = (values - low).astype(np.float64)
    grid = low[:, None] + np.floor(span[:, None] * steps[None, :]).astype(np.int64)
    grid[:, -1] = values  # the value itself is always a candidate
    surplus = (values[:, None] - grid) * landscape.win_probability(grid)
    # Expected surpluses closer than a millionth of the value are ties; the highest bid wins
    # them (with no real chance of winning below the value, that is the value itself).
    tolerance = surplus.max(axis=1) - values * TIE_FRACTION
    near_best = surplus >= tolerance[:, None]
    best_from_top = np.argmax(near_best[:, ::-1], axis=1)
    chosen = grid[np.arange(values.size), GRID_STEPS - best_from_top]
    result: IntArray = np.minimum(chosen, values)
    return result


def shade(value_micros: int, landscape: Landscape, floor_micros: int = 0) -> int:
    """The shaded first-price bid for one value (see ``shade_many``)."""
    if value_micros <= 0:
        return 0
    return int(shade_many(np.array([value_micros]), landscape, floor_micros)[0])


def bid_for(at: int, value_micros: int, landscape: Landscape | None, floor_micros: int = 0) -> int:
    """What to bid for a value in an auction of type ``at``: shaded in first price (when a
    landscape is known), the value itself otherwise (second price rewards truthful bids)."""
    if at == AuctionType.FIRST_PRICE and landscape is not None:
        return shade(value_micros, landscape, floor_micros)
    return value_micros


def bucket_key(publisher_id: str | None, w: int, h: int, country: str | None) -> str:
    """The context bucket of an impression: publisher × size × country."""
    return f"{publisher_id or '-'}|{w}x{h}|{(country or '-').upper()}"


MAX_BUCKETS: Final = 20_000
"""Buckets a book keeps (each about 2 KB); the least recently used go first, so a client
inventing publishers cannot grow it without bound."""


class LandscapeBook:
    """Landscapes by bucket; a new bucket starts from the router-wide landscape, rescaled to a
    few observations, so it begins sane and learns its own market quickly. At most
    ``max_buckets`` are kept, the least recently used dropped first."""

    __slots__ = ("_buckets", "global_landscape", "max_buckets", "prior_strength")

    def __init__(
        self,
        prior: Landscape | None = None,
        prior_strength: float = 10.0,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.global_landscape = prior or Landscape.log_normal()
        self.prior_strength = prior_strength
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, Landscape] = OrderedDict()

    def get(self, bucket: str) -> Landscape:
        """The bucket's landscape, created from the router-wide one when new."""
        landscape = self._buckets.get(bucket)
        if landscape is None:
            landscape = self.global_landscape.copy(self.prior_strength)
            self.put(bucket, landscape)
        else:
            self._buckets.move_to_end(bucket)
        return landscape

    def peek(self, bucket: str) -> Landscape:
        """The bucket's landscape to read (shading a bid): a new bucket's prior is not kept,
        so a bucket is made only by feedback, as ``rtb landscapes`` makes it from the log (a
        bucket made when a bid was shaded that then never came to feedback would start from
        an older router-wide landscape than the log's)."""
        landscape = self._buckets.get(bucket)
        if landscape is None:
            return self.global_landscape.copy(self.prior_strength)
        return landscape

    def put(self, bucket: str, landscape: Landscape) -> None:
        """Set the bucket's landscape (the most recently used)."""
        self._buckets[bucket] = landscape
        self._buckets.move_to_end(bucket)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)

    def items(self) -> Iterator[tuple[str, Landscape]]:
        """Every bucket and its landscape, least recently used first."""
        return iter(list(self._buckets.items()))

    def observe(
        self, bucket: str, bid_micros: int, won: bool, min_to_win_micros: int | None = None
    ) -> None:
        """Feedback of one auction, into its bucket and into the router-wide landscape."""
        self.get(bucket).observe(bid_micros, won, min_to_win_micros)
        self.global_landscape.observe(bid_micros, won, min_to_win_micros)

    def merged(self, other: LandscapeBook) -> LandscapeBook:
        """A new book: this one's buckets, then ``other``'s router-wide landscape and each of
        its buckets in their place (a rebuilt book: the landscape file). Copies only, so it
        can be built off the event loop and swapped in whole."""
        book = LandscapeBook(other.global_landscape.copy(), self.prior_strength, self.max_buckets)
        for bucket, landscape in self.items():
            book.put(bucket, landscape.copy())
        for bucket, landscape in other.items():
            book.put(bucket, landscape.copy())
        return book

    def __len__(self) -> int:
        return len(self._buckets)
