"""The auction rules and limits of one exchange, in the units used inside."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from auction.currency import CurrencyRates
from auction.floors import FloorRule
from auction.types import AuctionRules
from exchange.bid_intake import DEFAULT_MAX_BID_MICROS


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """The auction rules and limits of one exchange, in the units used inside."""

    rates: CurrencyRates
    rules: AuctionRules
    floor_rules: tuple[FloorRule, ...]
    page_auction_default: bool
    default_tmax_ms: int
    bidder_timeout_ms: int
    response_reserve_ms: int
    notice_ttl_s: int
    tiebreak_secret: bytes
    quality_ppm: Mapping[str, int]
    """By ``seat/crid``, ``seat`` or bidder name; QUALITY_ONE when absent."""
    seller_domain: str = "rtb-exchange.invalid"
    """The exchange's ``asi`` in the supply chain (its advertising system domain)."""
    bidder_seats: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Seats each external bidder may bid with (absent or empty: any)."""
    max_bid_micros: int = DEFAULT_MAX_BID_MICROS
    """Bids above this CPM (exchange micros, after conversion) are refused with reason 3."""
    gvl_vendor_ids: Mapping[str, int] = field(default_factory=dict)
    """Each external bidder's TCF (GVL) vendor id; one without gets no personal data under
    GDPR."""
    own_gvl_vendor_id: int | None = None
    """The exchange's own vendor id: the in-process routers are the exchange, and get (and
    the exchange logs and keys by) what this vendor may receive."""

    @property
    def currency(self) -> str:
        """The exchange currency: every price inside is micros of it."""
        return self.rates.exchange_currency
