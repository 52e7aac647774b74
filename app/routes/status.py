"""``/status``, ``/info/bidders`` and ``/info/bidders/{name}``, as Prebid Server has them:
public, unauthenticated facts about the exchange and its bidders (``exchange.status``),
nothing an operator keeps secret (no endpoint, credential, budget or store address)."""

from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.errors import JSON, ErrorExample, documented_error, error_response
from app.services import services_of
from exchange.status import (
    BidderInfo,
    BidderNames,
    Status,
    UnknownBidder,
    bidder_info,
    bidder_names,
    status,
)

router = APIRouter(tags=["status"])

_UNKNOWN: Final = ErrorExample("name", "no bidder 'nope'")


@router.get(
    "/status",
    summary="Version and uptime",
    response_model=Status,
    responses={
        200: {
            "description": "The exchange answers.",
            "content": {
                JSON: {
                    "example": {
                        "status": "ok",
                        "version": "0.1.0",
                        "uptime_s": 3600.125,
                        "openrtb": "2.6",
                        "store": "redis",
                        "python": "3.11.9",
                    }
                }
            },
        }
    },
)
async def read_status(request: Request) -> Status:
    """The process's version, seconds since it started, and the OpenRTB version it speaks."""
    return status(services_of(request))


@router.get(
    "/info/bidders",
    summary="The bidders' names",
    response_model=BidderNames,
    responses={
        200: {
            "description": "Every bidder of this exchange, sorted.",
            "content": {JSON: {"example": {"bidders": ["acme-dsp", "house"]}}},
        }
    },
)
async def list_bidders(request: Request) -> BidderNames:
    return bidder_names(services_of(request))


@router.get(
    "/info/bidders/{name}",
    summary="What one bidder buys and how it is reached",
    response_model=BidderInfo,
    openapi_extra={
        "parameters": [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "A name from `/info/bidders`.",
                "schema": {"type": "string"},
            }
        ]
    },
    responses={
        200: {
            "description": "The bidder: media types, banner sizes, protocol, whether enabled.",
            "content": {
                JSON: {
                    "example": {
                        "name": "house",
                        "kind": "in-process",
                        "enabled": True,
                        "protocol": "in-process",
                        "openrtb": "2.6",
                        "media_types": ["banner"],
                        "sizes": ["300x250", "728x90"],
                        "seats": ["acme", "pixel"],
                    }
                }
            },
        },
        404: documented_error("No bidder of that name.", {"unknown": _UNKNOWN}),
    },
)
async def read_bidder(request: Request) -> Response | BidderInfo:
    name = request.path_params["name"]
    try:
        return bidder_info(services_of(request), name)
    except UnknownBidder:
        return error_response(404, "name", f"no bidder {name!r}")
