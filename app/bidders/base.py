"""The one interface every bidder answers through, in-process router or external DSP."""

from typing import Protocol

from openrtb.request import BidRequest
from openrtb.response import BidResponse


class Bidder(Protocol):
    """Request in, bids out, within a deadline the exchange also enforces from outside."""

    @property
    def name(self) -> str:
        """Unique name in the registry; used in metrics, logs and notice tokens."""
        ...

    def ready(self) -> bool:
        """Whether the bidder can take traffic now (for /readyz)."""
        ...

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        """Bids for ``request`` (None or an empty response for no bid)."""
        ...
