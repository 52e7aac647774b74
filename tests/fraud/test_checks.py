"""Each traffic-quality check on its own, table-driven, on real-world-shaped inputs."""

import gzip
import ipaddress
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from fraud.device import NOT_PUBLIC, consistency_problem, ip_problem, parse_ip
from fraud.ip_ranges import IpRanges
from fraud.sellers import SellersDirectory, schain_problem
from fraud.user_agents import CrawlerList
from openrtb.audience import Device
from openrtb.enums import NoBidReason
from openrtb.request import BidRequest
from tests.builders import USER_AGENT, banner_request

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def crawlers() -> CrawlerList:
    return CrawlerList()


@pytest.mark.parametrize(
    ("ua", "crawler"),
    [
        (GOOGLEBOT, "Googlebot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"),
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2;", "GPTBot"),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.31.0", "python-requests"),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/124.0.0.0 Safari/537.36", "Headless"),
        (USER_AGENT, None),
        (IPHONE_UA, None),
        (ANDROID_UA, None),
    ],
)
def test_known_crawlers_by_user_agent(crawlers: CrawlerList, ua: str, crawler: str | None) -> None:
    found = crawlers.crawler(ua)
    if crawler is None:
        assert found is None
    else:
        assert found is not None
        assert crawler.lower() in found.lower()
    assert crawlers.crawler(ua) == found  # the cached answer is the same


def test_crawler_cache_is_bounded() -> None:
    crawlers = CrawlerList(cache_size=3)
    for n in range(10):
        crawlers.crawler(f"agent-{n}")
    assert len(crawlers._seen) <= 3
    assert crawlers.crawler(GOOGLEBOT) is not None


@pytest.mark.parametrize(
    ("content", "ip", "provider"),
    [
        ("10.0.0.0/8 lab\n# comment\n192.0.2.0/24\n", "192.0.2.9", "datacenter"),
        ('{"acme-cloud": ["198.51.100.0/24", "2001:db8::/32"]}', "2001:db8::1", "acme-cloud"),
        (
            '{"syncToken": "1", "createDate": "2026-12-01", '
            '"prefixes": [{"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2"}], '
            '"ipv6_prefixes": [{"ipv6_prefix": "2600:1f14::/35"}]}',
            "3.5.141.1",
            "aws",
        ),
        (
            '{"prefixes": [{"ipv4Prefix": "34.1.208.0/20", "scope": "africa-south1"}]}',
            "34.1.210.3",
            "google",
        ),
        ("1.0.0.0/24 a\n1.0.0.128/25 b\n1.0.1.0/24 c\n", "1.0.0.200", "a"),  # b is inside a
        ("1.0.0.0/24 a\n1.0.0.128/25 b\n1.0.1.0/24 c\n", "1.0.1.200", "c"),  # c only touches a
    ],
)
def test_range_file_formats(tmp_path: Path, content: str, ip: str, provider: str) -> None:
    path = tmp_path / "ranges"
    path.write_text(content)
    assert IpRanges.load(path).provider_of(ip) == provider
    path.write_bytes(gzip.compress(content.encode()))  # any format, gzip-compressed
    assert IpRanges.load(path).provider_of(ip) == provider


def test_a_bad_range_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ranges.txt"
    path.write_text("10.0.0.0/8\nnot-a-cidr provider\n")
    with pytest.raises(ValueError, match="line 2"):
        IpRanges.load(path)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"ip": "81.2.69.160"}, None),
        ({"ip": "10.1.2.3"}, "not a public address"),
        ({"ip": "192.168.0.10"}, "not a public address"),
        ({"ip": "127.0.0.1"}, "not a public address"),
        ({"ip": "169.254.1.1"}, "not a public address"),
        ({"ip": "203.0.113.17"}, "not a public address"),  # TEST-NET-3 (documentation)
        ({"ipv6": "fe80::1"}, "not a public address"),
        ({"ip": "999.1.1.1"}, "not an address"),
        ({}, None),
    ],
)
def test_ip_must_be_public(fields: dict[str, Any], problem: str | None) -> None:
    device = Device.model_validate(fields)
    found = ip_problem(device, parse_ip(device))
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"ua": IPHONE_UA, "os": "iOS", "devicetype": 4, "w": 1179, "h": 2556}, None),
        ({"ua": ANDROID_UA, "os": "Android", "devicetype": 4}, None),
        ({"ua": USER_AGENT, "os": "Windows", "devicetype": 2}, None),
        ({"ua": IPHONE_UA, "os": "Android"}, "ua says ios, os says Android"),
        ({"ua": ANDROID_UA, "os": "iOS"}, "ua says android"),
        ({"ua": USER_AGENT, "os": "iOS"}, "ua says windows"),
        ({"ua": USER_AGENT, "devicetype": 4}, "phone or tablet"),
        ({"ua": IPHONE_UA, "devicetype": 2}, "personal computer"),
        ({"ua": USER_AGENT, "w": 0, "h": 1080}, "screen w=0"),
        ({"ua": USER_AGENT, "w": 1920, "h": 99999}, "screen h=99999"),
        ({"ppi": 5000}, "ppi=5000"),
        ({"pxratio": 0.0}, "pxratio=0.0"),
        ({"os": "Symbian"}, None),  # unknown OS names are not contradictions
    ],
)
def test_device_consistency(fields: dict[str, Any], problem: str | None) -> None:
    found = consistency_problem(Device.model_validate(fields))
    assert (found is None) if problem is None else (found is not None and problem in found)


