"""Turning a bidder's BidResponse into auction candidates, dropping what is invalid.

Every bid is checked before it can compete: the imp exists in what was sold, the price is a
positive finite number, the currency converts into the exchange's (rounding down: a buyer is
never charged more than it bid), the bid id is unique within the response. A bid that fails
is dropped and counted with loss reason 3; the rest of the response still counts.
"""

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from app.metrics import Metrics
from auction.currency import CurrencyRates, UnknownCurrency
from auction.types import QUALITY_ONE, Candidate
from openrtb.enums import LossReason
from openrtb.response import Bid, BidResponse

_INVALID = str(int(LossReason.INVALID_BID_RESPONSE))


class IntakeConfig(Protocol):
    """The parts of the exchange config that bid intake needs."""

    @property
    def rates(self) -> CurrencyRates: ...

    @property
    def quality_ppm(self) -> Mapping[str, int]: ...


class Entry(NamedTuple):
    """A received bid, where it came from, and its auction candidate (a NamedTuple: one is
    built per bid per auction, at a third of a frozen dataclass's cost)."""

    bidder: str
    seat: str
    bid: Bid
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class Intake:
    """The valid bids of one response, and how many were dropped."""

    entries: tuple[Entry, ...]
    dropped: int

    @property
    def counts(self) -> tuple[int, int]:
        """(kept, dropped)."""
        return len(self.entries), self.dropped


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
    config: IntakeConfig,
    metrics: Metrics,
) -> Intake:
    """The valid bids of ``response`` as entries; invalid ones counted by reason.

    ``sent`` are the ids of the imps this bidder was sent: a bid for any other is invalid.
    """
    if response is None or not response.seatbid:
        return Intake((), 0)
    currency = response.cur or "USD"
    entries: list[Entry] = []
    seen: set[str] = set()
    dropped = 0
    for seatbid in response.seatbid:
        seat = seatbid.seat or bidder
        for bid in seatbid.bid:
            key = f"{bidder}/{seat}/{bid.id}"
            price_micros = _price_micros(bid, currency, config.rates)
            if price_micros is None or bid.impid not in sent or key in seen:
                dropped += 1
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
            entries.append(Entry(bidder, seat, bid, candidate))
    if entries:
        metrics.bids.labels(bidder).inc(len(entries))
    if dropped:
        metrics.invalid_bids.labels(bidder, _INVALID).inc(dropped)
    return Intake(tuple(entries), dropped)
