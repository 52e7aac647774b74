"""One simulated exchange process, built by the composition root a served one is built by
(``exchange.wiring.build_services``).

What it injects, each on purpose: every component reads the virtual clock; all processes
share one store and one event stream; the routers and the log sampler are seeded, and so
are auction ids; the outside market is one more bidder; bidder deadlines are generous (the
machine's real speed is not what is measured); the traffic screen is off (the simulated
traffic has no devices to screen) and the routers bid on historical rates, without models
(unless a canary is rolled out: then the shipped models are its control) or creative
counts; the campaigns have no DSP notice URLs, so nothing is forwarded.
"""

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from redis.asyncio import Redis

from bidding.campaigns import RouterSpec
from bidding.router import CampaignRouter
from bidding.strategy import PacingAdvice, advice_at
from budget.keys import KeySpace
from budget.memory import MemoryStore
from budget.pacing import StorePacer
from budget.redis_store import RedisStore
from budget.store import CounterStore
from budget.stream import EventStream, MemoryEventStream, RedisEventStream
from exchange.bidders.base import Bidder
from exchange.core import Exchange
from exchange.events import StreamEventSink
from exchange.ids import seeded_auction_ids
from exchange.notices import NoticeService
from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, exchange_config, stop_services
from simulation.config import SimConfig

INCREMENT_MICROS = 10_000
_SECRET = "simulation-notice-secret-0123456789"
_BIDDER_TIMEOUT_MS = 1000
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
    """One simulated exchange process: its services and its one router."""

    services: Services
    router: CampaignRouter

    @property
    def exchange(self) -> Exchange:
        return self.services.exchange

    @property
    def notices(self) -> NoticeService:
        return self.services.notices

    @property
    def events(self) -> StreamEventSink:
        return self.services.events

    @property
    def pacer(self) -> StorePacer[PacingAdvice]:
        pacer = self.services.pacer
        assert pacer is not None  # build_services always builds one
        return pacer

    async def aclose(self) -> int:
        """Finish background work; the number of events this process wrote."""
        await stop_services(self.services, ())
        written = self.services.metrics.registry.get_sample_value("rtb_events_written_total")
        return int(written or 0)


def sim_settings(config: SimConfig) -> Settings:
    """The settings every simulated process shares: USD, a one-cent increment, one notice
    secret (a notice may come back through any process), no traffic screen, no log lines."""
    redis = config.redis_url is not None
    return Settings(
        store="redis" if redis else "memory",
        redis_url=config.redis_url or "redis://127.0.0.1:6379/0",
        ledger_init="auto",
        notice_secret=_SECRET,
        notice_ttl_s=3600,
        currency="USD",
        currency_rates={},
        increment_cpm=Decimal(INCREMENT_MICROS) / 1_000_000,
        floor_rules=[],
        auction_log_sample_rate=0.0,
        model_reload_s=0,
        ivt_crawler="off",
        ivt_datacenter="off",
        ivt_device="off",
        ivt_seller="off",
        ivt_schain="off",
        ivt_rate="off",
        blocked_adomains=[],
        blocked_categories=[],
        brand_safety_file=None,
    )


def shared_pacer(
    spec: RouterSpec, shared: Shared, clock: VirtualClock, config: SimConfig
) -> StorePacer[PacingAdvice]:
    """A pacer of ``spec``'s campaigns over the shared store, as each process's (yesterday's
    counting pass counts the traffic through the same kind)."""
    return StorePacer(
        spec.campaigns,
        shared.store,
        shared.keys,
        advice=advice_at,
        config=config.pacing_config(),
        clock=clock,
    )


def build_process(
    spec: RouterSpec,
    shared: Shared,
    clock: VirtualClock,
    market: Bidder,
    config: SimConfig,
    seed: int,
) -> SimProcess:
    """One process's services over the shared store: its router, the market, the exchange,
    the notice service and the event sink."""
    settings = sim_settings(config).model_copy(update={"key_prefix": shared.keys.prefix})
    base = exchange_config(settings)
    parts = Injected(
        clock=clock,
        store=shared.store,
        stream=shared.stream,
        routers=[spec],
        bidders=[market],
        models=config.canary is not None,
        canary=config.canary,
        creative_counts=False,
        pacing=config.pacing != "off",
        pacing_config=config.pacing_config(),
        config=replace(base, bidder_timeout_ms=_BIDDER_TIMEOUT_MS),
        ids=seeded_auction_ids(seed),
        seed=seed,
    )
    services = build_services(settings, parts)
    router = services.registry.bidders[spec.name]
    assert isinstance(router, CampaignRouter)
    return SimProcess(services, router)
