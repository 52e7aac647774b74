"""The OpenAPI document, with the OpenRTB schemas the auction endpoint really takes.

The auction handler reads its body itself (see ``app.routes.auction``), so FastAPI cannot
infer the schema; it is generated here from the same pydantic models that validate the
wire, with the spec's own example requests and this exchange's example response.
"""

import json
from functools import cache
from importlib import resources
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.responses import HTMLResponse

from app.admission import ALWAYS_ADMITTED
from app.errors import ERROR_SCHEMA_REF, JSON, ErrorExample, documented_error, error_body
from app.routes.auction import AUCTION_PATH, OPENRTB_VERSION
from exchange.gate import KEY_FIELD, NO_KEY, UNKNOWN_KEY
from exchange.settings import Settings
from openrtb.request import BidRequest
from openrtb.response import BidResponse

_REF = "#/components/schemas/{model}"
_DEFAULTS: Final = Settings.model_fields
_LIMIT: Final = _DEFAULTS["max_body_bytes"].default
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


_ANY_REQUEST = """

**Any request** may also be answered, before it reaches an endpoint, 400 when it is not
HTTP, 408 when its head or body takes too long, 431 when its head is too large, and 405 —
with `Allow` naming the methods the path takes — for a method the path does not take. All
errors share one body: `{"error": {"field", "message"[, "nbr"]}}`."""

_VERSION_HEADER: Final = {
    "x-openrtb-version": {
        "description": "The OpenRTB version of the answer.",
        "required": True,
        "schema": {"type": "string", "const": OPENRTB_VERSION},
    }
}


def _auction_error(description: str, examples: dict[str, ErrorExample]) -> dict[str, Any]:
    return documented_error(description, examples, headers=_VERSION_HEADER)


_NOT_JSON_MESSAGE: Final = "invalid JSON: Input is a zero-length, empty document at line 1 column 1"
_AUCTION_ERRORS: Final = {
    "400": _auction_error(
        "Invalid request; `field` names what is wrong, `nbr` is 2 (invalid request).",
        {
            "no_imp": ErrorExample("imp", "must contain at least one impression", 2),
            "duplicate_imp": ErrorExample("imp[1].id", 'duplicate imp id "1"', 2),
            "no_media": ErrorExample("imp[0]", "must offer banner, video, audio or native", 2),
            "not_json": ErrorExample("body", _NOT_JSON_MESSAGE, 2),
        },
    ),
    "401": documented_error(
        "No API key, or one no SSP account has (only with SSP accounts, `RTB_AUTH=keys`).",
        {
            "no_key": ErrorExample(KEY_FIELD, NO_KEY),
            "unknown_key": ErrorExample(KEY_FIELD, UNKNOWN_KEY),
        },
        headers={
            **_VERSION_HEADER,
            "www-authenticate": {
                "description": "The scheme to authenticate with.",
                "required": True,
                "schema": {"type": "string"},
            },
        },
    ),
    "403": _auction_error(
        "The key's account is disabled, or may not sell the request's publisher.",
        {
            "account_disabled": ErrorExample(KEY_FIELD, "account ssp-example is disabled"),
            "publisher_not_allowed": ErrorExample(
                "site.publisher.id", "publisher '77' is not sold by account ssp-example"
            ),
        },
    ),
    "429": documented_error(
        "Over the account's request rate, or the client address's: retry after `Retry-After`.",
        {
            "account_rate": ErrorExample(
                "account", "account ssp-example is over its request rate (~11 in the last 1 s)"
            ),
            "address_rate": ErrorExample(
                "client", "this address is over its request rate (~2001 in the last 1 s)"
            ),
        },
        headers={
            **_VERSION_HEADER,
            "retry-after": {
                "description": "Seconds to wait.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            },
        },
    ),
    "413": _auction_error(
        f"Body larger than the configured limit (default {_LIMIT:,} bytes).",
        {"too_large": ErrorExample("body", f"larger than {_LIMIT} bytes")},
    ),
    "415": _auction_error(
        "Content type is not JSON, or an unsupported content encoding.",
        {
            "content_type": ErrorExample(
                "content-type", "expected application/json, got 'text/plain'"
            ),
            "content_encoding": ErrorExample("content-encoding", "unsupported 'br'; use gzip"),
        },
    ),
}


_SECURITY_SCHEMES: Final = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": KEY_FIELD,
        "description": "An SSP account's API key (`rtb accounts key` makes one).",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, computed once."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description + _ANY_REQUEST,
        routes=app.routes,
    )
    _, top = models_json_schema(
        [(BidRequest, "validation"), (BidResponse, "serialization")], ref_template=_REF
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(top.get("$defs", {}))
    components[ERROR_SCHEMA_REF.rsplit("/", 1)[1]] = _ERROR_SCHEMA
    operation: dict[str, Any] = {
        "tags": ["auction"],
        "summary": "Run an auction for an OpenRTB 2.6 bid request",
        "operationId": "auction",
        "description": _AUCTION_DESCRIPTION,
    }
    schema["components"].setdefault("securitySchemes", {}).update(_SECURITY_SCHEMES)
    # Either key header; the empty alternative: none needed in ``open`` mode.
    operation["security"] = [{"apiKey": []}, {"bearer": []}, {}]
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
            "headers": _VERSION_HEADER,
            "content": {
                JSON: {
                    "schema": {"$ref": _REF.format(model="BidResponse")},
                    "example": _example("response_banner.json"),
                }
            },
        },
        "204": {
            "description": "No bid: nothing won, or the exchange is too busy to run the "
            "auction within `tmax` (empty body).",
            "headers": _VERSION_HEADER,
        },
        **_AUCTION_ERRORS,
    }
    for path, methods in schema["paths"].items():
        for operation in methods.values():
            _true_validation_error(operation)
            if path not in ALWAYS_ADMITTED and path != AUCTION_PATH:
                _document_overload(operation)
    app.openapi_schema = schema
    return schema


