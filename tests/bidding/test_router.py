"""The in-process router: size matching, floors, blocked advertisers, and the budget check."""

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from bidding.campaigns import Campaign, ConfigError, Creative, RouterSpec
from bidding.router import CampaignRouter
from budget.keys import KeySpace
from budget.ledger import HoldRequest, SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from openrtb.identity import PROCESS_USER_KEYS
from openrtb.request import BidRequest
from tests.builders import banner_imp, banner_request


class RecordingLedger(SpendLedger):
    """The real ledger on an in-memory store, recording how the router used it."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        super().__init__(self.store, KeySpace("t:"), clock=lambda: NOW)
        self.reserved: list[list[str]] = []

    async def reserve(self, holds: Sequence[HoldRequest], ttl_s: float) -> list[bool]:
        self.reserved.append([h.hold_id for h in holds])
        await self.open_for([h.campaign_id for h in holds])
        return await super().reserve(holds, ttl_s)

    async def open_for(self, campaign_ids: Sequence[str]) -> None:
        """Campaigns the test makes up as it goes join the ledger on first use."""
        await open_ledger(self.store, KeySpace("t:"), campaign_ids)

    async def spend(self, campaign_id: str, micros: int) -> None:
        """Spend that happened earlier today, settled."""
        await self.open_for([campaign_id])
        await self.settle(
            (campaign_id, "UTC"),
            budget_micros=micros,
            impression_id=f"earlier-{campaign_id}",
            cost_micros=micros,
            bid_time_s=NOW,
            marker_ttl_s=60,
        )


NOW = 1_795_000_000.0


def campaign(cid: str, bid_cpm_micros: int, *sizes: tuple[int, int], **kw: Any) -> Campaign:
    creatives = tuple(
        Creative(
            f"{cid}-{w}x{h}",
            w,
            h,
            "<img>",
            kw.pop("adomain", (f"{cid}.example",)),
            kw.pop("cat", ()),
        )
        for w, h in sizes
    )
    return Campaign(
        id=cid,
        advertiser=cid,
        seat=kw.pop("seat", cid),
        bid_cpm_micros=bid_cpm_micros,
        daily_budget_micros=kw.pop("budget", 10_000_000),
        time_zone="UTC",
        creatives=creatives,
        **kw,
    )


def router(*campaigns: Campaign, spend: RecordingLedger | None = None) -> CampaignRouter:
    return CampaignRouter(
        RouterSpec("house", campaigns), spend or RecordingLedger(), "USD", clock=lambda: NOW
    )


def request(**overrides: Any) -> BidRequest:
    return BidRequest.model_validate(banner_request(**overrides))


async def test_bids_each_fitting_campaign_at_its_price() -> None:
    answer = await router(
        campaign("a", 2_000_000, (300, 250)),
        campaign("b", 1_000_000, (300, 600)),  # fits the imp's second format
        campaign("c", 3_000_000, (728, 90)),  # fits nothing
    ).request_bids(request(), 0.05)
    assert answer is not None
    bids = {b.cid: b for sb in answer.seatbid for b in sb.bid}
    assert set(bids) == {"a", "b"}
    assert bids["a"].price == 2.0
    assert (bids["a"].w, bids["a"].h) == (300, 250)
    assert bids["b"].price == 1.0
    assert (bids["b"].w, bids["b"].h) == (300, 600)
    assert {sb.seat for sb in answer.seatbid} == {"a", "b"}
    assert answer.id == "req-6f1c2a9e-banner"


async def test_no_bid_below_the_floor_or_in_another_currency_without_rates() -> None:
    floored = request(imp=[banner_imp(bidfloor=2.5)])
    assert await router(campaign("a", 2_000_000, (300, 250))).request_bids(floored, 0.05) is None
    euros = request(imp=[banner_imp(bidfloorcur="EUR")])
    assert await router(campaign("a", 2_000_000, (300, 250))).request_bids(euros, 0.05) is None


async def test_blocked_advertiser_and_category_are_not_bid() -> None:
    blocked = campaign("a", 2_000_000, (300, 250), adomain=("blocked.example",))
    gambling = campaign("b", 2_000_000, (300, 250), cat=("IAB25",))
    assert await router(blocked, gambling).request_bids(request(), 0.05) is None


async def test_a_campaign_that_cannot_afford_one_more_impression_does_not_bid() -> None:
    # 2.00 CPM costs 2_000 micros per impression; 10_000_000 budget.
    spend = RecordingLedger()
    await spend.spend("a", 9_998_001)
    await spend.spend("b", 9_998_000)
    answer = await router(
        campaign("a", 2_000_000, (300, 250)), campaign("b", 2_000_000, (300, 250)), spend=spend
    ).request_bids(request(), 0.05)
    assert answer is not None
    assert [b.cid for sb in answer.seatbid for b in sb.bid] == ["b"]


async def test_holds_are_placed_in_one_call_per_request_for_all_candidates() -> None:
    spend = RecordingLedger()
    await router(
        campaign("a", 2_000_000, (300, 250)), campaign("b", 1_000_000, (300, 250)), spend=spend
    ).request_bids(request(imp=[banner_imp("1"), banner_imp("2")]), 0.05)
    assert spend.reserved == [
        [
            "req-6f1c2a9e-banner:1:1-a",
            "req-6f1c2a9e-banner:1:1-b",
            "req-6f1c2a9e-banner:2:2-a",
            "req-6f1c2a9e-banner:2:2-b",
        ]
    ]


async def test_no_banner_imps_means_no_call_to_the_store() -> None:
    spend = RecordingLedger()
    video_only = request(imp=[{"id": "1", "video": {"mimes": ["video/mp4"], "w": 640, "h": 360}}])
    assert (
        await router(campaign("a", 2_000_000, (300, 250)), spend=spend).request_bids(
            video_only, 0.05
        )
        is None
    )
    assert spend.reserved == []


@pytest.mark.parametrize("imps", [1, 3])
async def test_bid_ids_are_unique_per_imp_and_campaign(imps: int) -> None:
    answer = await router(
        campaign("a", 2_000_000, (300, 250)), campaign("b", 1_000_000, (300, 250))
    ).request_bids(request(imps=imps), 0.05)
    assert answer is not None
    ids = [b.id for sb in answer.seatbid for b in sb.bid]
    assert len(ids) == len(set(ids)) == 2 * imps


def pmp_imp(private: int, *deals: dict[str, Any]) -> dict[str, Any]:
    return banner_imp(pmp={"private_auction": private, "deals": list(deals)})


async def test_deal_campaigns_bid_with_the_deal_id_against_the_deal_floor() -> None:
    deal_buyer = campaign("a", 2_000_000, (300, 250), deal_ids=frozenset({"d1"}))
    open_buyer = campaign("b", 1_000_000, (300, 250))
    answer = await router(deal_buyer, open_buyer).request_bids(
        request(imp=[pmp_imp(0, {"id": "d1", "bidfloor": 1.5})]), 0.05
    )
    assert answer is not None
    deals = {b.cid: b.dealid for sb in answer.seatbid for b in sb.bid}
    assert deals == {"a": "d1", "b": None}
    floored = await router(deal_buyer).request_bids(
        request(imp=[pmp_imp(0, {"id": "d1", "bidfloor": 2.5})]), 0.05
    )
    assert floored is None


async def test_private_auctions_get_only_deal_bids_from_admitted_seats() -> None:
    deal_buyer = campaign("a", 2_000_000, (300, 250), deal_ids=frozenset({"d1"}))
    open_buyer = campaign("b", 3_000_000, (300, 250))
    private = request(imp=[pmp_imp(1, {"id": "d1", "bidfloor": 1.0})])
    answer = await router(deal_buyer, open_buyer).request_bids(private, 0.05)
    assert answer is not None
    assert [b.cid for sb in answer.seatbid for b in sb.bid] == ["a"]
    other_seat = request(imp=[pmp_imp(1, {"id": "d1", "bidfloor": 1.0, "wseat": ["zz"]})])
    assert await router(deal_buyer, open_buyer).request_bids(other_seat, 0.05) is None


async def test_holds_fill_the_budget_and_lost_bids_give_them_back() -> None:
    # 2.00 CPM holds 2_000 micros per bid; a 5_000 budget takes two bids at a time.
    spend = RecordingLedger()
    tight = router(campaign("a", 2_000_000, (300, 250), budget=5_000), spend=spend)
    answers = [await tight.request_bids(request(id=f"r{i}"), 0.05) for i in range(3)]
    assert [a is not None for a in answers] == [True, True, False]
    first = answers[0]
    assert first is not None
    await tight.release_lost("r0", first.seatbid[0].bid)
    assert await tight.request_bids(request(id="r3"), 0.05) is not None


def configured_router(**campaign_fields: Any) -> CampaignRouter:
    from exchange.bidders.config import parse_bidders

    entry: dict[str, Any] = {
        "id": "t1",
        "advertiser": "T",
        "seat": "t",
        "bid_cpm": "2.00",
        "daily_budget": "100",
        "creatives": [{"id": "c", "w": 300, "h": 250, "adm": "<img>", "adomain": ["t.example"]}],
        **campaign_fields,
    }
    config = parse_bidders(
        orjson.dumps({"routers": [{"name": "house", "campaigns": [entry]}]}), "t"
    )
    return CampaignRouter(config.routers[0], RecordingLedger(), "USD", clock=lambda: NOW)


async def test_targeting_is_honoured() -> None:
    usa_only = configured_router(targeting={"country": {"allow": ["USA"]}})
    assert await usa_only.request_bids(request(), 0.05) is not None  # the builder's user is in USA
    elsewhere = banner_request()
    elsewhere["device"]["geo"]["country"] = "GBR"
    assert await usa_only.request_bids(BidRequest.model_validate(elsewhere), 0.05) is None


async def test_an_ended_flight_does_not_bid() -> None:
    ended = configured_router(flight={"start": "2020-01-01", "end": "2020-01-31"})
    assert await ended.request_bids(request(), 0.05) is None


def test_a_campaign_in_another_currency_is_refused() -> None:
    with pytest.raises(ConfigError, match="currency JPY differs"):
        configured_router(currency="JPY")


async def test_a_campaign_at_its_frequency_cap_does_not_bid_to_that_user() -> None:
    capped = configured_router(frequency_cap=[{"count": 2, "per": "day"}])
    ledger = capped._budget
    assert isinstance(ledger, SpendLedger)
    user = PROCESS_USER_KEYS.of(request())
    assert user is not None
    for shown in range(2):
        answer = await capped.request_bids(request(id=f"r{shown}"), 0.05)
        assert answer is not None
        assert answer.seatbid is not None
        bid = answer.seatbid[0].bid[0]
        await ledger.settle(  # the impression's first notice counts it against the cap
            ("t1", "UTC"),
            budget_micros=100_000_000,
            impression_id=f"r{shown}:{bid.impid}:{bid.id}",
            cost_micros=2_000,
            bid_time_s=NOW,
            marker_ttl_s=60,
            caps=[(2, "day")],
            user=user,
        )
    assert await capped.request_bids(request(id="r9"), 0.05) is None
    other_user = banner_request(id="r10")
    other_user["user"]["id"] = "someone-else"
    assert await capped.request_bids(BidRequest.model_validate(other_user), 0.05) is not None


async def test_a_capped_campaign_does_not_bid_to_an_unidentified_user() -> None:
    capped = configured_router(frequency_cap=[{"count": 5, "per": "hour"}])
    anonymous = banner_request()
    del anonymous["user"]
    del anonymous["device"]
    assert await capped.request_bids(BidRequest.model_validate(anonymous), 0.05) is None
