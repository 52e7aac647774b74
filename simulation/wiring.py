"""One simulated exchange process, wired as ``app.lifespan`` wires a real one.

Differences, each on purpose: every component reads the virtual clock; the routers get a
seeded random generator; bidder deadlines are generous (the machine's real speed is not what
is measured); the campaigns have no DSP notice URLs, so nothing is forwarded.
"""

import uuid
from dataclasses import dataclass

import httpx
import numpy as np
from redis.asyncio import Redis

from app.bidders.base import Bidder
from app.bidders.registry import BidderRegistry
from app.events import StreamEventSink
from app.exchange import Exchange, ExchangeConfig
from app.forwarder import NoticeForwarder
from app.metrics import Metrics
from app.notice_token import NoticeSigner
from app.notices import NoticeService
from auction.currency import CurrencyRates
from auction.types import AuctionRules
from bidding.campaigns import RouterSpec
from bidding.router import CampaignRouter, PacingAdvice
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.memory import MemoryStore
from budget.pacing import StorePacer
from budget.redis_store import RedisStore
from budget.store import CounterStore
from budget.stream import EventStream, MemoryEventStream, RedisEventStream
from simulation.config import SimConfig

INCREMENT_MICROS = 10_000
_SECRET = b"simulation-notice-secret-0123456789"
_EVENTS_KEPT = 200_000


class VirtualClock:
    """The simulated time, moved by the loop; every component reads it."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@dataclass(slots=True)
class Shared:
    """What all simulated processes share: the store, its key prefix, the event stream."""

    store: CounterStore
    keys: KeySpace
    stream: EventStream
    redis_url: str | None

    @classmethod
    def open(cls, config: SimConfig, clock: VirtualClock) -> "Shared":
        """In memory (on the virtual clock), or on Redis under a prefix of this run's own."""
        keys = KeySpace(f"rtb-sim:{uuid.uuid4().hex[:8]}:")
        if config.redis_url is None:
            return cls(MemoryStore(clock=clock), keys, MemoryEventStream(_EVENTS_KEPT), None)
        store = RedisStore.from_url(config.redis_url, timeout_s=1.0)
        stream = RedisEventStream.from_url(config.redis_url, f"{keys.prefix}events", _EVENTS_KEPT)
        return cls(store, keys, stream, config.redis_url)

    async def aclose(self) -> None:
        """Close connections; on Redis, delete the run's keys (else they expire in days)."""
        await self.store.aclose()
        if isinstance(self.stream, RedisEventStream):
            await self.stream.aclose()
        if self.redis_url is None:
            return
        client = Redis.from_url(self.redis_url)
        try:
            found = [key async for key in client.scan_iter(match=f"{self.keys.prefix}*")]
            for i in range(0, len(found), 1000):
                await client.delete(*found[i : i + 1000])
        finally:
            await client.aclose()


@dataclass(slots=True)
class SimProcess:
    """One simulated exchange process."""

    router: CampaignRouter
    pacer: StorePacer[PacingAdvice]
    exchange: Exchange
    notices: NoticeService
    events: StreamEventSink
    forwarder: NoticeForwarder
    client: httpx.AsyncClient
    metrics: Metrics

    async def aclose(self) -> int:
        """Finish background work; the number of events this process wrote."""
        await self.exchange.drain()
        await self.events.aclose()
        await self.forwarder.aclose()
        await self.client.aclose()
        written = self.metrics.registry.get_sample_value("rtb_events_written_total")
        return int(written or 0)


def exchange_config() -> ExchangeConfig:
    """Second price in USD with a one-cent increment, no floor rules beyond the imps'."""
    return ExchangeConfig(
        rates=CurrencyRates("USD", {}),
        rules=AuctionRules(increment_micros=INCREMENT_MICROS),
        floor_rules=(),
        page_auction_default=False,
        default_tmax_ms=100,
        bidder_timeout_ms=1000,
        response_reserve_ms=5,
        notice_ttl_s=3600,
        tiebreak_secret=b"simulation-tie-break",
        quality_ppm={},
    )


def shared_pacer(
    spec: RouterSpec, shared: Shared, clock: VirtualClock, config: SimConfig
) -> StorePacer[PacingAdvice]:
    """A process's pacer of ``spec``'s campaigns over the shared store (yesterday's counting
    pass and today's processes pace, or count, through the same kind)."""
    return StorePacer(
        spec.campaigns,
        shared.store,
        shared.keys,
        advice=PacingAdvice,
        config=config.pacing_config(),
        clock=clock,
    )


def build_process(
    spec: RouterSpec,
    shared: Shared,
    clock: VirtualClock,
    market: Bidder,
    config: SimConfig,
    rng: np.random.Generator,
) -> SimProcess:
    """Router (with its pacer), exchange, notice service and event sink of one process."""
    metrics = Metrics()
    ledger = SpendLedger(shared.store, shared.keys, clock=clock)
    pacer = shared_pacer(spec, shared, clock, config)
    router = CampaignRouter(
        spec,
        ledger,
        "USD",
        clock=clock,
        pacer=None if config.pacing == "off" else pacer,
        rng=rng,
    )
    bidders: dict[str, Bidder] = {router.name: router, market.name: market}
    registry = BidderRegistry(
        bidders=bidders,
        campaigns={(router.name, c.id): c for c in spec.campaigns},
        in_process=frozenset({router.name}),
    )
    signer = NoticeSigner(_SECRET)
    events = StreamEventSink(shared.stream, metrics)
    client = httpx.AsyncClient()
    forwarder = NoticeForwarder(client, metrics, concurrency=1, queue_size=16, retries=0)
    notices = NoticeService(
        signer=signer,
        store=shared.store,
        keys=shared.keys,
        ledger=ledger,
        registry=registry,
        forwarder=forwarder,
        events=events,
        metrics=metrics,
        clock=clock,
    )
    exchange = Exchange(bidders, signer, exchange_config(), metrics, clock=clock)
    return SimProcess(router, pacer, exchange, notices, events, forwarder, client, metrics)
