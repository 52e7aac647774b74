"""Conversion of wire amounts in any currency into micros of the exchange currency.

Floors and bids arrive as decimal CPMs in the request's or the response's currency; the
mechanisms compare integer micros of the one exchange currency. The conversion is exact
rational arithmetic on the amount's *decimal text* (as :func:`openrtb.money.cpm_to_micros`:
``str(0.1)`` is ``"0.1"``, never the binary float's 0.1000000000000000055…) times the rate,
rounded once, in the direction that protects the party the number protects:

* a floor rounds **up**: the publisher never sells below its floor;
* a bid price rounds **down**: the buyer is never charged more than it bid.

One consequence: when a bid in a foreign currency equals a floor in that same currency and
the converted amount is not a whole number of micros, the bid converts one micro below the
floor. Callers that care compare such pairs in the wire currency before converting.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, Literal

from openrtb.errors import InvalidRequest
from openrtb.money import MICROS_PER_UNIT, whole_micros

__all__ = ["CurrencyRates", "Rounding", "UnknownCurrency", "answer_currency"]

Rounding = Literal["up", "down"]

_MAX_EXPONENT: Final = 400
"""Amounts beyond 10^±400 are refused: every finite float fits; the exact integers stay small."""


class UnknownCurrency(ValueError):
    """The exchange has no rate for a currency; the caller refuses the amount (names it)."""

    def __init__(self, currency: str) -> None:
        super().__init__(f"no exchange rate for currency {currency!r}")
        self.currency = currency


@dataclass(frozen=True, slots=True)
class CurrencyRates:
    """Rates into the exchange currency: ``rates[c]`` units of it per one unit of ``c``.

    The exchange currency itself is always 1 (and may be omitted from ``rates``). Rates must
    be finite and positive; the mapping is copied, so the object is immutable. Codes are
    ISO 4217 upper case, compared exactly, as on the wire.
    """

    exchange_currency: str = "USD"
    rates: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    _ratios: Mapping[str, tuple[int, int]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        rates = dict(self.rates)
        own = rates.setdefault(self.exchange_currency, Decimal(1))
        if own != 1:
            raise ValueError(f"rates[{self.exchange_currency!r}] must be 1, got {own}")
        for code, rate in rates.items():
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                raise ValueError(f"rates[{code!r}] must be a finite positive Decimal: {rate!r}")
        ratios = {code: rate.as_integer_ratio() for code, rate in rates.items()}
        object.__setattr__(self, "rates", MappingProxyType(rates))
        object.__setattr__(self, "_ratios", MappingProxyType(ratios))

    def rate(self, currency: str) -> Decimal:
        """Units of the exchange currency per unit of ``currency``; UnknownCurrency if none."""
        try:
            return self.rates[currency]
        except KeyError:
            raise UnknownCurrency(currency) from None

    def from_exchange_micros(self, micros: int, currency: str, *, rounding: Rounding) -> int:
        """Exchange-currency ``micros`` as micros of ``currency``, rounded as asked: what a
        price the exchange computed means to a bidder that bids in ``currency``."""
        if rounding != "down" and rounding != "up":
            raise ValueError(f'rounding must be "up" or "down", got {rounding!r}')
        try:
            numerator, denominator = self._ratios[currency]
        except KeyError:
            raise UnknownCurrency(currency) from None
        scaled = micros * denominator
        return scaled // numerator if rounding == "down" else -(-scaled // numerator)

    def to_exchange_micros(
        self, amount_cpm: float | Decimal | str, currency: str, *, rounding: Rounding
    ) -> int:
        """``amount × rate`` in exchange-currency micros, rounded ``"up"`` or ``"down"``.

        Exact: the amount's decimal text and the rate are integer ratios, so the only
        rounding is the stated one. Raises :class:`UnknownCurrency` for a currency without
        a rate and ``ValueError`` for an amount that is not a finite decimal within
        10^±400.
        """
        if rounding != "down" and rounding != "up":
            raise ValueError(f'rounding must be "up" or "down", got {rounding!r}')
        try:
            rate_numerator, rate_denominator = self._ratios[currency]
        except KeyError:
            raise UnknownCurrency(currency) from None
        if type(amount_cpm) is float and (micros := whole_micros(amount_cpm)) is not None:
            numerator, denominator = micros * rate_numerator, rate_denominator
            if denominator == 1:
                return numerator
            return numerator // denominator if rounding == "down" else -(-numerator // denominator)
        try:
            amount = Decimal(str(amount_cpm))
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal amount: {amount_cpm!r}") from exc
        if not amount.is_finite():
            raise ValueError(f"amount must be finite: {amount_cpm!r}")
        if amount and abs(amount.adjusted()) > _MAX_EXPONENT:
            raise ValueError(f"amount out of range: {amount_cpm!r}")
        numerator, denominator = amount.as_integer_ratio()
        numerator *= rate_numerator * MICROS_PER_UNIT
        denominator *= rate_denominator
        if rounding == "down":
            return numerator // denominator
        return -(-numerator // denominator)


def answer_currency(accepted: Sequence[str] | None, rates: CurrencyRates) -> str:
    """The currency of the answer to a request whose ``cur`` is ``accepted``: the first
    listed that ``rates`` converts to, the exchange currency when none is listed.

    InvalidRequest (field ``cur``) when the exchange can convert to none of them: prices in
    a currency the seller did not accept would be read as the wrong amounts.
    """
    if not accepted:
        return rates.exchange_currency
    for code in accepted:
        if code in rates.rates:
            return code
    known = ", ".join(sorted(rates.rates))
    raise InvalidRequest(
        "cur", f"the exchange cannot convert to any of {', '.join(accepted)} (it converts {known})"
    )