def _request(**overrides: Any) -> BidRequest:
    return BidRequest.model_validate(banner_request(**overrides))


SELLERS = {
    "contact_email": "sellers@exchange.example",
    "version": "1.0",
    "sellers": [
        {"seller_id": "pub-8953", "seller_type": "PUBLISHER", "domain": "example.com"},
        {"seller_id": "ssp-77", "seller_type": "INTERMEDIARY", "domain": "ssp.example"},
    ],
}


@pytest.mark.parametrize(
    ("site", "problem"),
    [
        (None, None),  # the builder's site: pub-8953 on news.example.com
        ({"domain": "example.com", "publisher": {"id": "pub-8953"}}, None),
        ({"domain": "spoofed.example", "publisher": {"id": "pub-8953"}}, "is not seller pub-8953"),
        ({"domain": "any.example", "publisher": {"id": "ssp-77"}}, None),  # intermediary
        ({"domain": "news.example.com", "publisher": {"id": "pub-0000"}}, "not in sellers.json"),
        ({"domain": "news.example.com"}, "no publisher id"),
    ],
)
def test_authorised_sellers(
    tmp_path: Path, site: dict[str, Any] | None, problem: str | None
) -> None:
    path = tmp_path / "sellers.json"
    path.write_bytes(orjson.dumps(SELLERS))
    directory = SellersDirectory.load(path)
    request = _request() if site is None else _request(site=site)
    found = directory.problem(request)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_bad_sellers_file_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "sellers.json"
    path.write_bytes(orjson.dumps({"sellers": [{"seller_id": "a", "seller_type": "PUB"}]}))
    with pytest.raises(ValueError, match=r"sellers\[0\].seller_type"):
        SellersDirectory.load(path)


NODE = {"asi": "ssp.example", "sid": "pub-8953", "hp": 1}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, None),  # the builder's complete one-node chain
        ({"schain": {"complete": 1, "ver": "1.0", "nodes": [NODE]}}, None),
        ({"ext": {"schain": {"complete": 1, "ver": "1.0", "nodes": [NODE]}}}, None),  # 2.5 way
        ({"tid": "t"}, (16, "no schain")),
        ({"schain": {"complete": 0, "ver": "1.0", "nodes": [NODE]}}, (16, "complete is not 1")),
        ({"schain": {"complete": 1, "ver": "1.0", "nodes": []}}, (16, "no nodes")),
        (
            {"schain": {"complete": 1, "ver": "1.0", "nodes": [NODE, {"asi": "", "sid": "x"}]}},
            (16, "node 1 lacks"),
        ),
        (
            {
                "schain": {
                    "complete": 1,
                    "ver": "1.0",
                    "nodes": [{"asi": "Shady.Example", "sid": "9"}],
                }
            },
            (17, "shady.example".capitalize()),
        ),
    ],
)
def test_supply_chain(source: dict[str, Any] | None, expected: tuple[int, str] | None) -> None:
    request = _request() if source is None else _request(source=source)
    found = schain_problem(request, frozenset({"shady.example"}))
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found[0] == NoBidReason(expected[0])
        assert expected[1].lower() in found[1].lower()


@pytest.mark.parametrize("seed", range(4))
def test_non_public_table_agrees_with_ipaddress(seed: int) -> None:
    """The interval table refuses what ``ipaddress`` calls non-global, and multicast too
    (``is_global`` accepts multicast, but no device sends from a group address)."""
    draw = random.Random(seed)
    for _ in range(5_000):
        value = draw.getrandbits(32)
        ip = ipaddress.IPv4Address(value)
        expected = not ip.is_global or ip.is_multicast or value >= 0xF0000000
        assert (NOT_PUBLIC.provider((4, value)) is not None) == expected, str(ip)


def test_matches_of_new_agents_are_rationed() -> None:
    """A flood of never-seen agents cannot make every request pay a regex match."""
    now = [100.0]
    crawlers = CrawlerList(max_matches_per_s=2, clock=lambda: now[0])
    assert crawlers.crawler(GOOGLEBOT) is not None  # 1st match this second
    assert crawlers.crawler("agent-a") is None  # 2nd
    assert crawlers.crawler("curl/8.5.0") is None  # over the ration: passed, not cached
    assert crawlers.skipped == 1
    assert crawlers.crawler(GOOGLEBOT) is not None  # cached agents cost no match
    now[0] += 1.0
    assert crawlers.crawler("curl/8.5.0") == "curl"  # matched once the ration refills
