"""The campaigns file: money becomes micros, and a bad file fails naming the field."""

from pathlib import Path

import orjson
import pytest

from bidding.campaigns import ConfigError, load_routers, parse_routers


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
    (router,) = parse_routers(file_with(campaign()))
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
    with pytest.raises(ConfigError, match=rf"routers\.0\.campaigns\.0\.{field}"):
        parse_routers(file_with(campaign(**bad)))


def test_duplicate_campaign_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="ids must be unique"):
        parse_routers(file_with(campaign(), campaign()))


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_routers(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"routers": [')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_routers(broken)