def _true_validation_error(operation: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body (``detail``) on routes with validated parameters
    or bodies; ``app.errors`` renders it as the one error body, naming the first field."""
    response = operation.get("responses", {}).get("422")
    if response is None:
        return
    if response.get("content", {}).get(JSON, {}).get("schema") == {"$ref": ERROR_SCHEMA_REF}:
        return  # the route documents its own 422s (``app.routes.admin``)
    operation["responses"]["422"] = documented_error(
        "Invalid parameters or body: `field` names the first problem.",
        {"missing": ErrorExample(_first_required(operation), "Field required")},
    )


def _first_required(operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter.get("required"):
            return str(parameter["name"])
    return "request"


def _document_overload(operation: dict[str, Any]) -> None:
    """The 503 with ``Retry-After`` that ``app.admission`` answers past ``max_in_flight`` on
    every path but the auction (a 204 there) and the always-admitted ones."""
    max_in_flight = _DEFAULTS["max_in_flight"].default
    retry_after_s = _DEFAULTS["retry_after_s"].default
    example = ErrorExample(
        "server", f"over {max_in_flight} requests in flight; retry in {retry_after_s} s"
    )
    responses = operation.setdefault("responses", {})
    response = responses.setdefault(
        "503", {"description": "Overloaded: retry after `Retry-After` seconds."}
    )
    response.setdefault("headers", {})["retry-after"] = {
        "description": "Seconds to wait (when overloaded).",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
    }
    content = response.setdefault("content", {}).setdefault(JSON, {})
    schema = content.get("schema")
    error_ref = {"$ref": ERROR_SCHEMA_REF}
    if schema is None:
        content["schema"] = error_ref
    elif schema != error_ref:
        content["schema"] = {"anyOf": [schema, error_ref]}
    examples = content.setdefault("examples", {})
    if "example" in content:
        examples["not_ready"] = {"value": content.pop("example")}
    examples["overloaded"] = {
        "summary": example.message,
        "value": orjson.loads(error_body(*example)),
    }


REDOC_PATH: Final = "/redoc"
_REDOC_POLICY: Final = (
    "default-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:"
)
"""ReDoc's sidebar always loads its maker's logo from their CDN; this page's policy keeps
it (and anything else from outside) from loading, and the logo hides itself."""


def add_redoc(app: FastAPI, static_url: str = "/static-offline-docs") -> None:
    """``/redoc`` from fastapi-offline's copy of ReDoc, fetching nothing from outside."""

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{static_url}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{static_url}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["content-security-policy"] = _REDOC_POLICY
        return page

    app.add_api_route(REDOC_PATH, redoc, include_in_schema=False)
