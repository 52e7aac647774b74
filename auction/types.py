"""Plain data the auction mechanisms work on: candidates in, outcomes out.

All prices are CPMs in integer micros of the exchange currency. Quality scores are
integers in parts per million (1_000_000 = quality 1.0) so that every comparison and
every clearing price is exact integer arithmetic.
"""

from dataclasses import dataclass
from typing import Final, NamedTuple

QUALITY_ONE: Final = 1_000_000
"""Quality score 1.0 in parts per million."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One bid competing for one impression."""

    bid_id: str
    seat: str
    price_micros: int
    quality_ppm: int = QUALITY_ONE
    adomain: str | None = None
    """The advertiser's domain (first of ``bid.adomain``): competitive separation on a page."""
    deal_id: str | None = None
    """The PMP deal the bid is for; None for an open-auction bid."""

    @property
    def adjusted(self) -> int:
        """Rank score: bid × quality, exact (micros × ppm)."""
        return self.price_micros * self.quality_ppm


class Loss(NamedTuple):
    """A candidate that did not win, why (OpenRTB loss reason code), and what would have won.

    A NamedTuple rather than a frozen dataclass: an auction builds one per losing bid, and
    tuple construction costs a third of a frozen dataclass's on CPython 3.11.
    """

    candidate: Candidate
    reason: int
    min_to_win_micros: int


@dataclass(frozen=True, slots=True)
class ImpOutcome:
    """The result of the auction for one impression."""

    imp_id: str
    winner: Candidate | None
    clearing_price_micros: int
    losses: tuple[Loss, ...]


@dataclass(frozen=True, slots=True)
class DealTerms:
    """One PMP deal of an impression, with its floor already in exchange-currency micros."""

    deal_id: str
    floor_micros: int
    at: int = 2
    """Deal.at: 1 first price, 2 second price, 3 the floor is the agreed fixed deal price."""
    wseat: frozenset[str] | None = None
    """Seats allowed to bid on the deal; None allows any."""
    wadomain: frozenset[str] | None = None
    """Advertiser domains allowed on the deal; None allows any."""


@dataclass(frozen=True, slots=True)
class ImpTerms:
    """What an impression is sold under, in the units the mechanisms use.

    Built from the request (and exchange config) by ``auction.terms``; the mechanisms never
    see OpenRTB objects.
    """

    imp_id: str
    floor_micros: int
    """Open-auction floor in exchange-currency micros: the request's, raised by exchange rules."""
    deals: tuple[DealTerms, ...] = ()
    private_auction: bool = False
    """Only bids for one of ``deals`` may win (``imp.pmp.private_auction = 1``)."""
    allowed_seats: frozenset[str] | None = None
    """``BidRequest.wseat``; None allows any."""
    blocked_seats: frozenset[str] = frozenset()
    """``BidRequest.bseat``."""
    ctr_ppm: int = QUALITY_ONE
    """Click-through multiplier of this slot in a page (position) auction, 1.0 elsewhere."""


@dataclass(frozen=True, slots=True)
class AuctionRules:
    """Exchange-wide settings of the mechanisms."""

    increment_micros: int = 10_000
    """Added to second prices (never above the winner's bid); 0.01 by default."""
    deal_priority: bool = True
    """True: any valid deal bid beats every open bid. False: deal and open bids compete."""
