"""decode_* raise only InvalidRequest/InvalidResponse, naming the field; encode_* are exact."""

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrtb.codec import (
    MAX_DEPTH,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from openrtb.errors import InvalidRequest, InvalidResponse
from tests.builders import banner_request, bid_response


def _error(body: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        decode_request(body)
    return info.value


def test_valid_request_decodes() -> None:
    request = decode_request(orjson.dumps(banner_request(imps=2)))
    assert [imp.id for imp in request.imp] == ["1", "2"]
    assert request.imp[0].banner is not None
    assert request.imp[0].banner.format is not None
    assert request.imp[0].banner.format[1].h == 600


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: invalid JSON: Input is a zero-length, empty document at line 1 column 1"),
        (b'{"id": "r", "imp": [', "body: invalid JSON:"),
        (b'{"id": "r",\n "imp": [}', "at line 2 column 10"),
        (b"\xff\xfe{}", "body: invalid JSON:"),
        (b'{"id": "r", "imp": [], "tmax": NaN}', "body: invalid JSON:"),
        (b'{"id": "r", "imp": [], "tmax": Infinity}', "body: invalid JSON:"),
        (b'{"id": "r", "imp": [{"id": "1", "bidfloor": 1e400}]}', "infinity"),
        (b'{"id": "r", "imp": [{"id": "1", "bidfloor": -1e400}]}', "infinity"),
    ],
)
def test_bad_json_names_the_body(body: bytes, message: str) -> None:
    error = _error(body)
    assert error.field == "body"
    assert message in str(error)


@pytest.mark.parametrize("body", [b"[]", b'[{"id": "r"}]', b'"text"', b"42", b"null", b"true"])
def test_top_level_must_be_an_object(body: bytes) -> None:
    assert str(_error(body)) == "body: must be a JSON object"


def test_100k_nested_arrays_are_an_invalid_request() -> None:
    error = _error(b"[" * 100_000 + b"]" * 100_000)
    assert error.field == "body"


def test_100k_nested_objects_inside_a_request_are_an_invalid_request() -> None:
    body = b'{"id":"r","imp":[],"ext":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001
    assert _error(body).field == "body"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 1000])
def test_nesting_too_deep_to_re_encode_is_refused(depth: int) -> None:
    # Within orjson's parse limit (1024) but past what orjson/pydantic can serialise.
    body = b'{"id":"r","imp":[{"id":"1","banner":{}}],"ext":{"a":' + b"[" * depth + b"]" * depth
    body += b"}}"
    assert str(_error(body)) == f"body: nested deeper than {MAX_DEPTH} levels"


def test_nesting_at_the_limit_is_accepted_and_re_encodes() -> None:
    inner = MAX_DEPTH - 1  # the request object is the first level
    body = b'{"id":"r","imp":[{"id":"1","banner":{}}],"x":' + b"[" * inner + b"]" * inner + b"}"
    request = decode_request(body)
    assert orjson.loads(encode_request(request)) == orjson.loads(body)


def test_many_shallow_containers_are_not_mistaken_for_depth() -> None:
    request = decode_request(orjson.dumps(banner_request(imps=50)))
    assert len(request.imp) == 50


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"id": 123}, "id", "must be a string"),
        ({"imp": {"id": "1"}}, "imp", "must be an array"),
        ({"tmax": "120"}, "tmax", "must be an integer"),
        ({"tmax": 120.0}, "tmax", "must be an integer"),
        ({"tmax": True}, "tmax", "must be an integer"),
        ({"cur": "USD"}, "cur", "must be an array"),
        ({"site": []}, "site", "must be an object"),
        ({"regs": {"gdpr": "1"}}, "regs.gdpr", "must be an integer"),
        ({"source": {"schain": {"complete": 1, "ver": "1.0"}}}, "source.schain.nodes", "required"),
        ({"user": {"eids": [{"uids": [{"atype": "1"}]}]}}, "user.eids[0].uids[0].atype", ""),
    ],
)
def test_wrong_types_name_the_field(patch: dict[str, Any], field: str, message: str) -> None:
    error = _error(orjson.dumps(banner_request(**patch)))
    assert error.field == field
    assert message in error.message


