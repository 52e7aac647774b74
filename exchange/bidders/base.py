"""The one interface every bidder answers through, in-process router or external DSP, and
the typed lane of the in-process ones.

An external DSP answers with a BidResponse, validated in full. An in-process router may
offer instead (``OfferingBidder``): typed ``Offer`` values in exchange micros that become
auction candidates directly; the pydantic ``Bid`` of an offer is built only if it wins.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from bidding.campaigns import Campaign
from bidding.features import ProfileCounts
from bidding.landscape_file import Observation
from openrtb.imp import Imp
from openrtb.money import cpm_to_micros, micros_to_cpm
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse


class Offer(NamedTuple):
    """One bid of an in-process router: its ids, its price in exchange micros, its deal,
    and the campaign × creative's bid template (validated once, at start-up), which holds
    everything else. Reads like a ``Bid`` where the exchange reads a bid."""

    id: str
    impid: str
    seat: str
    price_micros: int
    dealid: str | None
    template: Bid
    profile: ProfileCounts | None = None
    """The user's profile counts it was scored with (logged with a winning bid for training)."""
    variant: str | None = None
    """``experiment:variant`` of its campaign's A/B test (``bidding.experiment_config``)."""
    canary: str | None = None
    """``canary:arm`` while a canary rollout runs (``bidding.canary``)."""

    @property
    def price(self) -> float:
        """The CPM, as a bid on the wire would say it."""
        return micros_to_cpm(self.price_micros)

    @property
    def cid(self) -> str | None:
        return self.template.cid

    @property
    def adid(self) -> str | None:
        return self.template.adid

    @property
    def crid(self) -> str | None:
        return self.template.crid

    @property
    def adomain(self) -> list[str] | None:
        return self.template.adomain

    @property
    def cat(self) -> list[str] | None:
        return self.template.cat

    @property
    def cattax(self) -> int:
        return self.template.cattax

    @property
    def bundle(self) -> str | None:
        return self.template.bundle

    @property
    def mtype(self) -> int | None:
        return self.template.mtype

    @property
    def attr(self) -> list[int] | None:
        return self.template.attr

    @property
    def w(self) -> int | None:
        return self.template.w

    @property
    def h(self) -> int | None:
        return self.template.h

    @property
    def adm(self) -> str | None:
        return self.template.adm

    @property
    def nurl(self) -> str | None:
        return self.template.nurl

    @property
    def burl(self) -> str | None:
        return self.template.burl

    @property
    def lurl(self) -> str | None:
        return self.template.lurl

    @property
    def ext(self) -> dict[str, Any] | None:
        return self.template.ext

    def to_bid(self, **update: object) -> Bid:
        """The pydantic bid (one shallow copy of the template), with ``update`` applied."""
        fields: dict[str, object] = {"id": self.id, "impid": self.impid, "price": self.price}
        if self.dealid is not None:
            fields["dealid"] = self.dealid
        fields.update(update)
        return self.template.model_copy(update=fields)


BidLike = Bid | Offer
"""A bid as the exchange handles it: an external DSP's, or an in-process router's offer."""


def price_micros(bid: BidLike) -> int:
    """A bid's price in micros (an offer's exactly; a wire bid's from its CPM)."""
    if isinstance(bid, Offer):
        return bid.price_micros
    return cpm_to_micros(bid.price or 0.0)


class BidResult(NamedTuple):
    """What one of a bidder's bids met in an auction (the exchange's feedback)."""

    bid: BidLike
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
class OfferingBidder(Protocol):
    """An in-process bidder on the typed lane: offers instead of a BidResponse."""

    async def offers(self, request: BidRequest, timeout_s: float) -> Sequence[Offer]:
        """Its offers for ``request`` (empty: no bid), in exchange micros."""
        ...


@runtime_checkable
class HoldingBidder(Protocol):
    """A bidder that holds budget for every bid it makes (the in-process routers): the
    exchange tells it which bids lost so the money goes back at once, not at hold expiry."""

    async def release_lost(self, auction_id: str, lost: Sequence[BidLike]) -> None:
        """Release the holds of ``lost`` bids of ``auction_id``."""
        ...


@runtime_checkable
class LearningBidder(Protocol):
    """A bidder that learns the market from the exchange's feedback on its bids (the
    in-process routers shade first-price bids on what they learn)."""

    def observe(self, request: BidRequest, results: Sequence[BidResult]) -> Sequence[Observation]:
        """What each of its bids in one auction met (won or lost, the competing price); what
        it learnt from them (logged: ``rtb landscapes`` replays them)."""
        ...


@runtime_checkable
class CampaignHost(Protocol):
    """A bidder whose campaigns the exchange knows (the in-process routers)."""

    @property
    def campaigns(self) -> Sequence[Campaign]:
        """The campaigns it bids for."""
        ...
