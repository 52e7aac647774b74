"""Click and conversion tracking for the in-process campaigns' ads.

``GET /track/click?t=…`` — the ``${RTB_CLICK_URL}`` the exchange put into the markup: the
token is verified (403 otherwise), the first click of an impression is recorded as an event
and counted for its creative's Thompson-sampling statistics (later ones only redirect), and
the browser goes on to the landing page with ``rtb_click=<click id>&rtb_sig=<tag>``
appended, which the advertiser keeps. The click id is signed and says whose click it was,
on which impression, when.

``POST /track/conversion`` — the advertiser's postback: ``{"click", "sig", "conversion_id",
"value", "currency"}``. Conversions feed training and reports, so a fake one is as bad as a
fake charge; each is checked against its campaign's rules (``bidding.campaigns
.ConversionRules``): at most ``max_per_click`` per click (default 1), worth at most
``max_value``, within ``window_days`` of the click, and — when the campaign has a
``postback_secret`` — signed: ``x-rtb-signature: sha256=<hex HMAC-SHA256 of the body>``.
Answers: 200 ``recorded``, 200 ``duplicate`` (that conversion id was recorded for that
click before: a retry), 400 naming the field, 403 forged click id or signature, 409 when
the click has its conversions already or is too old. Every refusal is counted by reason
(``rtb_conversions_total``) and logged, sampled (``notice_rejected``, ``app.rejections``).
"""

import hmac
import time
from decimal import Decimal
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import orjson
import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import RedirectResponse, Response

from app.body import read_body
from app.errors import (
    JSON,
    STORE_UNAVAILABLE,
    ClientError,
    ErrorExample,
    documented_error,
    error_response,
)
from app.rejections import notice_reason, rejections_of
from app.routes.notices import FORGED_TOKEN, token_parameter
from app.services import Services, services_of
from auction.currency import UnknownCurrency
from bidding.campaigns import ConversionRules
from bidding.profiles import ProfileEvent
from budget.store import StoreUnavailable
from exchange.notice_token import ClickRef, InvalidNotice, NoticeClaim, NoticeKind
from exchange.notices import click_fields
from exchange.settings import Settings
from openrtb.currencies import ISO_4217_CODES, is_iso4217
from openrtb.errors import field_path
from openrtb.money import micros_to_cpm

router = APIRouter(tags=["tracking"])
log = structlog.get_logger("app.tracking")
_DEDUPE_TTL_S = 30 * 24 * 3600
"""First clicks are remembered for a month (conversions arrive days after them)."""
_DEDUPE_MARGIN_S = 24 * 3600
"""A conversion id is remembered a day longer than its click's window."""


_NO_CLICK_TOKEN: Final = ErrorExample("t", "click token is required")
_CLICK_DOC: Final[dict[str, Any]] = {
    "status_code": 302,
    "response_class": Response,
    "openapi_extra": {"parameters": [token_parameter("Signed click token.")]},
    "responses": {
        302: {
            "description": "To the landing page, with `rtb_click` and `rtb_sig` appended.",
            "headers": {
                "location": {"required": True, "schema": {"type": "string", "format": "uri"}}
            },
        },
        204: {"description": "A click token without a landing page (not issued any more)."},
        400: documented_error("No token.", {"missing": _NO_CLICK_TOKEN}),
        403: documented_error(
            "The token is forged, tampered with or expired, or its ad has no click redirect.",
            {**FORGED_TOKEN, "no_redirect": ErrorExample("t", "token has no click redirect")},
        ),
    },
}


@router.get("/track/click", summary="Click redirect (the markup's ${RTB_CLICK_URL})", **_CLICK_DOC)
async def click(request: Request) -> Response:
    """302 to the landing page; the first click of an impression is recorded."""
    services = services_of(request)
    t = request.query_params.get("t")
    if not t:
        rejections_of(request).notice("click", 400, "missing")
        return error_response(400, *_NO_CLICK_TOKEN)
    try:
        claim = services.notices.verify(NoticeKind.CLICK, t)
    except InvalidNotice as exc:
        rejections_of(request).notice("click", 403, notice_reason(exc))
        return error_response(403, "t", str(exc))
    impression = claim.impression_id
    try:
        first = await services.store.claim(
            services.notices.keys.notice("click", impression), _DEDUPE_TTL_S
        )
    except StoreUnavailable:
        first = False  # the visitor still gets the landing page; the click goes uncounted
    if first:
        services.events.emit("click", **click_fields(claim))
        await _count_for_creative(services, claim)
        await _count_in_profile(services, claim)
    landing = claim.forward_url or ""
    if not landing:
        return Response(status_code=204)
    joiner = "&" if "?" in landing else "?"
    click_id, tag = services.notices.signer.click_id(
        ClickRef(claim.bidder, claim.campaign_id, impression, int(time.time()))
    )
    tail = urlencode({"rtb_click": click_id, "rtb_sig": tag})
    return RedirectResponse(f"{landing}{joiner}{tail}", status_code=302)


