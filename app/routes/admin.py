"""``/admin/...``: the operator's API over HTTP (the logic is ``exchange.admin``).

Mounted only when ``RTB_ADMIN_TOKEN`` is set (``app.main``), so an exchange started without
it has no admin surface at all (404). Every call needs ``Authorization: Bearer <token>``,
compared in constant time; a missing or wrong token is 401 with ``WWW-Authenticate:
Bearer`` and one sampled ``request_rejected`` line that names the header, never its value.
The token is checked before a body is read, and a body is read within the exchange's body
limit (``app.body``).
"""

import hmac
import json
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Any, Final, NoReturn, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from app.body import read_body
from app.errors import (
    JSON,
    STORE_UNAVAILABLE,
    ClientError,
    ErrorExample,
    documented_error,
    error_response,
)
from app.rejections import rejections_of
from app.services import services_of
from budget.store import StoreUnavailable
from exchange.admin import (
    Admin,
    AdminError,
    BidderChange,
    BidderList,
    BidderView,
    CampaignChange,
    CampaignList,
    CampaignState,
    CampaignView,
    InvalidChange,
    ModelReloadResult,
)
from exchange.profile_admin import (
    ProfileLookup,
    ProfileView,
    SegmentChange,
    change_segments,
    lookup,
)
from exchange.profiles import ProfileBook
from exchange.settings import Settings
from openrtb.errors import field_path

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
SCHEME: Final = "adminToken"
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name=SCHEME,
    description="`RTB_ADMIN_TOKEN`: `Authorization: Bearer <token>`.",
)
MISSING_TOKEN: Final = ErrorExample("authorization", "a bearer token is required")
WRONG_TOKEN: Final = ErrorExample("authorization", "invalid bearer token")
_CHALLENGE: Final = {"www-authenticate": 'Bearer realm="rtb-admin"'}
_WRONG_CHALLENGE: Final = {"www-authenticate": 'Bearer realm="rtb-admin", error="invalid_token"'}


def _refuse(request: Request, example: ErrorExample, headers: dict[str, str]) -> NoReturn:
    rejections_of(request).request(_route(request), 401, example.field, "unauthorized")
    raise ClientError(401, *example, headers=headers)


async def _authorised(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """The admin token, or 401. Both sides as bytes through ``hmac.compare_digest``: how
    long the comparison takes says nothing about how much of a guess was right."""
    if credentials is None:
        _refuse(request, MISSING_TOKEN, _CHALLENGE)
    expected = services_of(request).settings.admin_token
    presented = credentials.credentials.encode()
    if expected is None or not hmac.compare_digest(presented, expected.get_secret_value().encode()):
        _refuse(request, WRONG_TOKEN, _WRONG_CHALLENGE)


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(_authorised)])


def _admin(request: Request) -> Admin:
    return Admin(services_of(request))


def _refused(request: Request, status: int, exc: AdminError) -> Response:
    rejections_of(request).request(_route(request), status, exc.field)
    return error_response(status, exc.field, exc.message)


async def _answered(request: Request, call: Awaitable[T]) -> T | Response:
    """``call``'s result, or its refusal as the documented error: 422 a change that does
    not fit, 404 anything else not found, 503 a store that does not answer."""
    try:
        return await call
    except InvalidChange as exc:
        return _refused(request, 422, exc)
    except AdminError as exc:
        return _refused(request, 404, exc)
    except StoreUnavailable:
        return error_response(503, *STORE_UNAVAILABLE)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


async def _body(request: Request) -> Any:
    """The JSON body, its numbers with fractions read as exact decimals (never floats)."""
    raw = await read_body(request, services_of(request).settings.max_body_bytes)
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ClientError(400, "body", f"invalid JSON: {exc}") from exc


def _route(request: Request) -> str:
    return str(getattr(request.scope.get("route"), "path", request.url.path))


