"""The rule-based models: each conversion's value shared among the touches of its path.

A model gives every touch a weight; a channel's share of a conversion is the sum of its
touches' weights over all of them, and the value in micros is then split by
:func:`apportion`, so each conversion's credits are whole micros that add up to its value
exactly (none lost, none made). Position based is 40/20/40: 40 % to the first and the last
touch, 20 % shared by those between; with two touches 50/50, with one all of it.
"""

import math
from collections.abc import Callable, Sequence
from typing import Final

from attribution.journeys import ConversionPath

__all__ = ["RULES", "apportion", "rule_credits"]

_END_SHARE: Final = 0.4
_MIDDLE_SHARE: Final = 0.2

Weights = Callable[[ConversionPath, float], list[float]]


def apportion(amounts: Sequence[float], total: int) -> list[int]:
    """Whole numbers as close to ``amounts`` (which add up to about ``total``) as largest
    remainders make them, adding up to ``total`` exactly: each is its amount rounded down,
    and what is left over goes one by one to the largest fractions (the earlier on ties)."""
    floors = [math.floor(a) for a in amounts]
    left = total - sum(floors)
    if not floors:
        if total:
            raise ValueError("nothing to apportion a non-zero total among")
        return floors
    by_fraction = sorted(range(len(floors)), key=lambda i: floors[i] - amounts[i])
    step = 1 if left > 0 else -1
    if step < 0:
        by_fraction.reverse()
    for n in range(abs(left)):  # more than len only through float error in the amounts
        floors[by_fraction[n % len(floors)]] += step
    return floors


def _last(path: ConversionPath, half_life_s: float) -> list[float]:
    return [0.0] * (len(path.touches) - 1) + [1.0]


def _first(path: ConversionPath, half_life_s: float) -> list[float]:
    return [1.0] + [0.0] * (len(path.touches) - 1)


def _linear(path: ConversionPath, half_life_s: float) -> list[float]:
    return [1.0] * len(path.touches)


def _time_decay(path: ConversionPath, half_life_s: float) -> list[float]:
    """Halves with every ``half_life_s`` between the touch and the conversion (measured from
    the last touch: the same ratios, and the last weighs 1, so they never all underflow)."""
    last_s = path.touches[-1][0]
    return [2.0 ** (-(last_s - ts_s) / half_life_s) for ts_s, _ in path.touches]


def _position(path: ConversionPath, half_life_s: float) -> list[float]:
    n = len(path.touches)
    if n <= 2:
        return [1.0] * n
    return [_END_SHARE] + [_MIDDLE_SHARE / (n - 2)] * (n - 2) + [_END_SHARE]


RULES: Final[dict[str, Weights]] = {
    "last_click": _last,
    "first_click": _first,
    "linear": _linear,
    "time_decay": _time_decay,
    "position": _position,
}
"""The rule-based models by name, in the report's order."""


def rule_credits(path: ConversionPath, model: str, half_life_s: float) -> dict[str, int]:
    """The micros of ``path``'s value that ``model`` credits to each of its channels (in
    the order they first appear); adds up to the value exactly. ``path`` has a touch."""
    weights = RULES[model](path, half_life_s)
    by_channel: dict[str, float] = {}
    for (_, channel), weight in zip(path.touches, weights, strict=True):
        by_channel[channel] = by_channel.get(channel, 0.0) + weight
    whole = sum(by_channel.values())
    shares = [path.value_micros * w / whole for w in by_channel.values()]
    return dict(zip(by_channel, apportion(shares, path.value_micros), strict=True))
