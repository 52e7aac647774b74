"""The bidders file: routers with campaigns (money in micros) and external DSPs; a bad file
fails naming the field."""

import re
from pathlib import Path

import orjson
import pytest

from bidding.campaigns import ConfigError
from exchange.bidders.config import load_bidders, parse_bidders


def campaign(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "c1",
        "advertiser": "Acme",
        "seat": "acme",
        "bid_cpm": "2.675",
        "daily_budget": "100.10",
        "creatives": [
            {"id": "cr1", "w": 300, "h": 250, "adm": "<img>", "adomain": ["acme.example"]}
        ],
    }
    base.update(overrides)
    return base


def file_with(*campaigns: dict[str, object], name: str = "house") -> bytes:
    return orjson.dumps({"routers": [{"name": name, "campaigns": list(campaigns)}]})


def test_prices_become_exact_micros() -> None:
    (router,) = parse_bidders(file_with(campaign()), "t").routers
    (parsed,) = router.campaigns
    assert parsed.bid_cpm_micros == 2_675_000
    assert parsed.daily_budget_micros == 100_100_000
    assert parsed.time_zone == "UTC"
    assert parsed.creatives[0].adomain == ("acme.example",)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"bid_cpm": "-1"}, "bid_cpm"),
        ({"bid_cpm": "NaN"}, "bid_cpm"),
        ({"daily_budget": 0}, "daily_budget"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"creatives": []}, "creatives"),
        ({"id": "has space"}, "id"),
        ({"bidcpm": "1"}, "bidcpm"),
    ],
)
def test_bad_campaign_names_the_field(bad: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"routers\[0\]\.campaigns\[0\]\.{field}"):
        parse_bidders(file_with(campaign(**bad)), "t")


def test_duplicate_campaign_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="ids must be unique"):
        parse_bidders(file_with(campaign(), campaign()), "t")


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_bidders(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"routers": [')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_bidders(broken)


def dsp(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {"name": "acme-dsp", "endpoint": "https://bid.acme.example/rtb"}
    entry.update(overrides)
    return entry


def test_the_shipped_demo_file_loads() -> None:
    config = load_bidders(None)
    (router,) = config.routers
    assert router.name == "house"
    assert len(router.campaigns) >= 3
    assert config.dsps == ()


def test_a_dsp_entry_becomes_a_spec_with_defaults() -> None:
    data = orjson.dumps(
        {
            "dsps": [
                dsp(
                    sizes=["300x250", "728x90"],
                    seats=["s1"],
                    qps=250,
                    quality=1.2,
                    gzip=True,
                    auth_header={"name": "authorization", "value": "Bearer x"},
                ),
                dsp(name="off", enabled=False),
            ]
        }
    )
    config = parse_bidders(data, "t")
    assert config.routers == ()
    (spec,) = config.dsps
    assert spec.sizes == frozenset({(300, 250), (728, 90)})
    assert spec.seats == frozenset({"s1"})
    assert (spec.protocol, spec.timeout_ms, spec.qps, spec.quality) == ("h2", 50, 250, 1.2)
    assert spec.media_types == frozenset({"banner", "video", "audio", "native"})
    assert spec.auth_header == ("authorization", "Bearer x")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"timeout_ms": 51}, "dsps[0].timeout_ms"),
        ({"timeout_ms": 0}, "dsps[0].timeout_ms"),
        ({"endpoint": "ftp://x"}, "dsps[0].endpoint"),
        ({"endpoint": "http://dsp.example", "protocol": "h2"}, "dsps[0].protocol"),
        ({"protocol": "h3"}, "dsps[0].protocol"),
        ({"media_types": ["print"]}, "dsps[0].media_types[0]"),
        ({"sizes": ["300 by 250"]}, "dsps[0].sizes[0]"),
        ({"qps": -1}, "dsps[0].qps"),
        ({"quality": 0}, "dsps[0].quality"),
        ({"surprise": 1}, "dsps[0].surprise"),
    ],
)
def test_a_bad_dsp_entry_names_the_field(bad: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match="^t: " + re.escape(field)):
        parse_bidders(orjson.dumps({"dsps": [dsp(**bad)]}), "t")


def test_bidder_names_are_unique_across_routers_and_dsps() -> None:
    data = orjson.dumps(
        {"routers": [{"name": "acme-dsp", "campaigns": [campaign()]}], "dsps": [dsp()]}
    )
    with pytest.raises(ConfigError, match="unique"):
        parse_bidders(data, "t")
