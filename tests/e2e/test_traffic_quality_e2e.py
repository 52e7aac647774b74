"""The traffic screen over real HTTP: an exchange on a socket, one scripted DSP over h2c.

Real-world-shaped requests — crawler user agents, data-centre IPs, unauthorised sellers,
broken supply chains, a device that floods — get the answer docs/traffic-quality.md
promises: blocked ones a 204 before any bidder is called (the reason counted in
``rtb_traffic_screened_total`` and, in debug output, in ``nbr``), flagged ones the
auction, with the finding passed on to the DSP in ``ext.ivt``.
"""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.e2e.test_external_dsps_e2e import JSON_HEADERS, metric
from tests.peers import Peer, PeerServer
from tests.servers import serve

HOME_IP = "81.2.69.160"
"""A UK broadband address: public, in no data-centre range."""
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, httpx.Client]]:
    directory = tmp_path_factory.mktemp("ivt")
    peer = Peer("dsp")
    with PeerServer([peer]) as server:
        bidders = directory / "bidders.json"
        bidders.write_bytes(
            orjson.dumps(
                {"routers": [], "dsps": [{"name": "dsp", "endpoint": peer.url, "protocol": "h2c"}]}
            )
        )
        sellers = directory / "sellers.json"
        sellers.write_bytes(
            orjson.dumps(
                {
                    "version": "1.0",
                    "sellers": [
                        {
                            "seller_id": "pub-8953",
                            "seller_type": "PUBLISHER",
                            "domain": "example.com",
                        }
                    ],
                }
            )
        )
        settings = Settings(
            store="memory",
            bidders_file=bidders,
            dsp_ca_file=server.ca_file,
            ivt_sellers_file=sellers,
            ivt_blocked_schain_nodes=["shady-reseller.example"],
            ivt_rate_per_device=3,
            debug_allowed=True,
            log_json=True,
        )
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
            yield peer, client


def _request(**device: Any) -> dict[str, Any]:
    body = banner_request()
    body["device"].update({"ip": HOME_IP, **device})
    return body