async def _parsed(request: Request, model: type[M]) -> M:
    """The body as ``model``: 400 not JSON, 413, 415, 422 naming the field (each also a
    sampled ``request_rejected`` line)."""
    try:
        try:
            return model.model_validate(await _body(request))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = field_path(first["loc"]) or "body"
            raise ClientError(422, field, str(first["msg"])) from exc
    except ClientError as exc:
        rejections_of(request).request(_route(request), exc.status, exc.field)
        raise


_LIMIT: Final = Settings.model_fields["max_body_bytes"].default
_UNAUTHORISED: Final[dict[str, Any]] = documented_error(
    "No bearer token, or not the admin token.",
    {"missing": MISSING_TOKEN, "invalid": WRONG_TOKEN},
    headers={
        "www-authenticate": {
            "description": '`Bearer` (RFC 6750), with `error="invalid_token"` for a wrong one.',
            "required": True,
            "schema": {"type": "string"},
        }
    },
)

_UNKNOWN_CAMPAIGN: Final = ErrorExample("campaign_id", "no in-process campaign 'nope'")
_UNKNOWN_BIDDER: Final = ErrorExample("name", "no bidder 'nope'")
_CAMPAIGN_ID: Final = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "description": "An in-process campaign's id (`GET /admin/campaigns` lists them).",
    "schema": {"type": "string"},
}
_BIDDER_NAME: Final = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "A bidder's name (`GET /admin/bidders`).",
    "schema": {"type": "string"},
}


def _json_body(
    description: str, schema: dict[str, Any], examples: dict[str, Any]
) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                JSON: {
                    "schema": schema,
                    "examples": {name: {"value": value} for name, value in examples.items()},
                }
            },
        }
    }


def _body_errors(invalid: dict[str, ErrorExample]) -> dict[int | str, dict[str, Any]]:
    return {
        400: documented_error(
            "The body is not JSON.",
            {
                "not_json": ErrorExample(
                    "body", "invalid JSON: Expecting value: line 1 column 1 (char 0)"
                )
            },
        ),
        413: documented_error(
            f"Body larger than the configured limit (default {_LIMIT:,} bytes).",
            {"too_large": ErrorExample("body", f"larger than {_LIMIT} bytes")},
        ),
        415: documented_error(
            "Content type is not JSON.",
            {
                "content_type": ErrorExample(
                    "content-type", "expected application/json, got 'text/plain'"
                )
            },
        ),
        422: documented_error("Invalid change, naming the field; nothing was changed.", invalid),
    }


_CAMPAIGN_VIEW_EXAMPLE: Final = {
    "id": "acme-shoes-spring",
    "bidder": "house",
    "advertiser": "Acme Shoes",
    "seat": "acme",
    "enabled": True,
    "mode": "fixed",
    "currency": "USD",
    "time_zone": "America/New_York",
    "daily_budget": "250.00",
    "daily_budget_micros": 250_000_000,
    "bid_cpm": "2.40",
    "bid_cpm_micros": 2_400_000,
    "goal": None,
    "min_bid": None,
    "max_bid": None,
    "flight_start": None,
    "flight_end": None,
    "creatives": ["acme-300x250", "acme-728x90", "acme-320x50"],
    "frequency_caps": [],
}


def _ok(description: str, example: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {JSON: {"example": example}}}}


@router.get(
    "/campaigns",
    summary="List the in-process campaigns",
    response_model=CampaignList,
    responses={
        **_ok("Every in-process campaign as it bids now.", {"campaigns": [_CAMPAIGN_VIEW_EXAMPLE]}),
        401: _UNAUTHORISED,
    },
)
async def list_campaigns(request: Request) -> CampaignList:
    """Every in-process campaign, router by router, with the money it bids with."""
    return _admin(request).campaigns()


_CAMPAIGN_404: Final = documented_error(
    "No in-process campaign of that id.", {"unknown": _UNKNOWN_CAMPAIGN}
)


