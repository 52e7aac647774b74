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

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.body import read_body
from app.debug import Explaining, wants_debug, with_debug
from app.errors import JSON, ClientError, error_response
from app.http_limits import arrived_at
from app.rejections import rejections_of
from app.services import Services, services_of
from exchange.gate import KEY_FIELD, Refused
from openrtb.codec import decode_request, encode_response
from openrtb.enums import NoBidReason
from openrtb.errors import InvalidRequest
from openrtb.request import BidRequest
from openrtb.validate import validate_request

OPENRTB_VERSION: Final = "2.6"
OPENRTB_HEADERS: Final = {"x-openrtb-version": OPENRTB_VERSION}
AUCTION_PATH: Final = "/openrtb2/auction"
WWW_AUTHENTICATE: Final = 'Bearer realm="openrtb"'


async def _parse(request: Request, services: Services) -> BidRequest:
    body = await read_body(request, services.settings.max_body_bytes)
    try:
        bid_request = decode_request(body)
        validate_request(bid_request, services.rules)
    except InvalidRequest as exc:
        raise ClientError(400, exc.field, exc.message, NoBidReason.INVALID_REQUEST) from exc
    return bid_request


def presented_key(request: Request) -> str | None:
    """The API key a request carries: ``x-api-key``, else ``Authorization: Bearer``."""
    headers = request.headers
    key = headers.get(KEY_FIELD)
    if key:
        return key
    authorization = headers.get("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def _refused(request: Request, services: Services, refused: Refused) -> Response:
    services.metrics.requests.labels("refused").inc()
    services.metrics.auction_refused.labels(refused.reason).inc()
    rejections_of(request).request(AUCTION_PATH, refused.status, refused.field)
    headers = dict(OPENRTB_HEADERS)
    if refused.retry_after_s is not None:
        headers["retry-after"] = str(refused.retry_after_s)
    if refused.status == 401:
        headers["www-authenticate"] = WWW_AUTHENTICATE
    return error_response(refused.status, refused.field, refused.message, headers=headers)


async def auction(request: Request) -> Response:
    """200 with a BidResponse of the winning bids at their clearing prices, 204 when nothing
    wins, 400 naming the field of an invalid request, 401/403 without a key or account
    that may send it, 413 too large, 415 not JSON, 429 over a rate limit."""
    received_at = arrived_at(request.scope) or time.monotonic()
    services = services_of(request)
    metrics = services.metrics
    gate = services.gate
    client = request.scope.get("client")
    try:  # before the body is read: a refused client costs no parsing
        account = gate.admit(
            presented_key(request) if gate.mode == "keys" else None,
            client[0] if client else None,
        )
    except Refused as refused:
        return _refused(request, services, refused)
    try:
        bid_request = await _parse(request, services)
        gate.check(account, bid_request)
    except Refused as refused:
        return _refused(request, services, refused)
    except ClientError as exc:
        metrics.requests.labels("invalid").inc()
        rejections_of(request).request(AUCTION_PATH, exc.status, exc.field)
        response = error_response(exc.status, exc.field, exc.message, exc.nbr)
        response.headers.update(OPENRTB_HEADERS)
        return response
    base_url = services.settings.public_url or _base_url(
        request.scope["scheme"], request.headers.get("host", ""), request.scope.get("root_path", "")
    )
    try:
        result = await services.exchange.auction(
            bid_request,
            received_at=received_at,
            notice_base_url=base_url.rstrip("/"),
            account=account,
        )
    except InvalidRequest as exc:  # counted by the exchange
        rejections_of(request).request(AUCTION_PATH, 400, exc.field)
        response = error_response(400, exc.field, exc.message, NoBidReason.INVALID_REQUEST)
        response.headers.update(OPENRTB_HEADERS)
        return response
    answer = result.response
    may_debug = account.debug if account is not None else services.settings.debug_allowed
    if may_debug and wants_debug(bid_request):
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
