"""Conversion between OpenRTB's decimal CPM prices and the integer micros used inside.

Money on the wire is a CPM as a JSON number; inside, a price is an integer count of
micro-units (1 USD = 1_000_000 micros) so that no float is ever added into a budget. Every
rounding rule is stated once, in docs/architecture.md (Money); the two that live here:

* :func:`cpm_to_micros` converts *configured* money (campaign files, settings) half-up on its
  *decimal* text (``2.675`` is 2_675_000, not 2_674_999 as binary floats would give). Bids and
  floors the exchange receives are converted by ``auction.currency`` instead, rounding down
  and up respectively, with the same exact fast path (:func:`whole_micros`);
* a CPM becomes a per-impression cost by integer division by 1000, rounding down (the
  advertiser is never charged more than the price it agreed to).
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

MICROS_PER_UNIT: Final = 1_000_000
IMPRESSIONS_PER_MILLE: Final = 1_000
_MICRO: Final = Decimal(1)


_FAST_LIMIT: Final = 1e9
"""Below this, doubles are spaced far closer than a micro, so the fast path below is exact."""


def whole_micros(price_cpm: float) -> int | None:
    """``price_cpm`` in micros when its decimal text has at most six decimals, else None.

    The fast path for wire prices (which almost always have few decimals): if the double
    nearest to ``m / 10**6`` is ``price_cpm`` itself, then ``str(price_cpm)`` *is* that
    decimal — two decimals with at most six places are at least a micro apart, and doubles
    under 10**9 are much closer together than that, so no other short decimal maps to the same
    double. The result then equals the exact decimal conversion, with no rounding at all.
    """
    if -_FAST_LIMIT < price_cpm < _FAST_LIMIT:
        micros = round(price_cpm * MICROS_PER_UNIT)
        if micros / MICROS_PER_UNIT == price_cpm:
            return micros
    return None


def cpm_to_micros(price_cpm: float | int | str | Decimal) -> int:
    """A decimal CPM as integer micros, half-up on its decimal text: configured money, and the
    in-process router's own reading of prices (the exchange's bid and floor rules are in
    ``auction.currency``)."""
    if type(price_cpm) is float and (micros := whole_micros(price_cpm)) is not None:
        return micros
    try:
        value = Decimal(str(price_cpm)) * MICROS_PER_UNIT
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal price: {price_cpm!r}") from exc
    if not value.is_finite():
        raise ValueError(f"price must be finite: {price_cpm!r}")
    return int(value.quantize(_MICRO, rounding=ROUND_HALF_UP))


def micros_to_cpm(price_micros: int) -> float:
    """Integer micros back to the wire's CPM number (exact for any realistic price)."""
    return price_micros / MICROS_PER_UNIT


def impression_cost_micros(price_cpm_micros: int) -> int:
    """What one impression costs at a CPM, in micros, rounded down."""
    return price_cpm_micros // IMPRESSIONS_PER_MILLE
