"""Admin changes reach every process sharing the counter store: two processes' Services
(``build_services``) on one store, in memory and in a real Redis; a change taken by A is
applied by B at its next poll (``sync_overrides``, called here directly) or at its start."""

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from budget.keys import KeySpace
from budget.redis_store import RedisStore
from budget.store import CounterStore, StoreUnavailable
from budget.stream import MemoryEventStream
from exchange.admin import (
    BIDDER_ENTRY,
    CAMPAIGN_ENTRY,
    Admin,
    BidderChange,
    CampaignChange,
    InvalidChange,
    sync_overrides,
)
from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, start_services, stop_services
from tests.builders import fixed_and_valued_router, write_bidders_file
from tests.servers import free_port

Process = Callable[[], AbstractAsyncContextManager[Services]]


def _bidders_file(directory: Path) -> Path:
    """A fixed-price campaign and a value-based (ROI) one, in one router."""
    return write_bidders_file(directory, [fixed_and_valued_router()])


def _settings(tmp_path: Path, key_prefix: str) -> Settings:
    return Settings(
        store="memory",  # the ledger starts itself; the store is the injected one
        key_prefix=key_prefix,
        bidders_file=_bidders_file(tmp_path),
        currency_rates_refresh_s=0,
        model_reload_s=0,
        auction_log_sample_rate=0.0,
    )


def _process(
    store: CounterStore, settings: Settings, ring: MemoryEventStream | None = None
) -> Process:
    """A process on the shared store: its Services started (the start-up sync among it)."""

    @asynccontextmanager
    async def run() -> AsyncIterator[Services]:
        stream = ring if ring is not None else MemoryEventStream()
        services = build_services(settings, Injected(store=store, stream=stream))
        background = await start_services(services, announce=False)
        try:
            yield services
        finally:
            await stop_services(services, background)

    return run


@pytest.fixture
def process(store: CounterStore, tmp_path: Path, key_prefix: str) -> Process:
    return _process(store, _settings(tmp_path, key_prefix))


def _campaign(services: Services, campaign_id: str) -> dict[str, Any]:
    return Admin(services).campaign(campaign_id).model_dump()


async def _kinds(ring: MemoryEventStream) -> list[str]:
    return [str(event["kind"]) for _, event in await ring.read("test", "test", 1_000)]


async def test_a_change_taken_by_one_process_is_applied_by_another_at_its_poll(
    process: Process,
) -> None:
    async with process() as a, process() as b:
        change = CampaignChange(daily_budget=Decimal("30.5"), bid_cpm=Decimal("1.25"))
        view = await Admin(a).change_campaign("fixed", change)
        assert (view.daily_budget_micros, view.bid_cpm_micros) == (30_500_000, 1_250_000)
        assert _campaign(b, "fixed")["daily_budget_micros"] == 100_000_000  # not polled yet
        assert await sync_overrides(b) == 1
        seen = _campaign(b, "fixed")
        assert (seen["daily_budget_micros"], seen["bid_cpm_micros"]) == (30_500_000, 1_250_000)
        # B charges and paces with the new budget too, not only its router.
        assert b.registry.campaigns[("house", "fixed")].daily_budget_micros == 30_500_000
        assert await sync_overrides(b) == 0  # nothing newer: applied once
        assert await sync_overrides(a) == 0  # A's own change is applied already


async def test_pause_goal_targets_and_bidders_reach_the_other_process(process: Process) -> None:
    async with process() as a, process() as b:
        await Admin(a).change_campaign(
            "valued",
            CampaignChange(
                enabled=False,
                conversion_value=Decimal("80"),
                target_roi=Decimal("5"),
                max_bid=Decimal("4.5"),
            ),
        )
        await Admin(a).change_bidder("house", BidderChange(enabled=False))
        assert await sync_overrides(b) == 2
        assert _campaign(b, "valued") == _campaign(a, "valued")
        valued = _campaign(b, "valued")
        assert valued["enabled"] is False
        assert valued["goal"]["conversion_value"] == "80.00"
        assert valued["goal"]["target_roi"] == "5"
        assert valued["max_bid"] == "4.50"
        assert "house" in b.exchange.disabled


async def test_the_event_is_emitted_only_by_the_process_that_took_the_call(
    store: CounterStore, tmp_path: Path, key_prefix: str
) -> None:
    settings = _settings(tmp_path, key_prefix)
    ring_a, ring_b = MemoryEventStream(), MemoryEventStream()
    async with _process(store, settings, ring_a)() as a, _process(store, settings, ring_b)() as b:
        await Admin(a).change_campaign("fixed", CampaignChange(enabled=False))
        assert await sync_overrides(b) == 1
        assert _campaign(b, "fixed")["enabled"] is False
    # Stopped: each sink has written what it was given.
    assert "admin_campaign_changed" in await _kinds(ring_a)
    assert "admin_campaign_changed" not in await _kinds(ring_b)


async def test_a_process_that_starts_later_applies_the_overrides_before_traffic(
    process: Process,
) -> None:
    async with process() as a:
        await Admin(a).change_campaign("fixed", CampaignChange(daily_budget=Decimal("12")))
        await Admin(a).change_bidder("house", BidderChange(enabled=False))
    async with process() as restarted:  # no poll called: the start-up applied them
        assert _campaign(restarted, "fixed")["daily_budget_micros"] == 12_000_000
        assert "house" in restarted.exchange.disabled


