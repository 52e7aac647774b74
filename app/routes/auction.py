"""``POST /openrtb2/auction``: the SSP-facing endpoint.

The body is read once and parsed once (orjson into the pydantic models) by the handler
itself rather than through a FastAPI body parameter, which would parse it with the
standard-library json first. The handler is a plain Starlette route placed first in the
routing table: the hottest path skips FastAPI's dependency solving and its scan of the
other routes (together about a tenth of the exchange's own time per request). Its OpenAPI
entry is therefore written by ``app.openapi``.
"""

import time
from functools import lru_cache
from typing import Final

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.body import read_body
from app.debug import Explaining, wants_debug, with_debug
from app.errors import JSON, ClientError, error_response
from app.exchange import AuctionResult
from app.services import Services, services_of
from bidding.event_log import WINNER_EVENT, ad_key, winner_fields
from openrtb.codec import decode_request, encode_response
from openrtb.enums import NoBidReason
from openrtb.errors import InvalidRequest
from openrtb.request import BidRequest
from openrtb.validate import validate_request

OPENRTB_VERSION: Final = "2.6"
OPENRTB_HEADERS: Final = {"x-openrtb-version": OPENRTB_VERSION}
AUCTION_PATH: Final = "/openrtb2/auction"

log = structlog.get_logger("app.auction")


async def _parse(request: Request, services: Services) -> BidRequest:
    body = await read_body(request, services.settings.max_body_bytes)
    try:
        bid_request = decode_request(body)
        validate_request(bid_request, services.rules)
    except InvalidRequest as exc:
        raise ClientError(400, exc.field, exc.message, NoBidReason.INVALID_REQUEST) from exc
    return bid_request


async def auction(request: Request) -> Response:
    """200 with a BidResponse of the winning bids at their clearing prices, 204 when nothing
    wins, 400 naming the field of an invalid request, 413 too large, 415 not JSON."""
    received_at = time.monotonic()
    services = services_of(request)
    metrics = services.metrics
    try:
        bid_request = await _parse(request, services)
    except ClientError as exc:
        metrics.requests.labels("invalid").inc()
        response = error_response(exc.status, exc.field, exc.message, exc.nbr)
        response.headers.update(OPENRTB_HEADERS)
        return response
    base_url = services.settings.public_url or _base_url(
        request.scope["scheme"], request.headers.get("host", ""), request.scope.get("root_path", "")
    )
    try:
        result = await services.exchange.run(
            bid_request, received_at=received_at, notice_base_url=base_url.rstrip("/")
        )
    except InvalidRequest as exc:
        metrics.requests.labels("invalid").inc()
        response = error_response(400, exc.field, exc.message, NoBidReason.INVALID_REQUEST)
        response.headers.update(OPENRTB_HEADERS)
        return response
    _record(services, bid_request, result, received_at)
    answer = result.response
    if services.settings.debug_allowed and wants_debug(bid_request):
        registry = services.registry
        routers = {
            name: bidder
            for name in registry.in_process
            if isinstance(bidder := registry.bidders[name], Explaining)
        }
        answer = with_debug(bid_request, result, routers)
    if answer is None:
        return Response(status_code=204, headers=OPENRTB_HEADERS)
    return Response(encode_response(answer), media_type=JSON, headers=OPENRTB_HEADERS)


@lru_cache(maxsize=64)
def _base_url(scheme: str, host: str, root_path: str) -> str:
    """Where notice URLs point when no public URL is configured: where the request came in.

    Cached: building it from the request costs more than the rest of the response headers.
    """
    return f"{scheme}://{host}{root_path}"


route = Route(AUCTION_PATH, auction, methods=["POST"], name="auction", include_in_schema=False)
"""Mounted first by ``app.main.create_app``."""


def _record(
    services: Services, request: BidRequest, result: AuctionResult, received_at: float
) -> None:
    """Metrics for every auction; its events; one canonical log line for a sampled few."""
    metrics = services.metrics
    outcome = "bid" if result.response is not None else "nobid"
    metrics.requests.labels(outcome).inc()
    if result.nobid is not None:
        metrics.nobids.labels(result.nobid.value).inc()
    elapsed_s = time.monotonic() - received_at
    metrics.latency.observe(elapsed_s)
    services.events.emit(
        "auction",
        auction_id=result.auction_id,
        request_id=request.id,
        imps=len(request.imp),
        mechanism=result.mechanism,
        outcome=outcome,
        nobid=result.nobid.value if result.nobid else None,
        winners=";".join(  # imp | bidder/seat/bid id | bid micros | clearing micros
            f"{o.imp_id}|{o.winner.bid_id}|{o.winner.price_micros}|{o.clearing_price_micros}"
            for o in result.outcomes
            if o.winner is not None
        ),
    )
    if result.winners and services.registry.campaigns:
        _record_winner_features(services, request, result)
    if services.log_sampler.random() < services.settings.auction_log_sample_rate:
        log.info(
            "auction",
            auction_id=request.id,
            imps=len(request.imp),
            outcome=outcome,
            winners=[w.candidate.bid_id for w in result.winners],
            bidders={c.bidder: c.status.value for c in result.calls},
            elapsed_ms=round(elapsed_s * 1000, 3),
        )


def _record_winner_features(services: Services, request: BidRequest, result: AuctionResult) -> None:
    """One ``winner_features`` event per winning bid of an in-process campaign: the raw
    feature inputs it was scored on, keyed by auction, imp and bid id, so the event log can
    train the models (``bidding.event_log``). Test auctions are not logged (never billed).

    The inputs are those the router saw: the request after the exchange's privacy rules.
    """
    registry = services.registry
    won = []
    for entry in result.winners:
        campaign = registry.campaign(entry.bidder, entry.bid.cid or "")
        if campaign is not None:
            won.append((entry, campaign))
    seen = result.seen
    if not won or request.test == 1 or seen is None:
        return
    now_s = time.time()
    for entry, campaign in won:
        bid = entry.bid
        imp = next((i for i in seen.imp if i.id == bid.impid), None)
        creative = next((c for c in campaign.creatives if c.id == bid.adid), None)
        if imp is None or creative is None:
            continue
        services.events.emit(
            WINNER_EVENT,
            auction_id=result.auction_id,
            imp_id=bid.impid,
            bid_id=bid.id,
            bidder=entry.bidder,
            **winner_fields(seen, imp, now_s, ad_key(campaign, creative)),
        )