@router.get(
    "/campaigns/{campaign_id}",
    summary="Read one campaign",
    response_model=CampaignView,
    openapi_extra={"parameters": [_CAMPAIGN_ID]},
    responses={
        **_ok("The campaign as it bids now.", _CAMPAIGN_VIEW_EXAMPLE),
        401: _UNAUTHORISED,
        404: _CAMPAIGN_404,
    },
)
async def read_campaign(request: Request) -> Response | CampaignView:
    try:
        return _admin(request).campaign(request.path_params["campaign_id"])
    except AdminError as exc:
        return _refused(request, 404, exc)


_STORE_503: Final = documented_error(
    "The counter store does not answer: nothing was changed; retry.",
    {"store_down": STORE_UNAVAILABLE},
)

_CHANGE_422: Final = {
    "sub_micro": ErrorExample(
        "daily_budget", "Decimal input should have no more than 6 decimal places"
    ),
    "negative": ErrorExample("daily_budget", "Input should be greater than 0"),
    "unknown_field": ErrorExample("budget", "Extra inputs are not permitted"),
    "wrong_type": ErrorExample("enabled", "Input should be a valid boolean"),
    "wrong_mode": ErrorExample(
        "target_cpc", "campaign acme-shoes-spring bids a fixed price (bid_cpm)"
    ),
    "nothing": ErrorExample("body", "Value error, nothing to change: give at least one field"),
}


@router.patch(
    "/campaigns/{campaign_id}",
    summary="Change a campaign (budget, price, goal, bid bounds, paused)",
    response_model=CampaignView,
    openapi_extra={
        "parameters": [_CAMPAIGN_ID],
        **_json_body(
            "The fields to change; the others stay. Amounts in the exchange currency, as "
            "decimal strings or JSON numbers of at most six decimals (one micro), read "
            "exactly.",
            CampaignChange.model_json_schema(),
            {
                "budget": {"daily_budget": "300.00"},
                "pause": {"enabled": False},
                "price": {"bid_cpm": "2.75", "daily_budget": 500},
            },
        ),
    },
    responses={
        **_ok("The campaign as it bids from now on.", _CAMPAIGN_VIEW_EXAMPLE),
        401: _UNAUTHORISED,
        404: _CAMPAIGN_404,
        **_body_errors(_CHANGE_422),
        503: _STORE_503,
    },
)
async def change_campaign(request: Request) -> Response | CampaignView:
    """Validated whole, written to the counter store as the campaign's override, then
    applied to the running routers, the notices and pacing at once, and recorded as an
    ``admin_campaign_changed`` event; on any error nothing changes. The other processes
    sharing the store apply it at their next poll (``RTB_ADMIN_SYNC_S``)."""
    admin = _admin(request)
    campaign_id = request.path_params["campaign_id"]
    try:
        admin.campaign(campaign_id)
    except AdminError as exc:
        return _refused(request, 404, exc)
    change = await _parsed(request, CampaignChange)
    return await _answered(request, admin.change_campaign(campaign_id, change))


@router.delete(
    "/campaigns/{campaign_id}/override",
    summary="Drop a campaign's override: back to the bidders file",
    response_model=CampaignView,
    openapi_extra={"parameters": [_CAMPAIGN_ID]},
    responses={
        **_ok("The campaign as it bids from now on (the file's values).", _CAMPAIGN_VIEW_EXAMPLE),
        401: _UNAUTHORISED,
        404: _CAMPAIGN_404,
        503: _STORE_503,
    },
)
async def drop_campaign_override(request: Request) -> Response | CampaignView:
    """Every process sharing the store goes back to the bidders file's budget, price, goal,
    bounds and enabled for this campaign (this one now, the others at their next poll);
    recorded as an ``admin_campaign_changed`` event when it changes something here."""
    campaign_id = request.path_params["campaign_id"]
    return await _answered(request, _admin(request).drop_campaign_override(campaign_id))


