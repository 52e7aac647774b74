"""Turning a bidder's BidResponse into auction candidates, dropping what is invalid.

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
"""

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from auction.currency import CurrencyRates, UnknownCurrency
from auction.types import QUALITY_ONE, Candidate
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
    bid: Bid
    candidate: Candidate
    currency: str = "USD"
    """The currency the bidder bid in (its BidResponse.cur)."""


class Rejected(NamedTuple):
    """A bid dropped before the auction, and why."""

    bidder: str
    seat: str
    bid: Bid
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
    allowed_seats = config.bidder_seats.get(bidder)
    max_micros = config.max_bid_micros
    entries: list[Entry] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for seatbid in response.seatbid:
        seat = seatbid.seat or bidder
        seat_ok = not allowed_seats or seat in allowed_seats
        for bid in seatbid.bid:
            key = f"{bidder}/{seat}/{bid.id}"
            price_micros = _price_micros(bid, currency, config.rates)
            too_high = price_micros is not None and price_micros > max_micros
            if (
                price_micros is None
                or too_high
                or not seat_ok
                or bid.impid not in sent
                or key in seen
            ):
                rejected.append(Rejected(bidder, seat, bid, _INVALID, currency))
                if too_high:
                    metrics.child(metrics.bids_above_max, bidder).inc()
                continue
            reason = rules.rejection(bid)
            if reason is not None:
                rejected.append(Rejected(bidder, seat, bid, reason, currency))
                continue
            seen.add(key)
            candidate = Candidate(
                bid_id=key,
                seat=seat,
                price_micros=price_micros,
                quality_ppm=quality_of(config.quality_ppm, bidder, seat, bid.crid),
                adomain=bid.adomain[0].lower() if bid.adomain else None,
                deal_id=bid.dealid,
            )
            entries.append(Entry(bidder, seat, bid, candidate, currency))
    if entries:
        metrics.child(metrics.bids, bidder).inc(len(entries))
    for dropped in rejected:
        metrics.invalid_bids.labels(bidder, str(int(dropped.reason))).inc()
    return Intake(tuple(entries), tuple(rejected))
