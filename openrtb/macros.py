"""Substitution of the OpenRTB 2.6 auction macros (section 4.4) in notice URLs and markup.

Rules taken from the spec:

* every ``${AUCTION_…}`` macro the spec defines is replaced, including ``${AUCTION_MULTIPLIER}``
  and ``${AUCTION_IMP_TS}`` (2.6); a macro whose value is not available becomes the empty
  string ("the macro will simply be removed");
* a ``:X`` suffix asks for the value encoded with algorithm X, which the spec leaves to the
  parties; only ``:B64`` (standard Base64 of the UTF-8 text, the spec's own example) is
  implemented. A macro with any other suffix is left untouched rather than filled with a
  clear-text value the bidder asked to have encoded;
* anything else that looks like ``${…}`` is not ours and is left untouched.

Prices are rendered from integer micros as plain decimal text (1_230_000 → ``"1.23"``), so
the number a bidder reads back is exactly the one the exchange charged: no float noise and
no exponent.
"""

import base64
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from openrtb.money import MICROS_PER_UNIT

__all__ = ["AuctionMacros", "format_micros", "substitute"]


@dataclass(frozen=True, slots=True)
class AuctionMacros:
    """The values an exchange knows about one bid's auction; ``None`` means unavailable."""

    auction_id: str | None = None
    bid_id: str | None = None
    imp_id: str | None = None
    seat_id: str | None = None
    ad_id: str | None = None
    price_micros: int | None = None
    currency: str | None = None
    mbr: float | None = None
    loss: int | None = None
    min_to_win_micros: int | None = None
    multiplier: float | None = None
    imp_ts_ms: int | None = None


def format_micros(micros: int) -> str:
    """Integer micros as the shortest exact decimal text: 2_000_000 → "2", 1_230_000 → "1.23"."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_UNIT)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def _format_ratio(value: float) -> str:
    # Six decimals is finer than any ratio a bidder acts on; no exponent, no trailing zeros.
    if not math.isfinite(value):
        return ""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(value: str | None) -> str:
    return "" if value is None else value


def _micros(value: int | None) -> str:
    return "" if value is None else format_micros(value)


def _ratio(value: float | None) -> str:
    return "" if value is None else _format_ratio(value)


def _integer(value: int | None) -> str:
    return "" if value is None else str(value)


_RENDER: Final[dict[str, Callable[[AuctionMacros], str]]] = {
    "AUCTION_ID": lambda m: _text(m.auction_id),
    "AUCTION_BID_ID": lambda m: _text(m.bid_id),
    "AUCTION_IMP_ID": lambda m: _text(m.imp_id),
    "AUCTION_SEAT_ID": lambda m: _text(m.seat_id),
    "AUCTION_AD_ID": lambda m: _text(m.ad_id),
    "AUCTION_PRICE": lambda m: _micros(m.price_micros),
    "AUCTION_CURRENCY": lambda m: _text(m.currency),
    "AUCTION_MBR": lambda m: _ratio(m.mbr),
    "AUCTION_LOSS": lambda m: _integer(m.loss),
    "AUCTION_MIN_TO_WIN": lambda m: _micros(m.min_to_win_micros),
    "AUCTION_MULTIPLIER": lambda m: _ratio(m.multiplier),
    "AUCTION_IMP_TS": lambda m: _integer(m.imp_ts_ms),
}

_MACRO: Final = re.compile(r"\$\{(AUCTION_[A-Z_]+)(:[A-Za-z0-9_]+)?\}")


def substitute(template: str, macros: AuctionMacros, *, url_encode: bool = False) -> str:
    """``template`` with every known macro replaced, in one pass.

    With ``url_encode`` every substituted value is percent-encoded (nothing kept safe, so a
    value cannot break out of a query parameter); use it for URLs, not for markup.
    """
    if "${" not in template:
        return template

    def replace(match: re.Match[str]) -> str:
        render = _RENDER.get(match.group(1))
        suffix = match.group(2)
        if render is None or (suffix is not None and suffix != ":B64"):
            return match.group(0)
        value = render(macros)
        if suffix is not None and value:
            value = base64.b64encode(value.encode()).decode("ascii")
        if url_encode and value:
            value = quote(value, safe="")
        return value

    return _MACRO.sub(replace, template)