_STATE_EXAMPLE: Final = {
    "id": "acme-shoes-spring",
    "day": "2026-11-02",
    "enabled": True,
    "daily_budget_micros": 250_000_000,
    "spend_micros": 1_250,
    "held_micros": 2_400,
    "remaining_micros": 249_996_350,
    "spend": "0.00125",
    "held": "0.0024",
    "remaining": "249.99635",
    "pacing": {
        "multiplier": 1.0,
        "participation": 1.0,
        "level": 0.0,
        "stepped_at": 1793620800.0,
        "planned_micros": 41_666_666,
    },
}


@router.get(
    "/campaigns/{campaign_id}/state",
    summary="Read a campaign's spend, holds and pacing today",
    response_model=CampaignState,
    openapi_extra={"parameters": [_CAMPAIGN_ID]},
    responses={
        **_ok(
            "Spend and holds from the counter store now; pacing as last stepped.", _STATE_EXAMPLE
        ),
        401: _UNAUTHORISED,
        404: _CAMPAIGN_404,
        503: documented_error(
            "The counter store does not answer: retry.", {"store_down": STORE_UNAVAILABLE}
        ),
    },
)
async def campaign_state(request: Request) -> Response | CampaignState:
    campaign_id = request.path_params["campaign_id"]
    return await _answered(request, _admin(request).campaign_state(campaign_id))


@router.get(
    "/bidders",
    summary="List the bidders and whether the fan-out calls them",
    response_model=BidderList,
    responses={
        **_ok(
            "Every bidder.", {"bidders": [{"name": "house", "kind": "in-process", "enabled": True}]}
        ),
        401: _UNAUTHORISED,
    },
)
async def list_bidders(request: Request) -> BidderList:
    return _admin(request).bidders()


@router.patch(
    "/bidders/{name}",
    summary="Enable or disable a bidder",
    response_model=BidderView,
    openapi_extra={
        "parameters": [_BIDDER_NAME],
        **_json_body(
            "`enabled: false` leaves the bidder out of every auction from now on.",
            BidderChange.model_json_schema(),
            {"disable": {"enabled": False}, "enable": {"enabled": True}},
        ),
    },
    responses={
        **_ok(
            "The bidder as the fan-out treats it from now on.",
            {"name": "house", "kind": "in-process", "enabled": False},
        ),
        401: _UNAUTHORISED,
        404: documented_error("No bidder of that name.", {"unknown": _UNKNOWN_BIDDER}),
        **_body_errors(
            {
                "missing": ErrorExample("enabled", "Field required"),
                "wrong_type": ErrorExample("enabled", "Input should be a valid boolean"),
            }
        ),
        503: _STORE_503,
    },
)
async def change_bidder(request: Request) -> Response | BidderView:
    """Recorded as an ``admin_bidder_changed`` event when it changes something; reaches
    the other processes sharing the store as every admin change does."""
    admin = _admin(request)
    name = request.path_params["name"]
    if name not in services_of(request).registry.bidders:
        return _refused(request, 404, AdminError("name", f"no bidder {name!r}"))
    change = await _parsed(request, BidderChange)
    return await _answered(request, admin.change_bidder(name, change))


@router.delete(
    "/bidders/{name}/override",
    summary="Drop a bidder's override: back to the bidders file",
    response_model=BidderView,
    openapi_extra={"parameters": [_BIDDER_NAME]},
    responses={
        **_ok(
            "The bidder as the fan-out treats it from now on.",
            {"name": "house", "kind": "in-process", "enabled": True},
        ),
        401: _UNAUTHORISED,
        404: documented_error("No bidder of that name.", {"unknown": _UNKNOWN_BIDDER}),
        503: _STORE_503,
    },
)
async def drop_bidder_override(request: Request) -> Response | BidderView:
    """The bidder is called, or not, as the bidders file says, in every process sharing
    the store."""
    name = request.path_params["name"]
    return await _answered(request, _admin(request).drop_bidder_override(name))


