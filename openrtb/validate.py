"""The exchange's own rules for a bid request, beyond what the schema enforces.

The models accept anything the protocol allows; these rules refuse what the exchange
cannot auction: no impressions, ambiguous impression ids, an impression with no media
type, a negative or non-finite floor, an unknown currency, or a ``tmax`` outside what
the exchange serves. Each failure is an ``InvalidRequest`` naming the field.

Runs on every request, so the happy path is plain attribute reads and comparisons: no
exception is raised unless the request is refused, and nothing is compiled per call.
"""

from dataclasses import dataclass
from typing import Final

from openrtb.currencies import ISO_4217_CODES
from openrtb.errors import InvalidRequest
from openrtb.imp import Imp
from openrtb.request import BidRequest

__all__ = ["RequestRules", "validate_request"]


@dataclass(frozen=True, slots=True)
class RequestRules:
    """Exchange-configurable limits; the defaults suit a 100 ms end-to-end budget."""

    tmax_min_ms: int = 10
    tmax_max_ms: int = 10_000
    max_imps: int = 50
    """More impressions than any page carries only multiply the exchange's work per request."""


_DEFAULT_RULES = RequestRules()

MAX_FLOOR_CPM: Final = 1_000_000.0
"""No real floor is a million per mille; beyond, prices stop being exact in micros math."""


def validate_request(request: BidRequest, rules: RequestRules = _DEFAULT_RULES) -> None:
    """Raise InvalidRequest for the first rule the request breaks; return None if none."""
    if not request.id.strip():
        raise InvalidRequest("id", "must not be empty")
    if not request.imp:
        raise InvalidRequest("imp", "must contain at least one impression")
    if len(request.imp) > rules.max_imps:
        raise InvalidRequest("imp", f"at most {rules.max_imps} impressions, got {len(request.imp)}")
    _check_one_inventory(request)
    if request.cur is not None:
        for i, code in enumerate(request.cur):
            if code not in ISO_4217_CODES:
                raise InvalidRequest(f"cur[{i}]", _not_currency(code))
    tmax = request.tmax
    if tmax is not None and not rules.tmax_min_ms <= tmax <= rules.tmax_max_ms:
        raise InvalidRequest(
            "tmax", f"must be between {rules.tmax_min_ms} and {rules.tmax_max_ms} ms, got {tmax}"
        )
    seen: set[str] = set()
    for i, imp in enumerate(request.imp):
        if not imp.id:
            raise InvalidRequest(f"imp[{i}].id", "must not be empty")
        if imp.id in seen:
            raise InvalidRequest(f"imp[{i}].id", f'duplicate imp id "{imp.id}"')
        seen.add(imp.id)
        _check_imp(i, imp)


def _check_one_inventory(request: BidRequest) -> None:
    # 3.2.1: a request carries at most one of site, app and dooh; name the second one found.
    present = [
        name
        for name, value in (("site", request.site), ("app", request.app), ("dooh", request.dooh))
        if value is not None
    ]
    if len(present) > 1:
        raise InvalidRequest(present[1], "only one of site, app and dooh may be present")


def _check_imp(i: int, imp: Imp) -> None:
    if imp.banner is None and imp.video is None and imp.audio is None and imp.native is None:
        raise InvalidRequest(f"imp[{i}]", "must offer banner, video, audio or native")
    if not 0.0 <= imp.bidfloor <= MAX_FLOOR_CPM:  # also false for NaN
        raise InvalidRequest(f"imp[{i}].bidfloor", _bad_floor(imp.bidfloor))
    if imp.bidfloorcur not in ISO_4217_CODES:
        raise InvalidRequest(f"imp[{i}].bidfloorcur", _not_currency(imp.bidfloorcur))
    if imp.pmp is None or imp.pmp.deals is None:
        return
    for j, deal in enumerate(imp.pmp.deals):
        if not 0.0 <= deal.bidfloor <= MAX_FLOOR_CPM:
            raise InvalidRequest(f"imp[{i}].pmp.deals[{j}].bidfloor", _bad_floor(deal.bidfloor))
        if deal.bidfloorcur not in ISO_4217_CODES:
            raise InvalidRequest(
                f"imp[{i}].pmp.deals[{j}].bidfloorcur", _not_currency(deal.bidfloorcur)
            )


def _bad_floor(value: float) -> str:
    return f"must be a number from 0 to {MAX_FLOOR_CPM:g}, got {value!r}"


def _not_currency(code: str) -> str:
    return f'not an ISO-4217 currency code: "{code}"'
