"""Creative choice within a campaign: Thompson sampling over Beta posteriors of CTR.

Each creative's CTR has a Beta(α, β) posterior: its prior (from config, or a weak default
centred on the campaign's historical CTR) plus its clicks and non-clicked impressions. To
choose, draw one CTR from every eligible creative's posterior and take the largest draw: a
new creative's wide posterior wins often enough to be explored, a bad one's narrows below the
others and stops being shown. Following auction-gym, the draw only *chooses*; the bid uses the
chosen creative's posterior *mean* — bidding on a lucky draw would overpay exactly when the
sampling explores.

Counts live behind ``CreativeStats`` (one call for every creative of a request), so a process
can use the in-memory ``MemoryCreativeStats`` and a fleet the store-backed
``bidding.creative_stats.StoreCreativeStats`` sharing counts; both are fed through
``EngagementRecorder`` (the exchange's billing notices and click tracking). Randomness is a
``numpy.random.Generator`` passed in.

Two paths draw the same numbers: a request's handful of creatives is drawn with one scalar
``rng.beta`` call each and compared in plain Python (numpy's fixed cost per array call is
larger than the whole job there); from ``THOMPSON_VECTOR_MIN`` creatives one array call
draws them all. ``Generator.beta`` over an array draws element after element from the same
stream as scalar calls in that order, so with the same generator state both paths draw the
same values and choose the same creatives (tests check it; the threshold is measured in
docs/performance.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "BERNOULLI_VECTOR_MIN",
    "DEFAULT_PRIOR_STRENGTH",
    "THOMPSON_VECTOR_MIN",
    "BetaPrior",
    "Choice",
    "Choices",
    "Counts",
    "CreativeStats",
    "EngagementRecorder",
    "MemoryCreativeStats",
    "bernoulli",
    "bernoulli_scalar",
    "bernoulli_vector",
    "choose_creative",
    "posterior",
    "thompson",
    "thompson_positions",
    "thompson_scalar",
]

DEFAULT_PRIOR_STRENGTH: Final = 100.0
"""Pseudo-impressions of the default prior: weak enough that a few hundred real impressions
outweigh it, strong enough that a new creative's posterior mean (what is bid on) is the
campaign's historical CTR, not the 50 % a uniform Beta(1, 1) would claim."""
THOMPSON_VECTOR_MIN: Final = 192
"""From this many creatives in one request, one array draw is cheaper than scalar draws
inside the router (measured: docs/performance.md, ``bench.router_paths``)."""
BERNOULLI_VECTOR_MIN: Final = 16
"""From this many uncertain events, one ``rng.random(n)`` is cheaper than scalar draws."""


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """A Beta(α, β) belief about a CTR; both parameters positive."""

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise ValueError("Beta prior parameters must be positive")

    @staticmethod
    def weak(mean_ctr: float, strength: float = DEFAULT_PRIOR_STRENGTH) -> BetaPrior:
        """A prior with this mean worth ``strength`` impressions (one shared instance per
        mean: creative choice asks for it per creative per request)."""
        return _weak(mean_ctr, strength)

    @property
    def mean(self) -> float:
        """The expected CTR under this belief."""
        return self.alpha / (self.alpha + self.beta)


@functools.lru_cache(maxsize=4096)
def _weak(mean_ctr: float, strength: float) -> BetaPrior:
    mean = min(max(mean_ctr, 1e-6), 1 - 1e-6)
    return BetaPrior(mean * strength, (1 - mean) * strength)


class Counts(NamedTuple):
    """Impressions and clicks of one creative (lifetime, or a decayed window)."""

    impressions: int = 0
    clicks: int = 0


def posterior(prior: BetaPrior, counts: Counts) -> BetaPrior:
    """The prior updated with the counts (clicks beyond impressions — late impression
    events — count as impressions too, so β never shrinks)."""
    clicks = max(0, counts.clicks)
    misses = max(0, counts.impressions - clicks)
    return BetaPrior(prior.alpha + clicks, prior.beta + misses)


class CreativeStats(Protocol):
    """Impression and click counts per (campaign id, creative id), in one call."""

    async def counts(self, keys: Sequence[tuple[str, str]]) -> list[Counts]:
        """Counts for every key, in order; unknown keys count zero."""
        ...


class EngagementRecorder(Protocol):
    """Where the exchange reports what creatives did: one shown (billed) impression, one
    click. Callers count each impression and click once (their notice and click markers
    deduplicate); implementations only add."""

    async def record_impression(self, campaign_id: str, creative_id: str) -> None:
        """One more impression of the creative."""
        ...

    async def record_click(self, campaign_id: str, creative_id: str) -> None:
        """One more click on the creative."""
        ...


