"""Billing notices and clicks feed the creatives' Thompson-sampling counts: once per shown
impression and once per click, only for in-process campaigns' billable impressions; replays
count nothing, and a counting failure never fails the notice or the redirect."""

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import redis
from fastapi import FastAPI

from app.main import create_app
from app.services import Services
from bidding.creative_stats import StoreCreativeStats
from bidding.exploration import Counts, MemoryCreativeStats
from budget.keys import KeySpace
from budget.memory import MemoryStore
from budget.store import StoreUnavailable
from exchange.notice_token import NoticeKind
from exchange.notices import NoticeResult, NoticeService
from exchange.settings import Settings
from tests.builders import banner_request, click_tracked_settings
from tests.exchange import notice_setup
from tests.exchange.notice_setup import CAMPAIGN, CREATIVE, claim
from tests.servers import serve


class BrokenRecorder:
    """A recorder whose store is down."""

    async def record_impression(self, campaign_id: str, creative_id: str) -> None:
        raise StoreUnavailable("down")

    async def record_click(self, campaign_id: str, creative_id: str) -> None:
        raise StoreUnavailable("down")


def notice_service(
    engagement: MemoryCreativeStats | BrokenRecorder,
) -> AbstractAsyncContextManager[NoticeService]:
    return notice_setup.notice_service(MemoryStore(), KeySpace("t:"), engagement=engagement)


async def test_the_first_billing_notice_counts_the_impression_once() -> None:
    stats = MemoryCreativeStats()
    async with notice_service(stats) as notices:
        win = claim(NoticeKind.WIN, "a1")
        assert (await notices.handle(win)).result is NoticeResult.RECORDED
        assert stats.snapshot([(CAMPAIGN, CREATIVE)]) == [Counts()]  # a win is not a showing
        billing = claim(NoticeKind.BILLING, "a1")
        for _ in range(3):
            await notices.handle(billing)
        assert stats.snapshot([(CAMPAIGN, CREATIVE)]) == [Counts(1, 0)]
        await notices.handle(claim(NoticeKind.BILLING, "a2"))
        assert stats.snapshot([(CAMPAIGN, CREATIVE)]) == [Counts(2, 0)]


@pytest.mark.parametrize(
    "changes",
    [
        {"billable": False},  # a test auction
        {"bidder": "some-dsp", "campaign_id": "theirs"},  # an external DSP's bid
        {"ad_id": ""},
    ],
)
async def test_only_billable_in_process_impressions_are_counted(changes: dict[str, Any]) -> None:
    stats = MemoryCreativeStats()
    async with notice_service(stats) as notices:
        outcome = await notices.handle(claim(NoticeKind.BILLING, "a1", **changes))
        assert outcome.result is NoticeResult.RECORDED
    assert stats.snapshot([(changes.get("campaign_id", CAMPAIGN), CREATIVE)]) == [Counts()]


async def test_a_store_failure_loses_the_count_not_the_notice() -> None:
    async with notice_service(BrokenRecorder()) as notices:
        outcome = await notices.handle(claim(NoticeKind.BILLING, "a1"))
        assert outcome.result is NoticeResult.RECORDED
        assert outcome.charged_micros == 2000


# --- clicks, through the real route and the app's own counter store (Redis) --------------

LANDING = "https://shop.example/landing"


def counting_app(settings: Settings) -> FastAPI:
    """The exchange with creative counts wired into its Services (as the lifespan will)."""
    app = create_app(settings)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[dict[str, Services]]:
        async with inner(a) as state:
            services: Services = state["services"]
            stats = StoreCreativeStats(services.store, KeySpace(settings.key_prefix))
            yield {"services": replace(services, engagement=stats)}

    app.router.lifespan_context = lifespan
    return app


@pytest.fixture
def client(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[httpx.Client]:
    settings = click_tracked_settings(tmp_path, LANDING, redis_url, key_prefix)
    with serve(counting_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as http:
        yield http


def click_path(client: httpx.Client, **request: Any) -> str:
    answer = client.post("/openrtb2/auction", content=orjson.dumps(banner_request(**request)))
    href: str = answer.json()["seatbid"][0]["bid"][0]["adm"].split('href="')[1].split('"')[0]
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


def clicks_counted(redis_url: str, prefix: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}creative:{{c:clicky}}:cr:click:*"))
        return sum(int(client.get(key) or 0) for key in keys)
    finally:
        client.close()


def test_a_click_is_counted_once_and_test_auctions_not_at_all(
    client: httpx.Client, redis_url: str, key_prefix: str
) -> None:
    path = click_path(client)
    for _ in range(3):
        assert client.get(path).status_code == 302
    assert clicks_counted(redis_url, key_prefix) == 1
    assert client.get(click_path(client)).status_code == 302
    assert clicks_counted(redis_url, key_prefix) == 2
    assert client.get(click_path(client, test=1)).status_code == 302
    assert clicks_counted(redis_url, key_prefix) == 2