@router.post(
    "/models/reload",
    summary="Reload the CTR/CVR models now",
    response_model=ModelReloadResult,
    responses={
        **_ok(
            "Whether new models were swapped in; files worse than the live models are refused.",
            {"swapped": True, "degraded": False, "path": "compiled", "error": None},
        ),
        401: _UNAUTHORISED,
        404: {
            "description": "This exchange scores without models.",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    },
)
async def reload_models(request: Request) -> Response | ModelReloadResult:
    """The hot reload's own path (``exchange.model_reload``), now rather than at the next
    change of the files; recorded as an ``admin_models_reloaded`` event."""
    return await _answered(request, _admin(request).reload_models())


_NO_PROFILES: Final[dict[str, Any]] = {
    "description": "This exchange keeps no profiles (`RTB_PROFILES=false`).",
    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_PROFILE_EXAMPLE: Final = {
    "user_key": "5f1c0e7d9a2b4c63",
    "segments": ["auto-intender"],
    "counts": [
        {
            "event": "click",
            "category": "IAB2",
            "campaign": None,
            "last_1_day": 0,
            "last_7_days": 1,
            "last_30_days": 2,
        }
    ],
}


def _profiles(request: Request) -> ProfileBook | Response:
    book = services_of(request).profiles
    if book is None:
        return error_response(404, "profiles", "this exchange keeps no profiles")
    return book


@router.post(
    "/profiles/lookup",
    summary="Read one user's profile",
    response_model=ProfileView,
    openapi_extra=_json_body(
        "The user, by the id bid requests carry (a POST: ids stay out of URLs and access logs).",
        ProfileLookup.model_json_schema(),
        {"lookup": {"user_id": "u-8842"}},
    ),
    responses={
        **_ok(
            "The profile: declared segments, and each count over 1, 7, 30 days.", _PROFILE_EXAMPLE
        ),
        401: _UNAUTHORISED,
        404: _NO_PROFILES,
        **_body_errors({"missing": ErrorExample("user_id", "Field required")}),
        503: _STORE_503,
    },
)
async def lookup_profile(request: Request) -> Response | ProfileView:
    book = _profiles(request)
    if isinstance(book, Response):
        return book
    asked = await _parsed(request, ProfileLookup)
    return await _answered(request, lookup(book, asked, time.time()))


@router.post(
    "/profiles/segments",
    summary="Declare or remove a user's segments",
    response_model=ProfileView,
    openapi_extra=_json_body(
        "Segments to add (name → days it lasts, 1 to 30) and to remove, for one user; "
        'audience rules (`{"segment": …}`) read them from the next request on.',
        SegmentChange.model_json_schema(),
        {
            "add": {"user_id": "u-8842", "add": {"auto-intender": 30}},
            "remove": {"user_id": "u-8842", "remove": ["auto-intender"]},
        },
    ),
    responses={
        **_ok("The profile after the change.", _PROFILE_EXAMPLE),
        401: _UNAUTHORISED,
        404: _NO_PROFILES,
        **_body_errors(
            {
                "nothing": ErrorExample(
                    "body", "Value error, nothing to change: give add or remove"
                ),
                "days": ErrorExample(
                    "add.auto-intender", "Input should be less than or equal to 30"
                ),
            }
        ),
        503: _STORE_503,
    },
)
async def change_profile_segments(request: Request) -> Response | ProfileView:
    """Recorded as an ``admin_profile_segments_changed`` event (with the user's key, never
    the raw id)."""
    book = _profiles(request)
    if isinstance(book, Response):
        return book
    change = await _parsed(request, SegmentChange)
    view = await _answered(request, change_segments(book, change, time.time()))
    if isinstance(view, ProfileView):
        services_of(request).events.emit(
            "admin_profile_segments_changed",
            user_key=view.user_key,
            added=sorted(change.add),
            removed=sorted(change.remove),
        )
    return view