async def _count_in_profile(services: Services, claim: NoticeClaim) -> None:
    """Count a first click in its user's profile, where the request allowed profiling, and
    keep whose click it was for its conversions."""
    profiles = services.profiles
    if profiles is None or not claim.profiled or not claim.user_key:
        return
    campaign = services.registry.campaign(claim.bidder, claim.campaign_id)
    if campaign is None:
        return
    await profiles.record(ProfileEvent.CLICK, claim.user_key, campaign, claim.ad_id)
    await profiles.remember_click(campaign, claim.impression_id, claim.user_key, claim.ad_id)


async def _count_for_creative(services: Services, claim: NoticeClaim) -> None:
    """Count a first click for its creative's CTR statistics: billable impressions of
    in-process campaigns only (as their impressions are counted); a store failure loses
    this one count, never the visitor's redirect."""
    engagement = services.engagement
    if engagement is None or not claim.billable or not claim.ad_id:
        return
    if services.registry.campaign(claim.bidder, claim.campaign_id) is None:
        return
    try:
        await engagement.record_click(claim.campaign_id, claim.ad_id)
    except StoreUnavailable as exc:
        log.warning("creative_click_uncounted", campaign_id=claim.campaign_id, error=str(exc))


class Conversion(BaseModel):
    """An advertiser's conversion postback."""

    model_config = ConfigDict(extra="forbid", strict=True)

    click: Annotated[str, Field(min_length=1, max_length=400)]
    # The tag is base64url (``NoticeSigner.tag``); anything else is refused here, naming the
    # field, rather than reaching a constant-time comparison that takes ASCII only.
    sig: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    conversion_id: Annotated[str, Field(min_length=1, max_length=200)]
    value: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 0.0
    currency: Annotated[
        str,
        Field(min_length=3, max_length=3, json_schema_extra={"enum": sorted(ISO_4217_CODES)}),
    ] = "USD"


_SIGNATURE_HEADER = "x-rtb-signature"


class _Refused(Exception):
    """A postback refused: the status, the field, why, and the metric's reason label."""

    def __init__(self, status: int, field: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.reason = status, field, message, reason


_LIMIT: Final = Settings.model_fields["max_body_bytes"].default
_CONVERSION_DOC: Final[dict[str, Any]] = {
    "response_class": Response,
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "description": "The click id and tag the landing page got, and the conversion. "
            "Sign it (`x-rtb-signature`) when the campaign has a postback secret.",
            "content": {JSON: {"schema": Conversion.model_json_schema()}},
        },
        "parameters": [
            {
                "name": _SIGNATURE_HEADER,
                "in": "header",
                "required": False,
                "description": "`sha256=<hex HMAC-SHA256 of the body>` under the campaign's "
                "postback secret.",
                "schema": {"type": "string"},
            }
        ],
    },
    "responses": {
        200: {
            "description": "Recorded, or a retry of a recorded conversion id.",
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {"result": {"enum": ["recorded", "duplicate"]}},
                        "required": ["result"],
                    },
                    "example": {"result": "recorded"},
                }
            },
        },
        400: documented_error(
            "Invalid body, naming the field.",
            {
                "missing_field": ErrorExample("click", "Field required"),
                "currency": ErrorExample("currency", 'not an ISO-4217 currency code: "ABC"'),
                "not_json": ErrorExample(
                    "body",
                    "invalid JSON: Input is a zero-length, empty document: line 1 column 1 "
                    "(char 0)",
                ),
                "value_cap": ErrorExample("value", "above the campaign's cap of 10000.0"),
            },
        ),
        403: documented_error(
            "The click id is not one this exchange issued, or the signature is missing or wrong.",
            {
                "forged_click": ErrorExample("sig", "not a click id this exchange issued"),
                "unsigned": ErrorExample(
                    _SIGNATURE_HEADER, "this campaign's postbacks must be signed"
                ),
                "bad_signature": ErrorExample(
                    _SIGNATURE_HEADER, "signature does not match the body"
                ),
            },
        ),
        409: documented_error(
            "The click has all its conversions already, or is too old.",
            {
                "limit": ErrorExample("click", "the click has its 1 conversion(s) already"),
                "window": ErrorExample("click", "more than 30 days after the click"),
            },
        ),
        413: documented_error(
            f"Body larger than the configured limit (default {_LIMIT:,} bytes).",
            {"too_large": ErrorExample("body", f"larger than {_LIMIT} bytes")},
        ),
        415: documented_error(
            "Not JSON, or an unsupported content encoding.",
            {
                "content_type": ErrorExample(
                    "content-type", "expected application/json, got 'text/plain'"
                )
            },
        ),
        503: documented_error(
            "The counter store is down: retry.", {"store_down": STORE_UNAVAILABLE}
        ),
    },
}


