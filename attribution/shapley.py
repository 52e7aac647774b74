"""Data-driven attribution: the Shapley value of each channel in a coalition game over paths.

A path's channels are the set it touched; paths with none are left out (their value is
nobody's). The worth of a coalition S of channels is read from the paths whose channels all
lie in S, the world in which only S's channels existed (docs/decisions.md):

* ``subset``: v(S) = the value of those paths. The game is a sum of one unanimity game per
  path, so a channel's Shapley value is the sum over its paths of value ÷ distinct channels
  on the path (Zhao et al. 2018): linear, but by channel instead of by touch;
* ``rate``: v(S) = P × (their value ÷ their number), P the number of all paths: value per
  path in that world, times the paths. It needs paths that did not convert, and a channel
  whose paths convert less than the others' gets a negative share.

Either way v(∅) = 0 and v(all) is the value of the paths, which the values add up to
(efficiency). Exact by enumerating every coalition up to ``exact_up_to`` channels (2^k worths
by a subset-sum transform, numpy), beyond that Monte Carlo over random orders of the channels
(each order's marginal contributions add up to v(all) exactly too), with each value's
standard error.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from attribution.journeys import ConversionPath

__all__ = ["EXACT_UP_TO", "FORMS", "Form", "ShapleyValues", "shapley"]

Form = Literal["subset", "rate"]
FORMS: Final[tuple[Form, ...]] = ("subset", "rate")
EXACT_UP_TO: Final = 12
"""4,096 coalitions: exact in milliseconds; every channel more doubles the work."""
_CELLS_PER_CHUNK: Final = 2_000_000


@dataclass(frozen=True, slots=True)
class ShapleyValues:
    """Each channel's value in micros (floats; they add up to the paths' value) and, when
    sampled, its standard error (None when exact)."""

    channels: tuple[str, ...]
    values: NDArray[np.float64]
    std_error: NDArray[np.float64] | None
    permutations: int
    form: Form


@dataclass(frozen=True, slots=True)
class _Game:
    """Distinct channel sets (rows of ``contains``) with their paths' value and number."""

    channels: tuple[str, ...]
    contains: NDArray[np.bool_]
    value: NDArray[np.float64]
    count: NDArray[np.float64]
    form: Form

    def worth(self, value: NDArray[np.float64], count: NDArray[np.float64]) -> NDArray[Any]:
        if self.form == "subset":
            return value
        paths = float(self.count.sum())
        rate = np.divide(value, count, out=np.zeros_like(value), where=count > 0)
        return paths * rate


def _game(paths: Sequence[ConversionPath], form: Form) -> _Game:
    sets: dict[frozenset[str], list[float]] = {}
    for path in paths:
        channels = frozenset(channel for _, channel in path.touches)
        if channels:
            totals = sets.setdefault(channels, [0.0, 0.0])
            totals[0] += path.value_micros
            totals[1] += 1
    names = tuple(sorted(set().union(*sets))) if sets else ()
    column = {name: i for i, name in enumerate(names)}
    contains = np.zeros((len(sets), len(names)), dtype=np.bool_)
    for row, channels in enumerate(sets):
        contains[row, [column[c] for c in channels]] = True
    value = np.array([t[0] for t in sets.values()], dtype=np.float64)
    count = np.array([t[1] for t in sets.values()], dtype=np.float64)
    return _Game(names, contains, value, count, form)


def _exact(game: _Game) -> NDArray[np.float64]:
    k = len(game.channels)
    bits = game.contains.astype(np.int64) @ (np.int64(1) << np.arange(k, dtype=np.int64))
    sums: list[NDArray[np.float64]] = []
    for weights in (game.value, game.count):
        exactly = np.bincount(bits, weights=weights, minlength=1 << k).astype(np.float64)
        within = exactly.reshape((2,) * k)  # one axis per channel: summing along each one
        for axis in range(k):  # turns "exactly S" into "within S" (the zeta transform)
            np.cumsum(within, axis=axis, out=within)
        sums.append(within.reshape(-1))
    worth = game.worth(sums[0], sums[1])
    masks = np.arange(1 << k, dtype=np.int64)
    sizes = np.zeros(1 << k, dtype=np.int64)
    for i in range(k):
        sizes += (masks >> i) & 1
    weight = np.array([1.0 / (k * comb(k - 1, s)) for s in range(k)])  # |S|!(k-|S|-1)!/k!
    values = np.empty(k)
    for i in range(k):
        without = masks[((masks >> i) & 1) == 0]
        gain = worth[without | (1 << i)] - worth[without]
        values[i] = float(weight[sizes[without]] @ gain)
    return values


def _sampled(game: _Game, permutations: int, seed: int) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(seed)
    k = len(game.channels)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, game.contains.size))
    samples = np.empty((permutations, k))
    for start in range(0, permutations, chunk):
        n = min(chunk, permutations - start)
        order = np.argsort(rng.random((n, k)), axis=1)  # order[m, t]: the t-th channel
        step = np.argsort(order, axis=1)  # step[m, c]: when channel c joins
        # the step at which each distinct set is complete: its last channel's
        done = np.where(game.contains[None, :, :], step[:, None, :], -1).max(axis=2)
        flat = (np.arange(n)[:, None] * k + done).reshape(-1)
        sums = [
            np.bincount(flat, weights=np.tile(w, n), minlength=n * k).reshape(n, k).cumsum(1)
            for w in (game.value, game.count)
        ]
        worth = game.worth(sums[0], sums[1])
        gain = np.diff(worth, axis=1, prepend=0.0)
        rows = samples[start : start + n]
        np.put_along_axis(rows, order, gain, axis=1)
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(permutations)


def shapley(
    paths: Sequence[ConversionPath],
    form: Form = "subset",
    *,
    exact_up_to: int = EXACT_UP_TO,
    permutations: int = 2_000,
    seed: int = 1,
) -> ShapleyValues:
    """The channels' Shapley values over ``paths`` (the module docstring): exact up to
    ``exact_up_to`` channels, else from ``permutations`` random orders drawn with ``seed``."""
    game = _game(paths, form)
    k = len(game.channels)
    if k <= exact_up_to:
        return ShapleyValues(game.channels, _exact(game), None, 0, form)
    if permutations < 2:
        raise ValueError("sampling needs at least 2 permutations (for its standard error)")
    values, error = _sampled(game, permutations, seed)
    return ShapleyValues(game.channels, values, error, permutations, form)