def test_wrong_type_deep_in_an_imp_names_the_path() -> None:
    request = banner_request(imps=2)
    request["imp"][1]["banner"]["format"][1]["w"] = "300"
    assert str(_error(orjson.dumps(request))) == "imp[1].banner.format[1].w: must be an integer"


@pytest.mark.parametrize(
    ("imp_patch", "field"),
    [
        ({"bidfloor": "0.5"}, "imp[0].bidfloor"),
        ({"bidfloor": None}, "imp[0].bidfloor"),
        ({"id": None}, "imp[0].id"),
        ({"video": {"w": 640}}, "imp[0].video.mimes"),
        ({"native": {"ver": "1.2"}}, "imp[0].native.request"),
        ({"metric": [{"type": "viewability", "value": "high"}]}, "imp[0].metric[0].value"),
        ({"pmp": {"deals": [{"bidfloor": 1.0}]}}, "imp[0].pmp.deals[0].id"),
    ],
)
def test_imp_errors_name_the_field(imp_patch: dict[str, Any], field: str) -> None:
    request = banner_request()
    request["imp"][0].update(imp_patch)
    assert _error(orjson.dumps(request)).field == field


def test_missing_required_top_level_fields() -> None:
    assert str(_error(b'{"imp": []}')) == "id: required"
    assert str(_error(b'{"id": "r"}')) == "imp: required"


def test_integer_floor_is_accepted_as_a_number() -> None:
    request = banner_request()
    request["imp"][0]["bidfloor"] = 2
    assert decode_request(orjson.dumps(request)).imp[0].bidfloor == 2.0


def test_decode_response_raises_invalid_response() -> None:
    with pytest.raises(InvalidResponse) as info:
        decode_response(b"<html>502 Bad Gateway</html>")
    assert info.value.field == "body"
    response = bid_response()
    response["seatbid"][0]["bid"][0]["price"] = "1.25"
    with pytest.raises(InvalidResponse) as info:
        decode_response(orjson.dumps(response))
    assert str(info.value) == "seatbid[0].bid[0].price: must be a number"
    with pytest.raises(InvalidResponse, match="body: must be a JSON object"):
        decode_response(b"[]")
    with pytest.raises(InvalidResponse, match="body: nested deeper"):
        decode_response(b'{"ext":' + b"[" * 500 + b"]" * 500 + b"}")


def test_response_price_must_be_finite() -> None:
    body = b'{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":1e999}]}]}'
    with pytest.raises(InvalidResponse) as info:
        decode_response(body)
    assert info.value.field == "body"  # orjson refuses the literal before pydantic sees it


def test_encode_has_no_nulls_and_keeps_unicode() -> None:
    request = banner_request()
    request["site"]["name"] = "Zürich – 東京"
    encoded = encode_request(decode_request(orjson.dumps(request)))
    assert b"null" not in encoded
    assert "Zürich – 東京".encode() in encoded


def test_encode_response_round_trip() -> None:
    body = orjson.dumps(bid_response())
    assert orjson.loads(encode_response(decode_response(body))) == orjson.loads(body)


# Property tests: no input makes decode raise anything but InvalidRequest.

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


def _decode_or_refuse(body: bytes) -> None:
    try:
        request = decode_request(body)
    except InvalidRequest as error:
        refusal = error
    else:
        encode_request(request)  # whatever was accepted can be sent on
        return
    assert refusal.field
    assert str(refusal) == f"{refusal.field}: {refusal.message}"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_decode_arbitrary_bytes(body: bytes) -> None:
    _decode_or_refuse(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json_values)
def test_decode_arbitrary_json(value: Any) -> None:
    _decode_or_refuse(orjson.dumps(value))


_FIELDS = ["id", "imp", "site", "app", "device", "user", "tmax", "cur", "regs", "source", "ext"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_FIELDS),
    _json_values,
    st.sampled_from(["id", "banner", "bidfloor", "bidfloorcur", "pmp", "video", "metric"]),
    _json_values,
)
def test_decode_mutated_requests(field: str, value: Any, imp_field: str, imp_value: Any) -> None:
    request = banner_request(imps=2)
    request["imp"][1][imp_field] = imp_value
    request[field] = value
    _decode_or_refuse(orjson.dumps(request))