@router.post(
    "/track/conversion", summary="Conversion postback from an advertiser", **_CONVERSION_DOC
)
async def conversion(request: Request) -> Response:
    """200 with ``{"result": "recorded" | "duplicate"}``; 400 naming the field; 403 forged
    click id or signature; 409 when the click has all its conversions or is too old."""
    services = services_of(request)
    try:
        raw = await read_body(request, services.settings.max_body_bytes)
    except ClientError as exc:
        services.metrics.conversions.labels("invalid").inc()
        rejections_of(request).notice("conversion", exc.status, "invalid", exc.field)
        return error_response(exc.status, exc.field, exc.message)
    try:
        result = await _record_conversion(services, raw, request.headers.get(_SIGNATURE_HEADER))
    except _Refused as refused:
        services.metrics.conversions.labels(refused.reason).inc()
        rejections_of(request).notice("conversion", refused.status, refused.reason, refused.field)
        return error_response(refused.status, refused.field, refused.message)
    except StoreUnavailable:
        services.metrics.conversions.labels("unavailable").inc()
        return error_response(503, *STORE_UNAVAILABLE)
    services.metrics.conversions.labels(result).inc()
    return Response(orjson.dumps({"result": result}), media_type=JSON)


async def _record_conversion(services: Services, raw: bytes, signature: str | None) -> str:
    try:
        body = Conversion.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise _Refused(400, "body", f"invalid JSON: {exc}", "invalid") from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        field = field_path(error["loc"]) or "body"
        raise _Refused(400, field, str(error["msg"]), "invalid") from exc
    if not is_iso4217(body.currency):
        message = f'not an ISO-4217 currency code: "{body.currency}"'
        raise _Refused(400, "currency", message, "invalid")
    try:
        click = services.notices.signer.read_click(body.click, body.sig)
    except InvalidNotice as exc:
        raise _Refused(403, "sig", str(exc), "forged") from exc
    campaign = services.registry.campaign(click.bidder, click.campaign_id)
    rules = campaign.conversions if campaign is not None else ConversionRules()
    _check_signature(rules, raw, signature)
    value_micros = _value_micros(services, body)
    if value_micros > rules.max_value_micros:
        cap = micros_to_cpm(rules.max_value_micros)
        raise _Refused(400, "value", f"above the campaign's cap of {cap}", "value_cap")
    if time.time() - click.clicked_at_s > rules.window_s:
        days = rules.window_s // 86_400
        raise _Refused(409, "click", f"more than {days} days after the click", "window")
    keys = services.notices.keys
    outcome = await services.store.claim_counted(
        keys.notice("conversion", f"{click.impression_id}:{body.conversion_id}", click.campaign_id),
        keys.conversions(click.campaign_id, click.impression_id),
        rules.max_per_click,
        rules.window_s + _DEDUPE_MARGIN_S,
    )
    if outcome < 0:
        message = f"the click has its {rules.max_per_click} conversion(s) already"
        raise _Refused(409, "click", message, "limit")
    if outcome == 0:
        return "duplicate"
    if campaign is not None and services.profiles is not None:
        await services.profiles.record_conversion(campaign, click.impression_id)
    services.events.emit(
        "conversion",
        click=click.impression_id,
        bidder=click.bidder,
        campaign_id=click.campaign_id,
        conversion_id=body.conversion_id,
        value_micros=value_micros,
        currency=services.exchange.rates.exchange_currency,
    )
    return "recorded"


def _check_signature(rules: ConversionRules, raw: bytes, signature: str | None) -> None:
    """A campaign with a postback secret takes signed postbacks only."""
    secret = rules.postback_secret
    if secret is None:
        return
    if not signature:
        raise _Refused(
            403, _SIGNATURE_HEADER, "this campaign's postbacks must be signed", "unsigned"
        )
    expected = "sha256=" + hmac.new(secret, raw, "sha256").hexdigest()
    # Bytes: a header may carry any Latin-1 text, and compare_digest takes ASCII-only str.
    if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        raise _Refused(403, _SIGNATURE_HEADER, "signature does not match the body", "bad_signature")


def _value_micros(services: Services, body: Conversion) -> int:
    """The conversion's value in exchange-currency micros (rounded down)."""
    try:
        return services.exchange.rates.to_exchange_micros(
            Decimal(str(body.value)), body.currency, rounding="down"
        )
    except UnknownCurrency as exc:
        raise _Refused(400, "currency", str(exc), "invalid") from exc
