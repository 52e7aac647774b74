"""Model behaviour: spec defaults, pass-through of unknown fields, strict types, finite money."""

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from openrtb.codec import decode_request, decode_response, encode_request, encode_response
from openrtb.imp import Deal, Imp
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse, SeatBid
from tests.builders import banner_request, bid_response


def test_spec_defaults_are_readable_but_not_invented_on_the_wire() -> None:
    body = b'{"id":"r","imp":[{"id":"1","banner":{},"pmp":{"deals":[{"id":"d"}]}}]}'
    request = decode_request(body)
    imp = request.imp[0]
    assert (request.at, request.test, request.allimps, request.cattax) == (2, 0, 0, 1)
    assert (imp.bidfloor, imp.bidfloorcur, imp.instl, imp.secure) == (0.0, "USD", 0, None)
    assert imp.pmp is not None
    assert imp.pmp.deals is not None
    assert imp.pmp.private_auction == 0
    assert (imp.pmp.deals[0].bidfloor, imp.pmp.deals[0].bidfloorcur) == (0.0, "USD")
    assert orjson.loads(encode_request(request)) == orjson.loads(body)


def test_explicit_default_values_survive() -> None:
    body = orjson.dumps(banner_request(at=2, test=0))
    assert orjson.loads(encode_request(decode_request(body)))["at"] == 2


def test_response_defaults() -> None:
    response = decode_response(b'{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":1}]}]}')
    assert response.cur == "USD"
    assert response.seatbid is not None
    assert response.seatbid[0].group == 0
    assert encode_response(response) == (
        b'{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":1.0}]}]}'
    )


def test_models_built_in_code_encode_what_was_set() -> None:
    response = BidResponse(
        id="r", seatbid=[SeatBid(bid=[Bid(id="b", impid="1", price=1.5)], seat="s")]
    )
    response.bidid = "x"  # assignment counts as set
    assert orjson.loads(encode_response(response)) == {
        "id": "r",
        "bidid": "x",
        "seatbid": [{"seat": "s", "bid": [{"id": "b", "impid": "1", "price": 1.5}]}],
    }


def _decorate(node: Any, depth: int = 0) -> None:
    """Add an unknown field and an ext to every OpenRTB object in a request dict."""
    if isinstance(node, list):
        for item in node:
            _decorate(item, depth)
    elif isinstance(node, dict):
        for _key, value in list(node.items()):
            _decorate(value, depth + 1)
        node["x_future_field"] = {"level": depth, "list": [1, "two", None]}
        node["ext"] = {"vendor": {"level": depth, "null": None}}


def test_unknown_fields_and_ext_pass_through_at_every_level() -> None:
    original = banner_request(imps=2)
    original["imp"][0]["pmp"] = {"deals": [{"id": "d1", "bidfloor": 1.0}]}
    original["imp"][1]["video"] = {"mimes": ["video/mp4"], "companionad": [{"w": 1, "h": 1}]}
    original["device"]["sua"] = {"browsers": [{"brand": "Chrome", "version": ["124"]}]}
    _decorate(original)
    request = decode_request(orjson.dumps(original))
    assert request.model_extra is not None
    assert "x_future_field" in request.model_extra
    assert request.imp[0].banner is not None
    assert request.imp[0].banner.format is not None
    assert request.imp[0].banner.format[1].ext == {"vendor": {"level": 3, "null": None}}
    assert orjson.loads(encode_request(request)) == original


def test_unknown_fields_pass_through_in_responses() -> None:
    original = bid_response()
    _decorate(original)
    assert orjson.loads(encode_response(decode_response(orjson.dumps(original)))) == original


def test_explicit_nulls_are_not_written() -> None:
    body = b'{"id":"r","imp":[{"id":"1","banner":null,"native":{"request":"{}"}}],"site":null}'
    assert orjson.loads(encode_request(decode_request(body))) == {
        "id": "r",
        "imp": [{"id": "1", "native": {"request": "{}"}}],
    }


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_money_is_rejected_in_code_too(value: float) -> None:
    with pytest.raises(ValidationError, match="bidfloor"):
        Imp(id="1", bidfloor=value)
    with pytest.raises(ValidationError, match="bidfloor"):
        Deal(id="d", bidfloor=value)
    with pytest.raises(ValidationError, match="price"):
        Bid(id="b", impid="1", price=value)


def test_code_lists_are_plain_ints_that_tolerate_unknown_values() -> None:
    request = decode_request(orjson.dumps(banner_request(at=501)))
    assert request.at == 501
    assert type(request.at) is int


def test_every_model_docstring_opens_with_its_spec_section() -> None:
    import inspect

    import openrtb.audience
    import openrtb.imp
    import openrtb.inventory
    import openrtb.request
    import openrtb.response
    from openrtb.base import OpenRTBModel

    modules = (openrtb.audience, openrtb.imp, openrtb.inventory, openrtb.request, openrtb.response)
    classes = [
        obj
        for module in modules
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, OpenRTBModel) and obj is not OpenRTBModel
    ]
    assert len(set(classes)) >= 35
    for cls in classes:
        assert cls.__doc__ is not None
        assert cls.__doc__.split(" — ")[0].endswith(f"Object: {cls.__name__}"), cls.__name__


def test_bid_request_is_importable_from_request_module() -> None:
    assert BidRequest.model_fields["imp"].is_required()