async def test_a_refused_change_writes_nothing(
    process: Process, store: CounterStore, key_prefix: str
) -> None:
    async with process() as a, process() as b:
        with pytest.raises(InvalidChange):
            await Admin(a).change_campaign("fixed", CampaignChange(target_cpc=Decimal("1")))
        with pytest.raises(InvalidChange):
            await Admin(a).change_campaign("fixed", CampaignChange(bid_cpm=Decimal("999999")))
        assert await store.read_record(KeySpace(key_prefix).overrides) == {}
        assert await sync_overrides(b) == 0
        assert _campaign(a, "fixed")["bid_cpm_micros"] == 2_400_000


async def test_the_newer_version_wins(
    process: Process, store: CounterStore, key_prefix: str
) -> None:
    key = KeySpace(key_prefix).overrides
    async with process() as a, process() as b:
        await Admin(a).change_campaign("fixed", CampaignChange(daily_budget=Decimal("20")))
        await Admin(b).change_campaign("fixed", CampaignChange(daily_budget=Decimal("40")))
        assert await sync_overrides(a) == 1  # B's later write
        assert _campaign(a, "fixed")["daily_budget_micros"] == 40_000_000
        assert await sync_overrides(b) == 0
        # An entry older than what a process applied (written around the counter) is not
        # applied: the version, not the order of reading, decides.
        stale = dict(_money_of(a, "fixed"), daily_budget_micros=1_000_000)
        record = await store.read_record(key)
        newest = json.loads(record[CAMPAIGN_ENTRY + "fixed"])[0]
        assert Admin(a).apply_campaign("fixed", newest - 1, stale) is False
        assert _campaign(a, "fixed")["daily_budget_micros"] == 40_000_000
        assert Admin(a).apply_bidder("house", 0, False) is False
        assert "house" not in a.exchange.disabled


def _money_of(services: Services, campaign_id: str) -> dict[str, Any]:
    view = _campaign(services, campaign_id)
    return {
        "enabled": view["enabled"],
        "daily_budget_micros": view["daily_budget_micros"],
        "bid_cpm_micros": view["bid_cpm_micros"],
    }


async def test_an_override_that_no_longer_fits_is_skipped(
    process: Process, store: CounterStore, key_prefix: str
) -> None:
    key = KeySpace(key_prefix).overrides
    await store.put_versioned(key, CAMPAIGN_ENTRY + "gone", '{"enabled": false}')
    await store.put_versioned(key, BIDDER_ENTRY + "gone", '{"enabled": false}')
    await store.put_versioned(key, CAMPAIGN_ENTRY + "fixed", '{"target_cpc_micros": 1}')
    async with process() as b:
        assert _campaign(b, "fixed")["daily_budget_micros"] == 100_000_000
        assert await sync_overrides(b) == 0


async def test_the_store_down_refuses_the_change_and_changes_nothing(
    tmp_path: Path, key_prefix: str
) -> None:
    dead = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    try:
        async with _process(dead, _settings(tmp_path, key_prefix))() as a:
            before = _campaign(a, "fixed")
            with pytest.raises(StoreUnavailable):
                await Admin(a).change_campaign("fixed", CampaignChange(daily_budget=Decimal("1")))
            with pytest.raises(StoreUnavailable):
                await Admin(a).change_bidder("house", BidderChange(enabled=False))
            assert _campaign(a, "fixed") == before
            assert "house" not in a.exchange.disabled
            with pytest.raises(StoreUnavailable):
                await sync_overrides(a)  # the poll keeps the last applied state
            assert _campaign(a, "fixed") == before
    finally:
        await dead.aclose()


async def test_a_dropped_override_sends_every_process_back_to_the_file(process: Process) -> None:
    async with process() as a, process() as b:
        await Admin(a).change_campaign(
            "valued", CampaignChange(enabled=False, target_roi=Decimal("5"), min_bid=Decimal("1"))
        )
        await Admin(a).change_bidder("house", BidderChange(enabled=False))
        await sync_overrides(b)
        assert _campaign(b, "valued")["enabled"] is False
        view = await Admin(b).drop_campaign_override("valued")  # through the other process
        assert (view.enabled, view.goal and view.goal.target_roi, view.min_bid) == (
            True,
            "4",
            "0.10",
        )
        assert (await Admin(b).drop_bidder_override("house")).enabled is True
        assert await sync_overrides(a) == 2
        for services in (a, b):
            valued = _campaign(services, "valued")
            assert (valued["enabled"], valued["goal"]["target_roi"]) == (True, "4")
            assert valued["daily_budget_micros"] == 50_000_000
            assert "house" not in services.exchange.disabled
    async with process() as restarted:
        assert _campaign(restarted, "valued")["min_bid"] == "0.10"
        assert "house" not in restarted.exchange.disabled


async def test_dropping_what_was_never_overridden_changes_nothing(process: Process) -> None:
    async with process() as a, process() as b:
        before = _campaign(a, "fixed")
        assert (await Admin(a).drop_campaign_override("fixed")).model_dump() == before
        assert await sync_overrides(b) == 1  # the version is taken; nothing to undo
        assert _campaign(b, "fixed") == before
