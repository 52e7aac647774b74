"""Brand safety over real HTTP: DSPs whose bids break the exchange's or a publisher's
blocklists lose them (loss reasons 205 and 209) even when they bid the most, whatever
taxonomy their categories are in; the clean DSP's lower bid wins."""

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.e2e.test_external_dsps_e2e import JSON_HEADERS, metric
from tests.servers import serve

DSPS: dict[str, dict[str, Any]] = {
    "casino": {"price": 9.0, "adomain": ["casino.example"], "cat": ["IAB9-7"]},
    "adult": {"price": 8.0, "adomain": ["adult.example"], "cat": ["IAB25-3"]},
    "health-v2": {"price": 7.0, "adomain": ["pharma.example"], "cattax": 2, "cat": ["307"]},
    "rival": {"price": 6.0, "adomain": ["rival.example"], "cat": ["IAB19"]},
    "clean": {"price": 1.5, "adomain": ["shoes.example"], "cat": ["IAB18-3"]},
}
"""What each scripted DSP bids: the unsafe ones bid higher than the clean one."""


def _dsp_app() -> Starlette:
    async def bid(request: Request) -> Response:
        name = request.path_params["name"]
        body = orjson.loads(await request.body())
        spec = DSPS[name]
        bids = [
            {
                "id": f"{name}-{imp['id']}",
                "impid": imp["id"],
                "adid": f"{name}-ad",
                "crid": f"{name}-creative",
                "adm": f'<img src="https://{name}.example/ad.png">',
                "w": 300,
                "h": 250,
                "mtype": 1,
                **spec,
            }
            for imp in body["imp"]
        ]
        answer = {"id": body["id"], "cur": "USD", "seatbid": [{"seat": name, "bid": bids}]}
        return Response(orjson.dumps(answer), media_type="application/json")

    return Starlette(routes=[Route("/bid/{name}", bid, methods=["POST"])])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    directory = tmp_path_factory.mktemp("brand")
    with serve(_dsp_app()) as dsp_url:
        bidders = directory / "bidders.json"
        dsps = [
            {"name": name, "endpoint": f"{dsp_url}/bid/{name}", "protocol": "http1.1"}
            for name in DSPS
        ]
        bidders.write_bytes(orjson.dumps({"routers": [], "dsps": dsps}))
        lists = directory / "brand_safety.json"
        lists.write_bytes(
            orjson.dumps(
                {"bcat": ["IAB7-39"], "publishers": {"pub-8953": {"badv": ["rival.example"]}}}
            )
        )
        settings = Settings(
            store="memory",
            bidders_file=bidders,
            blocked_adomains=["Casino.example"],
            blocked_categories=["IAB25"],
            brand_safety_file=lists,
            debug_allowed=True,
            log_json=True,
        )
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as http:
            yield http


def _auction(client: httpx.Client, publisher: str) -> dict[str, Any]:
    body = banner_request()
    body["device"]["ip"] = "81.2.69.160"
    body["site"]["publisher"]["id"] = publisher
    body["ext"] = {"debug": 1}
    response = client.post("/openrtb2/auction", content=orjson.dumps(body), headers=JSON_HEADERS)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def test_unsafe_bids_lose_to_the_clean_one(client: httpx.Client) -> None:
    answer = _auction(client, "pub-8953")
    winner = answer["seatbid"][0]["bid"][0]
    assert answer["seatbid"][0]["seat"] == "clean"
    assert winner["adomain"] == ["shoes.example"]
    bidders = answer["ext"]["debug"]["bidders"]
    for name in ("casino", "adult", "health-v2", "rival"):
        assert bidders[name]["bids_dropped"] == 1, name
        assert bidders[name]["bids_kept"] == 0, name


@pytest.mark.parametrize(
    ("bidder", "reason"),
    [
        ("casino", 205),  # exchange-wide advertiser block, compared case-insensitively
        ("adult", 209),  # IAB25-3 under the blocked tier-1 IAB25
        ("health-v2", 209),  # Content 2.0 id 307 is IAB7-39, blocked in 1.0 terms
        ("rival", 205),  # blocked for publisher pub-8953 only
    ],
)
def test_each_block_has_its_loss_reason(client: httpx.Client, bidder: str, reason: int) -> None:
    _auction(client, "pub-8953")
    assert metric(client, "rtb_invalid_bids_total", {"bidder": bidder, "reason": str(reason)}) >= 1


def test_a_publisher_block_is_that_publishers_only(client: httpx.Client) -> None:
    answer = _auction(client, "pub-0001")
    assert answer["seatbid"][0]["seat"] == "rival"  # 6.00 beats the clean 1.50 elsewhere
    assert answer["ext"]["debug"]["bidders"]["rival"]["bids_kept"] == 1