def _post(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post("/openrtb2/auction", content=orjson.dumps(body), headers=JSON_HEADERS)


def _screened(client: httpx.Client, check: str, reason: int, action: str) -> float:
    labels = {"check": check, "reason": str(reason), "action": action}
    return metric(client, "rtb_traffic_screened_total", labels)


def test_a_person_gets_the_auction_and_nothing_flagged(setup: tuple[Peer, httpx.Client]) -> None:
    peer, client = setup
    before = len(peer.seen)
    response = _post(client, _request())
    assert response.status_code == 200
    assert response.json()["seatbid"][0]["bid"][0]["price"] > 0
    assert len(peer.seen) == before + 1
    assert "ivt" not in (peer.seen[-1].body.get("ext") or {})


@pytest.mark.parametrize(
    ("name", "change", "check", "reason"),
    [
        ("googlebot", {"ua": GOOGLEBOT}, "crawler", 3),
        ("curl", {"ua": "curl/8.5.0"}, "crawler", 3),
        ("digitalocean droplet", {"ip": "159.203.44.12"}, "datacenter", 5),
        ("hetzner ipv6", {"ip": None, "ipv6": "2a01:4f8:c17:1::1"}, "datacenter", 5),
    ],
)
def test_bots_and_data_centres_are_refused_before_any_bidder(
    setup: tuple[Peer, httpx.Client], name: str, change: dict[str, Any], check: str, reason: int
) -> None:
    peer, client = setup
    before_calls, before_count = len(peer.seen), _screened(client, check, reason, "block")
    response = _post(client, _request(**change))
    assert response.status_code == 204, name
    assert response.content == b""
    assert len(peer.seen) == before_calls  # no bidder was called
    assert _screened(client, check, reason, "block") == before_count + 1
    assert metric(client, "rtb_nobids_total", {"reason": "blocked"}) >= 1


@pytest.mark.parametrize(
    ("site", "why"),
    [
        ({"domain": "news.example.com", "publisher": {"id": "pub-0000"}}, "not in sellers.json"),
        ({"domain": "spoofed-news.example", "publisher": {"id": "pub-8953"}}, "is not seller"),
    ],
)
def test_unauthorised_sellers_are_refused_with_reason_7(
    setup: tuple[Peer, httpx.Client], site: dict[str, Any], why: str
) -> None:
    peer, client = setup
    before = len(peer.seen)
    body = _request()
    body["site"] = site
    assert _post(client, body).status_code == 204
    assert len(peer.seen) == before
    body["ext"] = {"debug": 1}  # debug output says why, with the no-bid reason
    answer = _post(client, body)
    assert answer.status_code == 200
    assert answer.json()["nbr"] == 7
    blocked = answer.json()["ext"]["debug"]["screening"]["blocked"]
    assert blocked["check"] == "seller"
    assert why in blocked["detail"]


def test_debug_output_names_the_crawler(setup: tuple[Peer, httpx.Client]) -> None:
    _, client = setup
    body = _request(ua=GOOGLEBOT)
    body["ext"] = {"debug": 1}
    answer = _post(client, body).json()
    assert answer["nbr"] == 3
    assert answer["seatbid"] == []
    assert answer["ext"]["debug"]["screening"]["blocked"] == {
        "check": "crawler",
        "nbr": 3,
        "detail": "Googlebot",
    }
    assert answer["ext"]["debug"]["bidders"] == {}


@pytest.mark.parametrize(
    ("source", "nbr"),
    [
        ({"tid": "t-1"}, 16),  # no schain at all
        (
            {
                "schain": {
                    "complete": 0,
                    "ver": "1.0",
                    "nodes": [{"asi": "ssp.example", "sid": "1"}],
                }
            },
            16,
        ),
        (
            {
                "schain": {
                    "complete": 1,
                    "ver": "1.0",
                    "nodes": [{"asi": "shady-reseller.example", "sid": "77", "hp": 1}],
                }
            },
            17,
        ),
    ],
)
def test_broken_supply_chains_are_flagged_to_the_bidders(
    setup: tuple[Peer, httpx.Client], source: dict[str, Any], nbr: int
) -> None:
    peer, client = setup
    before = _screened(client, "schain", nbr, "flag")
    body = _request()
    body["source"] = source
    response = _post(client, body)
    assert response.status_code == 200  # flag (the default for schain): the auction runs
    flags = peer.seen[-1].body["ext"]["ivt"]["flags"]
    assert [(f["check"], f["nbr"]) for f in flags] == [("schain", nbr)]
    assert _screened(client, "schain", nbr, "flag") == before + 1


def test_impossible_devices_are_flagged(setup: tuple[Peer, httpx.Client]) -> None:
    peer, client = setup
    response = _post(client, _request(ip="10.20.30.40", os="iOS"))  # private IP, Windows UA
    assert response.status_code == 200
    flags = peer.seen[-1].body["ext"]["ivt"]["flags"]
    assert flags[0]["check"] == "device"
    assert flags[0]["nbr"] == 6
    assert "10.20.30.40" in flags[0]["detail"]


def test_a_device_that_floods_is_flagged_as_non_human(setup: tuple[Peer, httpx.Client]) -> None:
    peer, client = setup
    ifa = "5f1c8a3e-7b2d-4c9e-a1f0-3d6b8e2c4a17"
    flagged = []
    for _ in range(5):
        assert _post(client, _request(ifa=ifa)).status_code == 200
        flags = (peer.seen[-1].body.get("ext") or {}).get("ivt", {}).get("flags", [])
        flagged.append([f["nbr"] for f in flags if f["check"] == "rate"])
    assert flagged == [[], [], [], [4], [4]]  # over 3 requests in the window
    assert _screened(client, "rate", 4, "flag") >= 2


def test_a_replaced_datacenter_file_is_screened_by_without_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The operator replaces the ranges file; within a reload interval the exchange blocks
    the new ranges, and a file that does not parse leaves the working ranges in place."""
    directory = tmp_path_factory.mktemp("ranges")
    ranges = directory / "ranges.txt"
    ranges.write_text("192.0.2.0/24 old-host\n")
    peer = Peer("dsp")
    with PeerServer([peer]):
        bidders = directory / "bidders.json"
        bidders.write_bytes(
            orjson.dumps(
                {"routers": [], "dsps": [{"name": "dsp", "endpoint": peer.url, "protocol": "h2c"}]}
            )
        )
        settings = Settings(
            store="memory",
            bidders_file=bidders,
            ivt_datacenter_file=ranges,
            ivt_datacenter_reload_s=0.05,
        )
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
            assert _post(client, _request()).status_code == 200  # HOME_IP is not listed
            ranges.write_text(f"192.0.2.0/24 old-host\n{HOME_IP}/32 new-host\n")
            answers = []
            for _ in range(100):
                answers.append(_post(client, _request()).status_code)
                if answers[-1] == 204:
                    break
                time.sleep(0.05)
            assert answers[-1] == 204, answers
            assert _screened(client, "datacenter", 5, "block") >= 1
            ranges.write_text("this is not a CIDR\n")
            time.sleep(0.5)
            assert _post(client, _request()).status_code == 204  # the working ranges stay
