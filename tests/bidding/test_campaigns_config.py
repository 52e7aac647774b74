"""Campaign config: both bidding modes, targeting and flight in the campaign's zone, money in
micros, and every bad field named in the error."""

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from bidding.campaigns import Campaign, ConfigError, FrequencyCap
from bidding.exploration import BetaPrior
from bidding.targeting import ALL_HOURS, Dimension, ListRule, hours_mask
from bidding.valuation import GoalKind
from exchange.bidders.config import load_bidders, parse_bidders


def creative(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "cr1",
        "w": 300,
        "h": 250,
        "adm": "<img>",
        "adomain": ["acme.example"],
    }
    base.update(overrides)
    return base


def campaign(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c1",
        "advertiser": "Acme",
        "seat": "acme",
        "daily_budget": "100.00",
        "goal": {"type": "cpc", "target_cpc": "0.80"},
        "max_bid": "5.00",
        "creatives": [creative()],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def load(*campaigns: dict[str, Any]) -> tuple[Campaign, ...]:
    data = orjson.dumps({"routers": [{"name": "house", "campaigns": list(campaigns)}]})
    (router,) = parse_bidders(data, "t").routers
    return router.campaigns


def test_fixed_price_mode_is_kept() -> None:
    (parsed,) = load(campaign(goal=None, max_bid=None, bid_cpm="2.40"))
    assert parsed.goal is None
    assert parsed.bid_cpm_micros == 2_400_000
    assert parsed.targeting.rules == ()
    assert parsed.currency == "USD"


def test_goals_become_micros_and_a_rule_based_bid() -> None:
    roi, cpa, cpc = load(
        campaign(
            id="roi",
            goal={"type": "roi", "conversion_value": "60.00", "target_roi": "4"},
            historical_ctr=0.5,
            historical_cvr=0.5,
            min_bid="0.25",
            max_bid="6.00",
        ),
        campaign(id="cpa", goal={"type": "cpa", "target_cpa": "12.5"}, max_bid="1.00"),
        campaign(id="cpc", goal={"type": "cpc", "target_cpc": "0.80"}, max_bid="9"),
    )
    assert roi.goal is not None
    assert roi.goal.kind is GoalKind.ROI
    assert roi.goal.conversion_value_micros == 60_000_000
    assert roi.goal.target_roi == 4.0
    assert (roi.min_bid_cpm_micros, roi.max_bid_cpm_micros) == (250_000, 6_000_000)
    # 1000 × 0.5 × 0.5 × 60 ÷ 4 = 3750 CPM, clipped to the 6.00 max bid.
    assert roi.bid_cpm_micros == 6_000_000
    assert cpa.goal is not None
    assert cpa.goal.target_cpa_micros == 12_500_000
    # default historical rates 0.001 × 0.01 × 1000 × 12.5 = 0.125 CPM, rounded down.
    assert cpa.bid_cpm_micros in (124_999, 125_000)
    assert cpc.goal is not None
    assert cpc.goal.target_cpc_micros == 800_000
    assert cpc.bid_cpm_micros in (799_999, 800_000)  # 1000 × 0.001 × 0.80


def test_frequency_caps_are_loaded() -> None:
    (parsed,) = load(
        campaign(frequency_cap=[{"count": 3, "per": "day"}, {"count": 1, "per": "hour"}])
    )
    assert parsed.frequency_caps == (FrequencyCap(3, "day"), FrequencyCap(1, "hour"))


def test_targeting_creatives_and_flight_are_loaded() -> None:
    (parsed,) = load(
        campaign(
            time_zone="America/New_York",
            flight={"start": "2025-03-01", "end": "2025-03-31"},
            targeting={
                "country": {"allow": ["USA", "can"]},
                "device_type": {"allow": [1, 4], "block": [3]},
                "domain": {"block": ["Tabloid.example"]},
                "age": {"min": 18},
                "dayparting": [{"days": ["sat", "sun"], "from_hour": 22, "to_hour": 2}],
            },
            creatives=[
                creative(
                    id="v",
                    media_type="video",
                    w=None,
                    h=None,
                    attr=[6],
                    landing_url="https://acme.example/x",
                    ctr_prior={"alpha": 2, "beta": 998},
                ),
                creative(id="b"),
            ],
        )
    )
    t = parsed.targeting
    assert t.rule(Dimension.COUNTRY) == ListRule(frozenset({"usa", "can"}))
    assert t.rule(Dimension.DEVICE_TYPE) == ListRule(frozenset({"1", "4"}), frozenset({"3"}))
    assert t.rule(Dimension.DOMAIN) == ListRule(None, frozenset({"tabloid.example"}))
    assert (t.min_age, t.max_age) == (18, None)
    assert t.hours == hours_mask(("sat", "sun"), 22, 2) != ALL_HOURS
    assert t.time_zone == "America/New_York"
    # March 1st, 00:00 EST (UTC−5) to April 1st, 00:00 EDT (UTC−4).
    assert t.flight_start_s == int(datetime(2025, 3, 1, 5, tzinfo=UTC).timestamp())
    assert t.flight_end_s == int(datetime(2025, 4, 1, 4, tzinfo=UTC).timestamp())
    assert (parsed.flight_start, parsed.flight_end) == (date(2025, 3, 1), date(2025, 3, 31))
    video, banner = parsed.creatives
    assert (video.media_type, video.w, video.h, video.attr) == ("video", 0, 0, (6,))
    assert video.format_key == ("video", 0, 0)
    assert parsed.ctr_prior(video) == BetaPrior(2, 998)
    assert parsed.ctr_prior(banner).mean == pytest.approx(parsed.historical_ctr)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"bid_cpm": "2.00"}, "bid_cpm"),
        ({"goal": None}, "bid_cpm"),
        ({"max_bid": None}, "max_bid"),
        ({"min_bid": "6", "max_bid": "5"}, "min_bid"),
        ({"goal": {"type": "roi", "conversion_value": "10"}}, r"goal\.roi\.target_roi"),
        ({"goal": {"type": "roi", "conversion_value": "10", "target_roi": 0}}, "target_roi"),
        ({"goal": {"type": "cpm", "target": "1"}}, "goal"),
        ({"goal": {"type": "cpa", "target_cpa": "-1"}}, r"goal\.cpa\.target_cpa"),
        ({"currency": "usd"}, "currency"),
        ({"historical_ctr": 0}, "historical_ctr"),
        ({"historical_cvr": 1.5}, "historical_cvr"),
        ({"flight": {"start": "2025-03-02", "end": "2025-03-01"}}, "flight"),
        ({"flight": {"start": "2025-02-30"}}, r"flight\.start"),
        ({"frequency_cap": [{"count": 0, "per": "day"}]}, r"frequency_cap\[0\]\.count"),
        ({"frequency_cap": [{"count": 1, "per": "week"}]}, r"frequency_cap\[0\]\.per"),
        ({"frequency_cap": [{"count": 1, "per": "day"}] * 2}, "frequency_cap"),
        ({"targeting": {"countries": {"allow": ["USA"]}}}, r"targeting\.countries"),
        ({"targeting": {"country": {"allow": []}}}, r"targeting\.country\.allow"),
        ({"targeting": {"device_type": {"allow": ["phone"]}}}, r"targeting\.device_type\.allow"),
        ({"targeting": {"age": {"min": 50, "max": 20}}}, "age"),
        (
            {"targeting": {"dayparting": [{"days": ["fun"], "from_hour": 1, "to_hour": 2}]}},
            r"targeting\.dayparting\[0\]\.days",
        ),
        (
            {"targeting": {"dayparting": [{"days": ["mon"], "from_hour": 3, "to_hour": 3}]}},
            r"targeting\.dayparting\[0\]",
        ),
        ({"creatives": [creative(w=None, h=None)]}, r"creatives\[0\]"),
        ({"creatives": [creative(media_type="audio")]}, r"creatives\[0\]"),
        ({"creatives": [creative(landing_url="ftp://x")]}, r"creatives\[0\]\.landing_url"),
        ({"creatives": [creative(ctr_prior={"alpha": 0, "beta": 1})]}, r"ctr_prior\.alpha"),
        ({"creatives": [creative(media_type="print")]}, r"creatives\[0\]\.media_type"),
    ],
)
def test_bad_config_names_the_field(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"routers\[0\]\.campaigns\[0\]\.?.*{field}"):
        load(campaign(**bad))


def test_duplicate_creative_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="creatives: ids must be unique"):
        load(campaign(creatives=[creative(), creative()]))


def test_a_rule_based_bid_of_zero_is_refused() -> None:
    tiny = campaign(goal={"type": "cpa", "target_cpa": "0.000001"}, historical_cvr=0.0001)
    with pytest.raises(ConfigError, match="historical_ctr"):
        load(tiny)


def test_demo_file_has_both_modes() -> None:
    (router,) = load_bidders(None).routers
    modes = {c.id: c.goal is None for c in router.campaigns}
    assert modes["acme-shoes-spring"]
    assert not modes["greenleaf-grocer"]
    for c in router.campaigns:
        assert 0 < c.bid_cpm_micros <= (c.max_bid_cpm_micros or c.bid_cpm_micros)
