"""Debug output for integrators: what each bidder did in an auction, in the response ``ext``.

The traffic screen's decision (what blocked the request, what was flagged) is part of it; a
request the screen blocked carries its no-bid reason in ``nbr`` here.

Only when the exchange allows it (``RTB_DEBUG_ALLOWED``) and the request asks for it
(``test = 1`` or ``ext.debug = 1``): it tells a caller which bidders were called and how they
fared, which must not leak to every SSP in production. A debug request that nothing wins is
answered 200 with an empty ``seatbid`` (instead of 204) so the debug object has a place.
"""

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from exchange.core import AuctionResult
from openrtb.money import micros_to_cpm
from openrtb.privacy import apply_privacy
from openrtb.request import BidRequest
from openrtb.response import BidResponse


def wants_debug(request: BidRequest) -> bool:
    """Whether the request asks for debug output."""
    return request.test == 1 or bool(request.ext and request.ext.get("debug") in (1, True))


def debug_object(result: AuctionResult) -> dict[str, Any]:
    """Per-bidder status, latency and bid counts; each agent's answer and what became of
    every mutation it proposed; per-imp losses with reasons."""
    return {
        "mechanism": result.mechanism,
        "nobid_reason": result.nobid.value if result.nobid else None,
        "screening": result.screening.as_json(),
        "bidders": {
            call.bidder: {
                "status": call.status.value,
                "latency_ms": round(call.latency_ms, 3),
                "bids_kept": call.bids_kept,
                "bids_dropped": call.bids_dropped,
            }
            for call in result.calls
        },
        "agents": [report.as_json() for report in result.agents],
        "imps": {
            outcome.imp_id: {
                "winner": outcome.winner.bid_id if outcome.winner else None,
                "clearing_price": micros_to_cpm(outcome.clearing_price_micros),
                "losses": [
                    {
                        "bid": loss.candidate.bid_id,
                        "reason": int(loss.reason),
                        "min_to_win": micros_to_cpm(loss.min_to_win_micros),
                    }
                    for loss in outcome.losses
                ],
            }
            for outcome in result.outcomes
        },
    }


@runtime_checkable
class Explaining(Protocol):
    """An in-process router that can say why each of its campaigns did (not) bid."""

    def explain(self, request: BidRequest) -> dict[str, dict[str, str]]: ...


def with_debug(
    request: BidRequest,
    result: AuctionResult,
    routers: Mapping[str, Explaining] | None = None,
) -> BidResponse:
    """The response to send, carrying ``ext.debug`` (with, per in-process router, each
    campaign's reason per imp, on the request as the bidders saw it)."""
    debug = debug_object(result)
    if routers and result.screening.blocked is None:  # a blocked request reached no router
        seen = result.seen or apply_privacy(request)
        if result.auction_id:  # the id the routers bid on (their canary arm hangs on it)
            seen = seen.model_copy(update={"id": result.auction_id})
        debug["routers"] = {name: router.explain(seen) for name, router in routers.items()}
    if result.response is None:
        blocked = result.screening.blocked
        nbr = int(blocked.reason) if blocked is not None else None
        return BidResponse(id=request.id, seatbid=[], nbr=nbr, ext={"debug": debug})
    ext = dict(result.response.ext or {})
    ext["debug"] = debug
    return result.response.model_copy(update={"ext": ext})
