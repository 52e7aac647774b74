"""Turning a bidder's BidResponse (or an in-process router's offers) into auction
candidates, dropping what is invalid.

Every bid is checked before it can compete, and a bid that fails is dropped with the loss
reason that names the failure (counted per bidder and reason, and told to the bidder
through its ``lurl``); the rest of that response still counts:

* reason 3 (invalid bid response): price not a positive finite number, below one micro or
  above the exchange's maximum (``RTB_MAX_BID_CPM``, also counted as
  ``rtb_bids_above_max_total``), currency without a rate, the imp was not sent to this
  bidder, a seat the bidder is not configured for, a bid id repeated within the response;
* the request's blocks and the slot (``openrtb.bid_rules``): 203, 204, 205, 209, 210, 215.

A price becomes exchange-currency micros exactly from its decimal text (the shortest repr of
the double the wire's number parsed to: ``2.675`` is 2_675_000) times the rate, rounded
*down* once: a buyer is never charged more than it bid (docs/architecture.md, Money). The
maximum applies to that result, so it is in the exchange currency whatever the bid's.
An in-process router's offers are already integer micros of the exchange currency: they
skip the conversion, not the checks.
"""

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from auction.currency import CurrencyRates, UnknownCurrency
from auction.types import QUALITY_ONE, Candidate
from exchange.bidders.base import BidLike, Offer
from exchange.metrics import Metrics
from openrtb.bid_rules import BidRules
from openrtb.enums import LossReason
from openrtb.money import MICROS_PER_UNIT
from openrtb.response import Bid, BidResponse

_INVALID = LossReason.INVALID_BID_RESPONSE

DEFAULT_MAX_BID_MICROS = 1_000 * MICROS_PER_UNIT
"""``RTB_MAX_BID_CPM``'s default, 1,000 CPM ($1 an impression): why, in docs/decisions.md."""


class IntakeConfig(Protocol):
    """The parts of the exchange config that bid intake needs."""

    @property
    def rates(self) -> CurrencyRates: ...

    @property
    def quality_ppm(self) -> Mapping[str, int]: ...

    @property
    def bidder_seats(self) -> Mapping[str, frozenset[str]]: ...

    @property
    def max_bid_micros(self) -> int: ...


class Entry(NamedTuple):
    """A received bid, where it came from, and its auction candidate (a NamedTuple: one is
    built per bid per auction, at a third of a frozen dataclass's cost)."""

    bidder: str
    seat: str
    bid: BidLike
    candidate: Candidate
    currency: str = "USD"
    """The currency the bidder bid in (its BidResponse.cur)."""


class Rejected(NamedTuple):
    """A bid dropped before the auction, and why."""

    bidder: str
    seat: str
    bid: BidLike
    reason: LossReason
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class Intake:
    """The valid bids of one response, and the dropped ones."""

    entries: tuple[Entry, ...]
    rejected: tuple[Rejected, ...]

    @property
    def counts(self) -> tuple[int, int]:
        """(kept, dropped)."""
        return len(self.entries), len(self.rejected)


NOTHING = Intake((), ())


def quality_of(table: Mapping[str, int], bidder: str, seat: str, crid: str | None) -> int:
    """The configured quality of ``seat/crid``, else ``seat``, else the bidder, else 1.0."""
    if crid is not None and (score := table.get(f"{seat}/{crid}")) is not None:
        return score
    score = table.get(seat)
    return score if score is not None else table.get(bidder, QUALITY_ONE)


def _price_micros(bid: Bid, currency: str, rates: CurrencyRates) -> int | None:
    price = bid.price
    if price is None or not math.isfinite(price) or price <= 0:
        return None
    try:
        micros = rates.to_exchange_micros(price, currency, rounding="down")
    except (UnknownCurrency, ValueError):
        return None
    return micros if micros > 0 else None


class _Intake:
    """The checks of one bidder's answer, bid by bid, whatever lane it came by."""

    def __init__(
        self,
        bidder: str,
        currency: str,
        sent: Collection[str],
        rules: BidRules,
        config: IntakeConfig,
        metrics: Metrics,
    ) -> None:
        self.bidder = bidder
        self.currency = currency
        self.sent = sent
        self.rules = rules
        self.config = config
        self.metrics = metrics
        self.allowed_seats = config.bidder_seats.get(bidder)
        self.entries: list[Entry] = []
        self.rejected: list[Rejected] = []
        self.seen: set[str] = set()

    def add(self, seat: str, bid: BidLike, price_micros: int | None) -> None:
        """Admit ``bid`` as a candidate, or drop it with its reason."""
        bidder = self.bidder
        key = f"{bidder}/{seat}/{bid.id}"
        too_high = price_micros is not None and price_micros > self.config.max_bid_micros
        seat_ok = not self.allowed_seats or seat in self.allowed_seats
        if (
            price_micros is None
            or too_high
            or not seat_ok
            or bid.impid not in self.sent
            or key in self.seen
        ):
            self.rejected.append(Rejected(bidder, seat, bid, _INVALID, self.currency))
            if too_high:
                self.metrics.child(self.metrics.bids_above_max, bidder).inc()
            return
        reason = self.rules.rejection(bid)
        if reason is not None:
            self.rejected.append(Rejected(bidder, seat, bid, reason, self.currency))
            return
        self.seen.add(key)
        candidate = Candidate(
            bid_id=key,
            seat=seat,
            price_micros=price_micros,
            quality_ppm=quality_of(self.config.quality_ppm, bidder, seat, bid.crid),
            adomain=bid.adomain[0].lower() if bid.adomain else None,
            deal_id=bid.dealid,
        )
        self.entries.append(Entry(bidder, seat, bid, candidate, self.currency))

    def done(self) -> Intake:
        if self.entries:
            self.metrics.child(self.metrics.bids, self.bidder).inc(len(self.entries))
        for dropped in self.rejected:
            self.metrics.invalid_bids.labels(self.bidder, str(int(dropped.reason))).inc()
        return Intake(tuple(self.entries), tuple(self.rejected))


def collect_bids(
    bidder: str,
    response: BidResponse | None,
    sent: Collection[str],
    rules: BidRules,
    config: IntakeConfig,
    metrics: Metrics,
) -> Intake:
    """The valid bids of ``response`` as entries; the invalid ones with their reasons.

    ``sent`` are the ids of the imps this bidder was sent: a bid for any other is invalid.
    """
    if response is None or not response.seatbid:
        return NOTHING
    currency = response.cur or "USD"
    intake = _Intake(bidder, currency, sent, rules, config, metrics)
    for seatbid in response.seatbid:
        seat = seatbid.seat or bidder
        for bid in seatbid.bid:
            intake.add(seat, bid, _price_micros(bid, currency, config.rates))
    return intake.done()


def collect_offers(
    bidder: str,
    offers: Sequence[Offer],
    sent: Collection[str],
    rules: BidRules,
    config: IntakeConfig,
    metrics: Metrics,
) -> Intake:
    """An in-process router's offers as entries, checked as any bid is (their prices are
    already exchange micros)."""
    if not offers:
        return NOTHING
    intake = _Intake(bidder, config.rates.exchange_currency, sent, rules, config, metrics)
    for offer in offers:
        price = offer.price_micros
        intake.add(offer.seat, offer, price if price > 0 else None)
    return intake.done()
