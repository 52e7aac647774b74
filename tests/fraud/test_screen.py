"""The screen as a whole: order of checks, block versus flag versus off, what bidders see."""

from typing import Any

import orjson
import pytest

from fraud.ip_ranges import IpRanges
from fraud.rates import RateLimits, RateWatch
from fraud.screen import DEFAULT_ACTIONS, Screen, ScreenConfig, with_flags
from fraud.sellers import SellersDirectory
from fraud.user_agents import CrawlerList
from fraud.verdict import CLEAN, Action, Check
from openrtb.request import BidRequest
from tests.builders import banner_request

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HOME_IP = "81.2.69.160"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("screen")
    sellers = directory / "sellers.json"
    sellers.write_bytes(
        orjson.dumps({"sellers": [{"seller_id": "pub-8953", "seller_type": "BOTH"}]})
    )
    return {
        "crawlers": CrawlerList(),
        "ranges": IpRanges.load(),
        "sellers": SellersDirectory.load(sellers),
    }


def _screen(parts: dict[str, Any], rates: RateWatch | None = None, **actions: Action) -> Screen:
    table = dict(DEFAULT_ACTIONS)
    table.update({Check(name): action for name, action in actions.items()})
    return Screen(ScreenConfig(table, frozenset({"bad.example"})), rates=rates, **parts)


def _request(device: dict[str, Any] | None = None, **overrides: Any) -> BidRequest:
    body = banner_request(**overrides)
    body["device"].update({"ip": HOME_IP, **(device or {})})
    return BidRequest.model_validate(body)


def test_a_clean_request_is_clean(parts: dict[str, Any]) -> None:
    request = _request()
    verdict = _screen(parts).screen(request)
    assert verdict is CLEAN
    assert with_flags(request, verdict) is request


@pytest.mark.parametrize(
    ("device", "overrides", "check", "nbr"),
    [
        ({"ua": GOOGLEBOT}, {}, "crawler", 3),
        ({"ip": "167.99.1.2"}, {}, "datacenter", 5),
        ({"ip": "192.168.1.20"}, {}, "device", 6),
        ({"os": "Android"}, {}, "device", 6),
        ({}, {"site": {"domain": "x.example", "publisher": {"id": "nobody"}}}, "seller", 7),
        ({}, {"source": {"tid": "t"}}, "schain", 16),
        (
            {},
            {
                "source": {
                    "schain": {
                        "complete": 1,
                        "ver": "1.0",
                        "nodes": [{"asi": "bad.example", "sid": "1"}],
                    }
                }
            },
            "schain",
            17,
        ),
    ],
)
@pytest.mark.parametrize("action", [Action.BLOCK, Action.FLAG, Action.OFF])
def test_each_check_blocks_flags_or_is_off(
    parts: dict[str, Any],
    device: dict[str, Any],
    overrides: dict[str, Any],
    check: str,
    nbr: int,
    action: Action,
) -> None:
    screen = _screen(parts, **{check: action})
    request = _request(device, **overrides)
    verdict = screen.screen(request)
    if action is Action.OFF:
        assert verdict is CLEAN
        return
    found = verdict.blocked if action is Action.BLOCK else verdict.flagged[0]
    assert found is not None
    assert (found.check.value, int(found.reason)) == (check, nbr)
    if action is Action.FLAG:
        assert verdict.blocked is None
        sent = with_flags(request, verdict)
        assert sent.ext is not None
        assert sent.ext["ivt"]["flags"][0]["nbr"] == nbr
        assert request.ext is None  # the input is not changed


def test_flags_gather_until_a_block_ends_the_screen(parts: dict[str, Any]) -> None:
    screen = _screen(parts, crawler=Action.FLAG, datacenter=Action.FLAG, seller=Action.BLOCK)
    request = _request(
        {"ua": GOOGLEBOT, "ip": "167.99.1.2"},
        site={"domain": "x.example", "publisher": {"id": "nobody"}},
        source={"tid": "t"},
    )
    verdict = screen.screen(request)
    assert verdict.blocked is not None
    assert verdict.blocked.check is Check.SELLER
    assert [f.check for f in verdict.flagged] == [Check.CRAWLER, Check.DATACENTER]
    assert verdict.as_json()["blocked"]["nbr"] == 7


def test_checks_without_their_data_are_off() -> None:
    screen = Screen(ScreenConfig())
    assert screen.actions == {
        "crawler": "off",
        "datacenter": "off",
        "device": "flag",
        "seller": "off",
        "schain": "flag",
        "rate": "off",
    }


def test_rates_flag_a_flooding_ip_and_device(parts: dict[str, Any]) -> None:
    rates = RateWatch(RateLimits(60, {"ip": 2, "device": 100}), b"k" * 32, clock=lambda: 0.0)
    screen = _screen(parts, rates)
    request = _request({"ifa": "00000000-0000-0000-0000-000000000000"})
    verdicts = [screen.screen(request) for _ in range(3)]
    assert [v.flagged for v in verdicts[:2]] == [(), ()]
    assert verdicts[2].flagged[0].check is Check.RATE
    assert int(verdicts[2].flagged[0].reason) == 4
    assert "ip" in verdicts[2].flagged[0].detail


def test_the_zero_ifa_of_limited_tracking_is_not_one_device(parts: dict[str, Any]) -> None:
    rates = RateWatch(RateLimits(60, {"device": 1}), b"k" * 32, clock=lambda: 0.0)
    screen = _screen(parts, rates)
    request = _request({"ifa": "00000000-0000-0000-0000-000000000000"})
    assert all(screen.screen(request) is CLEAN for _ in range(5))
