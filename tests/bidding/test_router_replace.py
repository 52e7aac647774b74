"""An operator's change to a running router: swapped whole, never half-seen by a request."""

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest

from bidding.router import CampaignRouter
from budget.days import campaign_day
from budget.keys import KeySpace
from budget.ledger import HoldRequest
from tests.bidding.test_router import NOW, RecordingLedger, campaign, request, router


class GatedLedger(RecordingLedger):
    """Holds wait for the test to open the gate: a request stays in flight meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    async def reserve(self, holds: Sequence[HoldRequest], ttl_s: float) -> list[bool]:
        self.waiting.set()
        await self.gate.wait()
        return await super().reserve(holds, ttl_s)


async def prices(house: CampaignRouter, request_id: str) -> dict[str, int]:
    """What each campaign offers on a request of its own (its own holds)."""
    offers = await house.offers(request(id=request_id), 0.05)
    return {o.cid or "": o.price_micros for o in offers}


async def test_a_request_in_flight_finishes_on_the_campaigns_it_started_with() -> None:
    ledger = GatedLedger()
    a = campaign("a", 2_000_000, (300, 250))
    house = router(a, spend=ledger)
    in_flight = asyncio.create_task(house.offers(request(), 5.0))
    await ledger.waiting.wait()
    house.replace_campaigns((replace(a, bid_cpm_micros=3_000_000),))
    ledger.gate.set()
    (offer,) = await in_flight
    assert (offer.price_micros, offer.template.price) == (2_000_000, 2.0)
    assert await prices(house, "next") == {"a": 3_000_000}


async def test_a_paused_campaign_does_not_bid_but_gives_its_holds_back() -> None:
    ledger = RecordingLedger()
    a, b = campaign("a", 2_000_000, (300, 250)), campaign("b", 1_000_000, (300, 250))
    house = router(a, b, spend=ledger)
    offers = await house.offers(request(), 0.05)
    assert {o.cid for o in offers} == {"a", "b"}
    house.replace_campaigns(house.campaigns, paused=frozenset({"a"}))
    assert house.paused == {"a"}
    assert await prices(house, "paused") == {"b": 1_000_000}
    assert house.explain(request())["1"]["a"] == "paused"
    await house.release_lost(request().id, offers)  # the paused one's hold comes back too
    day = campaign_day(NOW, "UTC")
    keys = KeySpace("t:")  # RecordingLedger's
    held = await ledger.store.read_many([keys.account(cid, day).held for cid in ("a", "b")])
    assert held == [0, 1_000]  # a's back; b still holds for the request made while a was paused
    house.replace_campaigns(house.campaigns)
    assert set(await prices(house, "resumed")) == {"a", "b"}


def test_a_replacement_keeps_the_routers_campaigns() -> None:
    a, b = campaign("a", 2_000_000, (300, 250)), campaign("b", 1_000_000, (300, 250))
    house = router(a, b)
    with pytest.raises(ValueError, match="keeps the router's campaigns"):
        house.replace_campaigns((b, a))
    with pytest.raises(ValueError, match="keeps the router's campaigns"):
        house.replace_campaigns((a,))
    with pytest.raises(ValueError, match="unknown campaigns"):
        house.replace_campaigns((a, b), paused=frozenset({"c"}))
    assert house.campaigns == (a, b)
    assert house.paused == frozenset()
