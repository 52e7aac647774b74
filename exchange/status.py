"""What the exchange tells anyone about itself, in the manner of Prebid Server's ``/status``
and ``/info/bidders``: its version and uptime, and which bidders it runs with what they buy.

Public by design (``app.routes.status`` serves it unauthenticated), so it carries nothing
an operator keeps secret: no endpoint URL, credential, campaign budget or store address.
"""

import platform
import time
from typing import Final, Literal

from pydantic import BaseModel

from bidding.router import CampaignRouter
from exchange.bidders.http import OPENRTB_VERSION, HttpBidder
from exchange.metrics import build_version
from exchange.services import Services

MediaType = Literal["banner", "video", "audio", "native"]
_MEDIA_ORDER: Final[tuple[MediaType, ...]] = ("banner", "video", "audio", "native")


class Status(BaseModel):
    status: Literal["ok"]
    version: str
    """The installed package's version."""
    uptime_s: float
    """Seconds since this process built its services."""
    openrtb: str
    """The OpenRTB version the exchange speaks."""
    store: Literal["memory", "redis"]
    python: str


class BidderNames(BaseModel):
    bidders: list[str]


class BidderInfo(BaseModel):
    """One bidder: what it buys and how it is reached."""

    name: str
    kind: Literal["in-process", "external"]
    enabled: bool
    """Whether the fan-out calls it now (an operator may turn it off)."""
    protocol: str
    """``in-process``, or the HTTP protocol of an external DSP: ``h2``, ``h2c``, ``http1.1``."""
    openrtb: str
    media_types: list[MediaType]
    sizes: list[str] | None = None
    """Banner sizes ``WxH`` it buys (None: any size)."""
    seats: list[str] | None = None
    """The seats it bids with (None: not restricted)."""


class UnknownBidder(LookupError):
    """No bidder of that name in this exchange."""


def status(services: Services, monotonic: float | None = None) -> Status:
    now = time.monotonic() if monotonic is None else monotonic
    return Status(
        status="ok",
        version=build_version(),
        uptime_s=round(max(0.0, now - services.built_at), 3),
        openrtb=OPENRTB_VERSION,
        store=services.settings.store,
        python=platform.python_version(),
    )


def bidder_names(services: Services) -> BidderNames:
    """Every bidder's name, sorted (disabled ones included: ``/info/bidders/{name}`` says)."""
    return BidderNames(bidders=sorted(services.registry.bidders))


def bidder_info(services: Services, name: str) -> BidderInfo:
    """The bidder's public description; UnknownBidder when there is none of that name."""
    bidder = services.registry.bidders.get(name)
    if bidder is None:
        raise UnknownBidder(name)
    enabled = name not in services.exchange.disabled
    if isinstance(bidder, CampaignRouter):
        creatives = [k for c in bidder.campaigns for k in c.creatives]
        media = {k.media_type for k in creatives}
        sizes = sorted({(k.w, k.h) for k in creatives if k.media_type == "banner" and k.w})
        return BidderInfo(
            name=name,
            kind="in-process",
            enabled=enabled,
            protocol="in-process",
            openrtb=OPENRTB_VERSION,
            media_types=[m for m in _MEDIA_ORDER if m in media],
            sizes=[f"{w}x{h}" for w, h in sizes],
            seats=sorted({c.seat for c in bidder.campaigns}),
        )
    spec = bidder.spec if isinstance(bidder, HttpBidder) else None
    return BidderInfo(
        name=name,
        kind="external",
        enabled=enabled,
        protocol=spec.protocol if spec is not None else "unknown",
        openrtb=OPENRTB_VERSION,
        media_types=[m for m in _MEDIA_ORDER if spec is None or m in spec.media_types],
        sizes=(
            None
            if spec is None or spec.sizes is None
            else [f"{w}x{h}" for w, h in sorted(spec.sizes)]
        ),
        seats=sorted(spec.seats) if spec is not None and spec.seats else None,
    )
