"""One exchange process on the in-memory store (``make run``) holds what is alive, not every
auction it has answered: its notice markers last as long as their tokens, then go; the event
ring keeps its bound; no answered request stays referenced. Fake clocks move the time (the
wall clock of tokens and budgets, the store's monotonic clock, by the same steps)."""

import asyncio
import gc
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from bench.payloads import banner_request
from budget.memory import MemoryStore
from budget.stream import MemoryEventStream
from exchange.notice_token import NoticeKind
from exchange.notices import NoticeResult
from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, start_services, stop_services
from openrtb.codec import decode_request
from openrtb.request import BidRequest

AUCTIONS = 400
RING = 200
START_S = datetime(2026, 12, 2, 14, 30, tzinfo=UTC).timestamp()
"""A Wednesday afternoon: the demo campaigns' dayparting admits the request."""


@dataclass
class Clocks:
    """The wall clock and the store's monotonic clock, moved together."""

    wall: float = START_S
    monotonic: float = 1_000.0

    def move(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds


@dataclass
class Process:
    services: Services
    store: MemoryStore
    ring: MemoryEventStream
    clocks: Clocks


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[Process]:
    clocks = Clocks()
    store = MemoryStore(lambda: clocks.monotonic)
    ring = MemoryEventStream(max_len=RING)
    settings = Settings(store="memory", state_dir=tmp_path, auction_log_sample_rate=0.0)
    parts = Injected(clock=lambda: clocks.wall, store=store, stream=ring, pacing=False)
    services = build_services(settings, parts)
    background = await start_services(services, announce=False)
    try:
        yield Process(services, store, ring, clocks)
    finally:
        await stop_services(services, background)


async def _auction(process: Process, number: int) -> tuple[weakref.ref[object], list[str]]:
    """One auction; a weak reference to its request and its winners' notice URLs."""
    body = orjson.dumps({**banner_request(), "id": f"req-{number}"})
    request = decode_request(body)
    result = await process.services.exchange.auction(
        request, received_at=time.monotonic(), notice_base_url="http://exchange.test"
    )
    urls = []
    if result.response is not None:
        for seatbid in result.response.seatbid or ():
            for bid in seatbid.bid:
                urls += [url for url in (bid.nurl, bid.burl) if url]
    return weakref.ref(request), urls


def _requests_alive() -> int:
    """Bid requests in memory: those decoded here and the views the bidders were sent."""
    return sum(1 for o in gc.get_objects() if isinstance(o, BidRequest))


async def _notice(process: Process, url: str) -> NoticeResult:
    parts = urlsplit(url)
    kind = NoticeKind.WIN if parts.path.endswith("/win") else NoticeKind.BILLING
    notices = process.services.notices
    claim = notices.verify(kind, parse_qs(parts.query)["t"][0])
    return (await notices.handle(claim)).result


async def test_a_process_forgets_its_auctions_once_their_notices_expire(process: Process) -> None:
    store, clocks = process.store, process.clocks
    warm_refs, warm_urls = await _auction(process, 0)  # the campaigns' counters exist now
    for url in warm_urls:
        assert await _notice(process, url) is NoticeResult.RECORDED
    warm = store.size
    gc.collect()
    before = _requests_alive()
    requests, replays = [warm_refs], []
    for number in range(1, AUCTIONS + 1):
        ref, urls = await _auction(process, number)
        requests.append(ref)
        for url in urls:
            assert await _notice(process, url) is NoticeResult.RECORDED
        replays += urls[:1]
        clocks.move(0.05)
        await asyncio.sleep(0)  # as HTTP would: the event sink's task writes its batches
    assert len(replays) >= AUCTIONS // 2, "the demo campaigns must win most of these auctions"
    assert store.size >= warm + 2 * len(replays)  # a charge and a notice marker each, at least
    assert len(process.ring) == RING  # the last RING of the many (batches of 500) written
    assert process.ring.dropped == 0  # no group reads it: nothing counts as lost
    gc.collect()
    assert [ref for ref in requests if ref() is not None] == []
    assert _requests_alive() <= before  # nor any bidder's view of one (the routers' caches)

    # A notice token is valid for notice_ttl_s: until then a replay is refused, not charged.
    clocks.move(process.services.settings.notice_ttl_s - AUCTIONS * 0.05 - 5)
    assert await _notice(process, replays[0]) is NoticeResult.DUPLICATE

    # Past every token's expiry (and the markers' margin) only the campaigns' state is left.
    clocks.move(2 * 3600)
    store.sweep()
    assert store.size <= warm