class MemoryCreativeStats:
    """Counts in this process's memory (tests, simulation, a single exchange process)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], Counts] = {}

    def record(
        self, campaign_id: str, creative_id: str, impressions: int = 0, clicks: int = 0
    ) -> None:
        """Add impressions and clicks of one creative."""
        key = (campaign_id, creative_id)
        old = self._counts.get(key, Counts())
        self._counts[key] = Counts(old.impressions + impressions, old.clicks + clicks)

    def snapshot(self, keys: Sequence[tuple[str, str]]) -> list[Counts]:
        """The counts of ``keys`` (synchronously; what ``counts`` answers)."""
        zero = Counts()
        return [self._counts.get(key, zero) for key in keys]

    async def counts(self, keys: Sequence[tuple[str, str]]) -> list[Counts]:
        """Counts for every key, in order; unknown keys count zero."""
        return self.snapshot(keys)

    async def record_impression(self, campaign_id: str, creative_id: str) -> None:
        """One more impression (``EngagementRecorder``)."""
        self.record(campaign_id, creative_id, impressions=1)

    async def record_click(self, campaign_id: str, creative_id: str) -> None:
        """One more click (``EngagementRecorder``)."""
        self.record(campaign_id, creative_id, clicks=1)


class Choice(NamedTuple):
    """The chosen creative (position among those offered), its posterior mean and draw."""

    position: int
    posterior_mean: float
    sample: float


def choose_creative(
    priors: Sequence[BetaPrior], counts: Sequence[Counts], rng: np.random.Generator
) -> Choice:
    """Thompson sampling among one campaign's eligible creatives (at least one)."""
    if not priors or len(priors) != len(counts):
        raise ValueError("need one count per prior, and at least one creative")
    posts = [posterior(p, c) for p, c in zip(priors, counts, strict=True)]
    if len(posts) < THOMPSON_VECTOR_MIN:
        draws = [rng.beta(p.alpha, p.beta) for p in posts]
        best = _first_max(draws, 0, len(draws))
        return Choice(best, posts[best].mean, draws[best])
    array = rng.beta(np.array([p.alpha for p in posts]), np.array([p.beta for p in posts]))
    best = int(np.argmax(array))
    return Choice(best, posts[best].mean, float(array[best]))


def _first_max(values: Sequence[float], start: int, end: int) -> int:
    """The index of the largest of ``values[start:end]`` (the first on a tie; not empty)."""
    best, top = start, values[start]
    for i in range(start + 1, end):
        if values[i] > top:
            best, top = i, values[i]
    return best


class Choices(NamedTuple):
    """Per group: the chosen flat index, its posterior mean and its draw."""

    position: npt.NDArray[np.intp]
    posterior_mean: npt.NDArray[np.float64]
    sample: npt.NDArray[np.float64]


def thompson(
    alpha: npt.ArrayLike,
    beta: npt.ArrayLike,
    group_starts: npt.ArrayLike,
    rng: np.random.Generator,
) -> Choices:
    """Thompson sampling for many campaigns at once: one ``rng.beta`` call for all.

    ``alpha``/``beta`` are the posteriors of every eligible (campaign, creative) pair, laid
    out campaign after campaign; ``group_starts`` the sorted offsets where each campaign's
    creatives begin (the first is 0, none empty). Returns, per campaign, the flat index of the
    creative with the largest draw (the first on a tie).
    """
    a = np.asarray(alpha, np.float64)
    b = np.asarray(beta, np.float64)
    starts = np.asarray(group_starts, np.intp)
    draws = rng.beta(a, b)
    sizes = np.diff(np.append(starts, a.size))
    group = np.repeat(np.arange(starts.size), sizes)
    best = np.maximum.reduceat(draws, starts)
    at_max = np.flatnonzero(draws == best[group])
    first = np.ones(at_max.size, np.bool_)
    first[1:] = group[at_max[1:]] != group[at_max[:-1]]
    chosen = at_max[first]
    return Choices(chosen, a[chosen] / (a[chosen] + b[chosen]), draws[chosen])


def thompson_scalar(
    alpha: Sequence[float],
    beta: Sequence[float],
    group_starts: Sequence[int],
    rng: np.random.Generator,
) -> list[int]:
    """``thompson``'s chosen flat indices, drawn one scalar ``rng.beta`` call per creative
    (the same draws from the same generator state; faster for a handful)."""
    draw = rng.beta
    draws = [draw(a, b) for a, b in zip(alpha, beta, strict=True)]
    ends = [*group_starts[1:], len(draws)]
    chosen = []
    for start, end in zip(group_starts, ends, strict=True):
        best, top = start, draws[start]  # ``_first_max`` inlined: a call per campaign is not free
        for i in range(start + 1, end):
            if draws[i] > top:
                best, top = i, draws[i]
        chosen.append(best)
    return chosen


def thompson_positions(
    alpha: Sequence[float],
    beta: Sequence[float],
    group_starts: Sequence[int],
    rng: np.random.Generator,
) -> list[int]:
    """Per campaign, the flat index of its chosen creative (see ``thompson``), by the path
    that is faster for this many creatives; both draw the same values."""
    if len(alpha) < THOMPSON_VECTOR_MIN:
        return thompson_scalar(alpha, beta, group_starts, rng)
    positions: list[int] = thompson(alpha, beta, group_starts, rng).position.tolist()
    return positions


def bernoulli(probabilities: Sequence[float], rng: np.random.Generator) -> list[bool]:
    """Per probability, whether its event happens (pacing's participation draw): one
    uniform draw for each below 1 — none for a certain event (nor NaN) — in order, by the
    path that is faster for this many; both draw the same values."""
    uncertain = sum(1 for p in probabilities if p < 1.0)
    if uncertain < BERNOULLI_VECTOR_MIN:
        return bernoulli_scalar(probabilities, rng)
    return bernoulli_vector(probabilities, rng)


def bernoulli_scalar(probabilities: Sequence[float], rng: np.random.Generator) -> list[bool]:
    """``bernoulli`` by one scalar ``rng.random()`` per uncertain event (a handful)."""
    draw = rng.random
    return [not p < 1.0 or draw() < p for p in probabilities]


def bernoulli_vector(probabilities: Sequence[float], rng: np.random.Generator) -> list[bool]:
    """``bernoulli`` by one ``rng.random(n)`` call (many): ``Generator.random(n)`` draws what
    ``n`` scalar calls would, in order."""
    draws = iter(rng.random(sum(1 for p in probabilities if p < 1.0)).tolist())
    return [not p < 1.0 or next(draws) < p for p in probabilities]
