"""The one interface every bidder answers through, in-process router or external DSP."""

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from bidding.campaigns import Campaign
from openrtb.imp import Imp
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse


class BidResult(NamedTuple):
    """What one of a bidder's bids met in an auction (the exchange's feedback)."""

    bid: Bid
    won: bool
    competing_micros: int | None
    """The best competing offer it met: the clearing price of a won second-price bid, the
    minimum to win of a lost one; None when unknown."""


class Bidder(Protocol):
    """Request in, bids out, within a deadline the exchange also enforces from outside.

    The exchange asks ``eligible`` for every imp and sends each bidder a view of the request
    with only its eligible imps (a bidder with none is not called). ``request_bids`` raises a
    ``exchange.bidders.errors.BidderError`` for a failed call; no bid is None.
    """

    @property
    def name(self) -> str:
        """Unique name in the registry; used in metrics, logs and notice tokens."""
        ...

    def ready(self) -> bool:
        """Whether the bidder can take traffic now (for /readyz)."""
        ...

    def eligible(self, imp: Imp) -> bool:
        """Whether ``imp`` may be sent to this bidder (media type, size)."""
        ...

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        """Bids for ``request`` (None or an empty response for no bid)."""
        ...


@runtime_checkable
class HoldingBidder(Protocol):
    """A bidder that holds budget for every bid it makes (the in-process routers): the
    exchange tells it which bids lost so the money goes back at once, not at hold expiry."""

    async def release_lost(self, auction_id: str, lost: Sequence[Bid]) -> None:
        """Release the holds of ``lost`` bids of ``auction_id``."""
        ...


@runtime_checkable
class LearningBidder(Protocol):
    """A bidder that learns the market from the exchange's feedback on its bids (the
    in-process routers shade first-price bids on what they learn)."""

    def observe(self, request: BidRequest, results: Sequence[BidResult]) -> None:
        """What each of its bids in one auction met (won or lost, the competing price)."""
        ...


@runtime_checkable
class CampaignHost(Protocol):
    """A bidder whose campaigns the exchange knows (the in-process routers)."""

    @property
    def campaigns(self) -> Sequence[Campaign]:
        """The campaigns it bids for."""
        ...
