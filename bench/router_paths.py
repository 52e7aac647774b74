"""The router's small-array steps by both paths, plain Python and numpy, at sizes 1 to 256.

Thompson sampling (``bidding.exploration``: scalar ``rng.beta`` draws against one array
draw, creatives in campaigns of three), the bid formula (``bidding.valuation``: per
candidate in Python floats against one vectorised pass, ROI goals on a 1,000-campaign
table) and the pacing participation draw (``bidding.exploration.bernoulli``: one scalar
``Generator.random()`` per paced candidate, as the router draws it, against one
``random(n)`` call). Each pair gives the same results (tests/bidding); these rows say where
each is faster, which is where the thresholds (``THOMPSON_VECTOR_MIN``,
``VALUE_VECTOR_MIN``, ``BERNOULLI_VECTOR_MIN``) switch. The two paths of a pair are timed
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
FINE_SIZES = (16, 24, 32, 40, 48, 56, 64, 80, 96, 128)

_GOAL = Goal(GoalKind.ROI, conversion_value_micros=60_000_000, target_roi=1.5)


@dataclass(frozen=True, slots=True)
class _Campaign:
    goal: Goal | None
    bid_cpm_micros: int = 0
    min_bid_cpm_micros: int = 10_000
    max_bid_cpm_micros: int | None = 50_000_000


@dataclass(frozen=True, slots=True)
class PathRow:
    """One step at one size: median and p99 µs per call by each path."""

    step: str
    n: int
    python: tuple[float, float]
    numpy: tuple[float, float]


def _pair(
    python: Callable[[], object], vector: Callable[[], object], repeat: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(median, p99) µs per call of each, timed alternately after a warm-up."""
    clock = time.perf_counter_ns
    for _ in range(min(200, repeat)):
        python()
        vector()
    a, b = [], []
    for _ in range(repeat):
        start = clock()
        python()
        middle = clock()
        vector()
        end = clock()
        a.append((middle - start) / 1000)
        b.append((end - middle) / 1000)
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


def path_timings(sizes: Sequence[int] = SIZES, repeat: int = 2_000) -> list[PathRow]:
    """Both paths of every step at every size."""
    rows = []
    for step, build in _STEPS.items():
        for n in sizes:
            python, vector = build(n, np.random.default_rng(n))
            a, b = _pair(python, vector, repeat)
            rows.append(PathRow(step, n, a, b))
    return rows


def path_table(rows: Sequence[PathRow]) -> Table:
    """The rows as a table: each path's median and p99, and numpy's time over Python's."""
    return Table(
        "µs per call, plain Python against numpy (same results; this process, one core)",
        ["step", "n", "Python median", "p99", "numpy median", "p99", "numpy ÷ Python"],
        [
            [
                r.step,
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
