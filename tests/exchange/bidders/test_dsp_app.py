"""The in-process router served as an external DSP (``app.dsp_app``)."""

import gzip
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from app.dsp_app import create_dsp_app
from bidding.campaigns import ConfigError
from openrtb.codec import decode_response
from tests.builders import banner_imp, banner_request


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_dsp_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://dsp") as client:
        yield client


async def test_bids_from_the_demo_campaigns(client: httpx.AsyncClient) -> None:
    request = banner_request(imp=[banner_imp("1"), banner_imp("2")])
    answer = await client.post("/openrtb2/bid", content=orjson.dumps(request))
    assert answer.status_code == 200
    response = decode_response(answer.content)
    assert response.id == request["id"]
    bids = [bid for seat in response.seatbid or () for bid in seat.bid]
    assert {bid.impid for bid in bids} == {"1", "2"}
    assert all(bid.price > 0 and (bid.w, bid.h) in {(300, 250), (300, 600)} for bid in bids)


async def test_accepts_gzip_and_answers_gzip(client: httpx.AsyncClient) -> None:
    body = gzip.compress(orjson.dumps(banner_request(imp=[banner_imp(str(n)) for n in range(9)])))
    answer = await client.post(
        "/openrtb2/bid",
        content=body,
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert decode_response(answer.content).seatbid


async def test_no_bid_is_204(client: httpx.AsyncClient) -> None:
    imp = banner_imp(banner={"w": 1, "h": 1})
    answer = await client.post("/openrtb2/bid", content=orjson.dumps(banner_request(imp=[imp])))
    assert answer.status_code == 204
    assert answer.content == b""


@pytest.mark.parametrize(
    ("body", "field"), [(b"{nope", "body"), (b'{"id": "x", "imp": "1"}', "imp")]
)
async def test_bad_request_is_400_naming_the_field(
    client: httpx.AsyncClient, body: bytes, field: str
) -> None:
    answer = await client.post("/openrtb2/bid", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field


def test_unknown_router_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no-such"):
        create_dsp_app(router="no-such")
