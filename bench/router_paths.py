"""The router's small-array steps by both paths, plain Python and numpy, at sizes 1 to 256.

Thompson sampling (``bidding.exploration``: scalar ``rng.beta`` draws against one array
draw, creatives in campaigns of three), the bid formula (``bidding.valuation``: per
candidate in Python floats against one vectorised pass, ROI goals on a 1,000-campaign
table) and the pacing participation draw (``bidding.exploration.bernoulli``: one scalar
``Generator.random()`` per paced candidate, as the router draws it, against one
``random(n)`` call). Each pair gives the same results (tests/bidding); these rows say where
each is faster, which is where the thresholds (``THOMPSON_VECTOR_MIN``,
``VALUE_VECTOR_MIN``, ``BERNOULLI_VECTOR_MIN``) switch.

Each size is timed twice: *hot*, call after call (the code and data stay in the CPU caches,
the best case for numpy's fixed cost), and *cold*, with the caches flushed before every
call by 8 MB of array and a sort of Python strings — the state the router calls them in,
between the model calls and the store (the same steps timed inside the router's decision
cost what the cold rows say, not the hot ones). The two paths of a pair are timed
alternately, call by call, so a change in the machine's speed hits both alike. Run it
alone with ``python -m bench.router_paths`` (``--fine`` for the sizes around the
crossovers).
"""

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.section import Table, median_p99
from bidding.exploration import bernoulli_scalar, bernoulli_vector, thompson, thompson_scalar
from bidding.valuation import Goal, GoalKind, ValuationTable, value_bids_scalar, value_bids_vector

__all__ = ["FINE_SIZES", "SIZES", "PathRow", "path_table", "path_timings"]

SIZES = (1, 2, 4, 8, 16, 64, 256)
FINE_SIZES = (4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)

_GOAL = Goal(GoalKind.ROI, conversion_value_micros=60_000_000, target_roi=1.5)


@dataclass(frozen=True, slots=True)
class _Campaign:
    goal: Goal | None
    bid_cpm_micros: int = 0
    min_bid_cpm_micros: int = 10_000
    max_bid_cpm_micros: int | None = 50_000_000


@dataclass(frozen=True, slots=True)
class PathRow:
    """One step at one size, hot or cold: median and p99 µs per call by each path."""

    step: str
    n: int
    cold: bool
    python: tuple[float, float]
    numpy: tuple[float, float]


class _Flush:
    """Evicts the CPU caches (L2 is 1 MB per core here, L3 32 MB shared) of what a timed
    call would otherwise find there."""

    def __init__(self) -> None:
        self._array = np.ones(1_000_000)
        self._strings = [str(i) for i in range(20_000)]

    def __call__(self) -> None:
        self._array.sum()
        sorted(self._strings, reverse=True)


def _pair(
    python: Callable[[], object],
    vector: Callable[[], object],
    repeat: int,
    flush: Callable[[], None] | None,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(median, p99) µs per call of each, timed alternately after a warm-up, the caches
    flushed before each call when ``flush`` is given."""
    clock = time.perf_counter_ns
    for _ in range(min(100, repeat)):
        python()
        vector()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        for path, samples in ((python, a), (vector, b)):
            if flush is not None:
                flush()
            start = clock()
            path()
            samples.append((clock() - start) / 1000)
    return median_p99(a), median_p99(b)


def _thompson(n: int, rng: np.random.Generator) -> tuple[Callable[[], object], ...]:
    alpha = (0.3 + rng.random(n)).tolist()
    beta = (99.7 + rng.random(n)).tolist()
    starts = list(range(0, n, 3))
    gen = np.random.default_rng(1)
    return (
        lambda: thompson_scalar(alpha, beta, starts, gen),
        lambda: thompson(alpha, beta, starts, gen).position.tolist(),
    )


def _bid_formula(n: int, rng: np.random.Generator) -> tuple[Callable[[], object], ...]:
    table = ValuationTable.of([_Campaign(_GOAL) for _ in range(1_000)])
    positions = rng.choice(1_000, n, replace=False).tolist()
    pctr, pcvr = rng.random(n) * 0.01, rng.random(n) * 0.1
    floors, multipliers = [500_000] * n, [1.0] * n
    return (
        lambda: value_bids_scalar(table, positions, pctr, pcvr, floors, multipliers),
        lambda: value_bids_vector(table, positions, pctr, pcvr, floors, multipliers),
    )


def _participation(n: int, rng: np.random.Generator) -> tuple[Callable[[], object], ...]:
    participation = (rng.random(n) * 0.9).tolist()
    gen = np.random.default_rng(1)
    return (
        lambda: bernoulli_scalar(participation, gen),
        lambda: bernoulli_vector(participation, gen),
    )


_STEPS: dict[str, Callable[[int, np.random.Generator], tuple[Callable[[], object], ...]]] = {
    "Thompson sampling (creatives)": _thompson,
    "bid formula (candidates)": _bid_formula,
    "participation draw (candidates)": _participation,
}


def path_timings(
    sizes: Sequence[int] = SIZES, repeat: int = 2_000, cold_repeat: int = 300
) -> list[PathRow]:
    """Both paths of every step at every size, hot then cold."""
    rows = []
    flush = _Flush()
    for step, build in _STEPS.items():
        for cold in (False, True):
            for n in sizes:
                python, vector = build(n, np.random.default_rng(n))
                times = _pair(
                    python, vector, cold_repeat if cold else repeat, flush if cold else None
                )
                rows.append(PathRow(step, n, cold, *times))
    return rows


def path_table(rows: Sequence[PathRow]) -> Table:
    """The rows as a table: each path's median and p99, and numpy's time over Python's."""
    return Table(
        "µs per call, plain Python against numpy (same results; this process, one core)",
        ["step", "caches", "n", "Python median", "p99", "numpy median", "p99", "numpy ÷ Python"],
        [
            [
                r.step,
                "cold" if r.cold else "hot",
                str(r.n),
                f"{r.python[0]:,.1f}",
                f"{r.python[1]:,.1f}",
                f"{r.numpy[0]:,.1f}",
                f"{r.numpy[1]:,.1f}",
                f"{r.numpy[0] / r.python[0]:.2f}",
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    chosen = FINE_SIZES if "--fine" in sys.argv[1:] else SIZES
    print(path_table(path_timings(chosen)).render())
