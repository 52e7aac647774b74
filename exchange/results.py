"""What one auction produced: how each bidder call ended, why nothing won, the outcomes and
the answer, as the HTTP route, the recorder and the simulation read them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from agents.host import AgentReport
from auction.types import ImpOutcome, ImpTerms
from exchange.bid_intake import Entry
from fraud.verdict import CLEAN, Verdict
from openrtb.privacy import UNRESTRICTED, Signals
from openrtb.request import BidRequest
from openrtb.response import BidResponse


class NoBid(StrEnum):
    """Why an auction ended without a winner (the ``reason`` label of the no-bid metric)."""

    NO_TIME = "no_time"
    """``tmax`` left nothing for the bidders after the response reserve."""
    NO_BIDS = "no_bids"
    """No bidder returned a valid bid."""
    NOT_CLEARED = "not_cleared"
    """There were valid bids, but none cleared (below floors, deal rules)."""
    BLOCKED = "blocked"
    """The traffic-quality screen refused the request before any bidder was called."""
    DUPLICATE_PATH = "duplicate_path"
    """The account's impression was seen moments ago by a path no longer (``supply.dedup``)."""
    OVERLOADED = "overloaded"
    """Answered unheard: the process had its limit of requests in flight."""
    QUEUED_TOO_LONG = "queued_too_long"
    """Answered unheard: it waited ``RTB_SHED_AFTER_MS`` before the exchange could start."""


class CallStatus(StrEnum):
    """How one bidder call ended."""

    BID = "bid"
    NO_BID = "nobid"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class AuctionPlan:
    """What is for sale: the request as the exchange's own bidders see it (privacy rules
    for its own vendor id applied), each imp's terms, the page if any, and what per-bidder
    views are built from: the request before vendor-specific rules and its signals."""

    request: BidRequest
    terms: Mapping[str, ImpTerms]
    page: Sequence[ImpTerms] | None
    full: BidRequest | None = None
    """The request before privacy rules (None: the same as ``request``)."""
    signals: Signals = UNRESTRICTED
    currency: str = "USD"
    """The currency of the answer's prices: the first of the request's ``cur`` the exchange
    converts to, else the exchange currency."""


@dataclass(frozen=True, slots=True)
class BidderCall:
    """One bidder's part in one auction (metrics, debug output)."""

    bidder: str
    status: CallStatus
    latency_ms: float
    bids_kept: int = 0
    bids_dropped: int = 0


@dataclass(frozen=True, slots=True)
class AuctionResult:
    """Everything the route needs to answer and to record the auction."""

    response: BidResponse | None
    nobid: NoBid | None
    outcomes: tuple[ImpOutcome, ...]
    calls: tuple[BidderCall, ...]
    winners: tuple[Entry, ...]
    mechanism: str = ""
    auction_id: str = ""
    """The exchange's id of the auction (bidders' request id; notices and holds key)."""
    seen: BidRequest | None = None
    """The request as the bidders saw it (privacy rules applied, unsellable imps removed)."""
    screening: Verdict = CLEAN
    """The traffic-quality screen's decision (``blocked`` set: no bidder was called)."""
    variant_bids: tuple[tuple[str, str, str], ...] = ()
    """(imp id, bid id, ``experiment:variant``) of every accepted in-process bid that was in
    an A/B test, won or lost: the auction event's ``variants`` (per-variant bid rates)."""
    agents: tuple[AgentReport, ...] = ()
    """What each ARTF agent answered at each stage and what became of its mutations."""
