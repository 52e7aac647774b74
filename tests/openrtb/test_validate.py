"""validate_request: one failing case per rule, each asserting the exact field path."""

from typing import Any

import orjson
import pytest

from openrtb.codec import decode_request
from openrtb.currencies import ISO_4217_CODES, is_iso4217
from openrtb.errors import InvalidRequest
from openrtb.imp import Banner, Imp
from openrtb.request import BidRequest
from openrtb.validate import RequestRules, validate_request
from tests.builders import banner_imp, banner_request

_DEFAULT_RULES = RequestRules()


def _refusal(request: dict[str, Any], rules: RequestRules = _DEFAULT_RULES) -> str:
    with pytest.raises(InvalidRequest) as info:
        validate_request(decode_request(orjson.dumps(request)), rules)
    return str(info.value)


def test_builder_request_is_valid() -> None:
    validate_request(decode_request(orjson.dumps(banner_request(imps=3))))


@pytest.mark.parametrize("request_id", ["", "   "])
def test_id_must_not_be_empty(request_id: str) -> None:
    assert _refusal(banner_request(id=request_id)) == "id: must not be empty"


def test_at_least_one_imp() -> None:
    assert _refusal(banner_request(imp=[])) == "imp: must contain at least one impression"


def test_imp_id_must_not_be_empty() -> None:
    request = banner_request(imps=2)
    request["imp"][1]["id"] = ""
    assert _refusal(request) == "imp[1].id: must not be empty"


def test_imp_ids_must_be_unique() -> None:
    request = banner_request(imps=3)
    request["imp"][1]["id"] = "1"
    assert _refusal(request) == 'imp[1].id: duplicate imp id "1"'


def test_imp_needs_a_media_type() -> None:
    request = banner_request(imps=2)
    del request["imp"][1]["banner"]
    assert _refusal(request) == "imp[1]: must offer banner, video, audio or native"


@pytest.mark.parametrize(
    "media",
    [
        {"video": {"mimes": ["video/mp4"]}},
        {"audio": {"mimes": ["audio/mp4"]}},
        {"native": {"request": "{}", "ver": "1.2"}},
    ],
)
def test_every_media_type_counts(media: dict[str, Any]) -> None:
    request = banner_request()
    del request["imp"][0]["banner"]
    request["imp"][0].update(media)
    validate_request(decode_request(orjson.dumps(request)))


@pytest.mark.parametrize(
    ("inventory", "field"),
    [
        ({"app": {"bundle": "com.example"}}, "app"),
        ({"dooh": {"id": "screen-1"}}, "dooh"),
    ],
)
def test_only_one_of_site_app_dooh(inventory: dict[str, Any], field: str) -> None:
    message = _refusal(banner_request(**inventory))
    assert message == f"{field}: only one of site, app and dooh may be present"


def test_app_with_dooh_names_dooh() -> None:
    request = banner_request(app={"id": "a"}, dooh={"id": "d"})
    del request["site"]
    assert _refusal(request).startswith("dooh: ")


def test_negative_imp_floor() -> None:
    request = banner_request(imps=2)
    request["imp"][1]["bidfloor"] = -0.01
    assert _refusal(request) == "imp[1].bidfloor: must be a number from 0 to 1e+06, got -0.01"


def test_negative_deal_floor() -> None:
    request = banner_request()
    request["imp"][0]["pmp"] = {"deals": [{"id": "d0"}, {"id": "d1", "bidfloor": -1}]}
    assert _refusal(request).startswith("imp[0].pmp.deals[1].bidfloor: must be a number from 0")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_floor_in_an_unvalidated_model(value: float) -> None:
    # model_construct skips pydantic; the rule still holds for models built that way.
    imp = Imp.model_construct(id="1", banner=Banner(), bidfloor=value)
    request = BidRequest.model_construct(id="r", imp=[imp])
    with pytest.raises(InvalidRequest, match=r"^imp\[0\]\.bidfloor: must be a number from 0"):
        validate_request(request)


def test_zero_floor_is_fine() -> None:
    request = banner_request()
    request["imp"][0]["bidfloor"] = 0
    validate_request(decode_request(orjson.dumps(request)))


@pytest.mark.parametrize("code", ["usd", "US", "XYZ", "", "USDD", "HRK"])
def test_request_currency_must_be_iso_4217(code: str) -> None:
    assert _refusal(banner_request(cur=["EUR", code])) == (
        f'cur[1]: not an ISO-4217 currency code: "{code}"'
    )


def test_imp_floor_currency_must_be_iso_4217() -> None:
    request = banner_request(imps=2)
    request["imp"][1]["bidfloorcur"] = "DOLLARS"
    assert _refusal(request) == 'imp[1].bidfloorcur: not an ISO-4217 currency code: "DOLLARS"'


def test_deal_floor_currency_must_be_iso_4217() -> None:
    request = banner_request()
    request["imp"][0]["pmp"] = {"deals": [{"id": "d0", "bidfloorcur": "eur"}]}
    assert _refusal(request) == (
        'imp[0].pmp.deals[0].bidfloorcur: not an ISO-4217 currency code: "eur"'
    )


def test_default_currencies_pass() -> None:
    request = banner_request()
    del request["cur"]
    del request["imp"][0]["bidfloorcur"]
    request["imp"][0]["pmp"] = {"deals": [{"id": "d0"}]}
    validate_request(decode_request(orjson.dumps(request)))


@pytest.mark.parametrize("tmax", [9, 10_001, 0, -5])
def test_tmax_out_of_bounds(tmax: int) -> None:
    assert _refusal(banner_request(tmax=tmax)) == (
        f"tmax: must be between 10 and 10000 ms, got {tmax}"
    )


def test_tmax_bounds_come_from_the_rules() -> None:
    rules = RequestRules(tmax_min_ms=50, tmax_max_ms=200)
    validate_request(decode_request(orjson.dumps(banner_request(tmax=50))), rules)
    validate_request(decode_request(orjson.dumps(banner_request(tmax=200))), rules)
    assert _refusal(banner_request(tmax=201), rules).startswith("tmax: must be between 50 and 200")


def test_tmax_absent_is_fine() -> None:
    request = banner_request()
    del request["tmax"]
    validate_request(decode_request(orjson.dumps(request)))


def test_rules_are_frozen() -> None:
    rules = RequestRules()
    with pytest.raises(AttributeError):
        rules.tmax_min_ms = 1  # type: ignore[misc]


def test_iso_4217() -> None:
    assert is_iso4217("USD")
    assert is_iso4217("EUR")
    assert is_iso4217("GBP")
    assert is_iso4217("XCG")
    assert not is_iso4217("usd")
    assert not is_iso4217("ZWL")
    assert all(len(code) == 3 and code.isupper() for code in ISO_4217_CODES)
    assert len(ISO_4217_CODES) > 170


def test_absurd_floors_and_too_many_imps_are_refused() -> None:
    huge = BidRequest.model_validate(banner_request(imp=[banner_imp(bidfloor=1e308)]))
    with pytest.raises(InvalidRequest, match=r"^imp\[0\]\.bidfloor: must be a number from 0"):
        validate_request(huge)
    many = BidRequest.model_validate(banner_request(imps=51))
    with pytest.raises(InvalidRequest, match=r"^imp: at most 50 impressions, got 51"):
        validate_request(many)
