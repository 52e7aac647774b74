"""The error types and the pydantic-location-to-field-path conversion."""

import pytest
from pydantic import ValidationError

from openrtb.enums import LossReason, NoBidReason
from openrtb.errors import InvalidRequest, InvalidResponse, field_path, from_validation_error
from openrtb.request import BidRequest


def test_shape() -> None:
    error = InvalidRequest("imp[0].banner.w", "must be an integer")
    assert (error.field, error.message) == ("imp[0].banner.w", "must be an integer")
    assert str(error) == "imp[0].banner.w: must be an integer"
    assert isinstance(error, ValueError)
    assert issubclass(InvalidResponse, InvalidRequest)


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), ""),
        (("id",), "id"),
        (("imp", 0, "banner", "format", 1, "w"), "imp[0].banner.format[1].w"),
        (("imp", 3), "imp[3]"),
        (("seatbid", 0, "bid", 2, "price"), "seatbid[0].bid[2].price"),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


def test_from_validation_error_takes_the_first_error() -> None:
    with pytest.raises(ValidationError) as info:
        BidRequest.model_validate({"imp": [{"id": 1}], "tmax": "x"})
    error = from_validation_error(info.value, InvalidResponse)
    assert type(error) is InvalidResponse
    assert str(error) == "id: required"


def test_enum_values_match_openrtb_3_lists() -> None:
    assert NoBidReason.INVALID_REQUEST.value == 2
    assert NoBidReason.ADS_CERT_AUTHENTICATION_VIOLATION.value == 14
    assert NoBidReason.BLOCKED_SUPPLY_CHAIN_NODE.value == 17
    assert NoBidReason.SELLERS_JSON_AUTHORIZATION_FAILED is NoBidReason(14)  # alias kept
    assert LossReason.LOST_TO_HIGHER_BID.value == 102
    assert LossReason.CREATIVE_FILTERED_APP_BUNDLE_LIST_EXCLUSIONS.value == 215
    assert LossReason.CREATIVE_FILTERED_APP_BUNDLE_EXCLUSIONS is LossReason(206)  # alias kept
