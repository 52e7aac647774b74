"""The OpenAPI document, with the OpenRTB schemas the auction endpoint really takes.

The auction handler reads its body itself (see ``app.routes.auction``), so FastAPI cannot
infer the schema; it is generated here from the same pydantic models that validate the
wire, with the spec's own example requests and this exchange's example response.
"""

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from app.routes.auction import AUCTION_PATH
from openrtb.request import BidRequest
from openrtb.response import BidResponse

_REF = "#/components/schemas/{model}"
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "field": {"type": "string", "example": "imp[0].bidfloor"},
                "message": {"type": "string", "example": "must be >= 0"},
                "nbr": {"type": "integer", "example": 2},
            },
            "required": ["field", "message"],
        }
    },
}


_AUCTION_DESCRIPTION = """\
200 with the winning bids at their clearing prices, 204 when nothing wins, 400 naming the
field of an invalid request, 413 too large, 415 not JSON.

**Prices.** Every `price` is a CPM in the exchange currency (`cur`). A bid's price is taken
from its decimal text, rounded down to the micro (10⁻⁶); a bid under one micro, or above the
exchange's maximum (`RTB_MAX_BID_CPM`, default 1,000), is refused with loss reason 3.
Floors round up. A winner's `price` is its clearing price; one impression costs `price` ÷
1000, rounded down to the micro.

**Page auctions** (`ext.page_auction: 1`, at least two imps, `at` ≠ 1, no deals) are sold
together by VCG. An imp may give its slot's relative click-through rate in
`imp.ext.slot_ctr` (in (0, 1], default 1). A bid on such an imp is the bidder's value *per
unit of slot CTR*: its value for one impression of the slot is `bid × slot_ctr`. The imp's
`bidfloor` is per impression: a bid is below it when `bid × slot_ctr < bidfloor`. Each
winner's `price` — and `${AUCTION_PRICE}` in its markup and notice URLs — is per impression
and is what the impression is charged: its Clarke externality per impression plus the
increment, never below the floor and never above `bid × slot_ctr`. (Divide by the
`slot_ctr` for the price per unit of CTR.) `${AUCTION_MIN_TO_WIN}` is in bid units.
"""


@cache
def _example(name: str) -> Any:
    return json.loads(resources.files("app").joinpath("examples", name).read_text())


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, computed once."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, top = models_json_schema(
        [(BidRequest, "validation"), (BidResponse, "serialization")], ref_template=_REF
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(top.get("$defs", {}))
    components["Error"] = _ERROR_SCHEMA
    operation: dict[str, Any] = {
        "tags": ["auction"],
        "summary": "Run an auction for an OpenRTB 2.6 bid request",
        "operationId": "auction",
        "description": _AUCTION_DESCRIPTION,
    }
    schema.setdefault("paths", {})[AUCTION_PATH] = {"post": operation}
    operation["requestBody"] = {
        "required": True,
        "description": "An OpenRTB 2.6 BidRequest (optionally gzip-encoded).",
        "content": {
            "application/json": {
                "schema": {"$ref": _REF.format(model="BidRequest")},
                "examples": {
                    "simple_banner": {
                        "summary": "OpenRTB 2.6 spec example 6.2.1: simple banner",
                        "value": _example("request_simple_banner.json"),
                    },
                    "mobile_app": {
                        "summary": "OpenRTB 2.6 spec example 6.2.3: mobile app",
                        "value": _example("request_mobile_app.json"),
                    },
                },
            }
        },
    }
    operation["responses"] = {
        "200": {
            "description": "The winning bids at their clearing prices, with signed notice URLs.",
            "headers": {"x-openrtb-version": {"schema": {"type": "string", "example": "2.6"}}},
            "content": {
                "application/json": {
                    "schema": {"$ref": _REF.format(model="BidResponse")},
                    "example": _example("response_banner.json"),
                }
            },
        },
        "204": {"description": "No bid: nothing won (empty body)."},
        "400": _error("Invalid request; `field` names what is wrong, `nbr` is 2."),
        "413": _error("Body larger than the configured limit (default 64 KiB)."),
        "415": _error("Content type is not JSON, or an unsupported content encoding."),
    }
    app.openapi_schema = schema
    return schema
