"""Startup and shutdown: open the store and the HTTP client, build the bidders, close it all.

Order on shutdown: stop forwarding (draining what is queued), then close the HTTP client,
then the store, so that nothing accepted is dropped silently.
"""

import asyncio
import gc
import hashlib
import hmac
import random
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import structlog
from fastapi import FastAPI

from app.bidders.config import ExternalBidderSpec, load_bidders
from app.bidders.h2_transport import h2_transport
from app.bidders.http import HttpBidderMetrics, build_http_bidders
from app.bidders.registry import build_registry
from app.bidders.transport import DspTransports, TransportOptions
from app.events import StreamEventSink
from app.exchange import Exchange, ExchangeConfig
from app.export import open_event_stream
from app.forwarder import NoticeForwarder
from app.metrics import Metrics
from app.model_reload import watch_models
from app.notice_spool import NoticeSpool, drain_forever
from app.notice_token import NoticeSigner
from app.notices import NoticeService
from app.services import Services
from app.settings import Settings
from auction.currency import CurrencyRates
from auction.floors import FloorRule
from auction.types import QUALITY_ONE, AuctionRules
from bidding.creative_stats import StoreCreativeStats
from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, ModelHolder
from bidding.router import PacingAdvice
from budget.breaker import BreakerState, CircuitBreaker
from budget.guarded import GuardedStore
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import LedgerState, LedgerWatch
from budget.memory import MemoryStore
from budget.pacing import StorePacer
from budget.redis_store import RedisStore
from budget.store import CounterStore, StoreUnavailable
from budget.stream import MemoryEventStream, RedisEventStream
from fraud.brand_safety import BrandSafety
from fraud.ip_ranges import DEFAULT_RANGES_FILE, IpRanges
from fraud.rates import RateLimits, RateWatch, WindowStore
from fraud.screen import Screen, ScreenConfig
from fraud.sellers import SellersDirectory
from fraud.user_agents import CrawlerList
from fraud.verdict import Action, Check
from openrtb.identity import UserKeys
from openrtb.money import cpm_to_micros
from openrtb.validate import RequestRules

log = structlog.get_logger("app.lifespan")

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


_LEDGER_VALUE = {LedgerState.READY: 0, LedgerState.UNINITIALISED: 1, LedgerState.LOST: 2}


def open_store(settings: Settings, metrics: Metrics) -> GuardedStore:
    """The counter store the settings ask for, behind its circuit breaker."""
    store: CounterStore
    if settings.store == "redis":
        store = RedisStore.from_url(
            settings.redis_url,
            timeout_s=settings.redis_timeout_s,
            max_connections=settings.redis_max_connections,
            cluster=settings.redis_cluster,
        )
    else:
        store = MemoryStore()

    def on_change(old: BreakerState, new: BreakerState) -> None:
        metrics.store_circuit.set(_BREAKER_VALUE[new])
        if new is BreakerState.OPEN:
            metrics.store_circuit_opened.inc()
        log.warning("store_circuit", old=old.value, new=new.value)

    def observe(operation: str, seconds: float, failed: bool) -> None:
        metrics.child(metrics.store_calls, operation).observe(seconds)
        if failed:
            metrics.child(metrics.store_failures, operation).inc()

    breaker = CircuitBreaker(
        settings.store_breaker_failures,
        settings.store_breaker_cooldown_s,
        time.monotonic,
        on_change,
        min_failing_s=settings.store_breaker_window_s,
    )
    return GuardedStore(store, breaker, observe=observe)


def _remembered_epoch(settings: Settings) -> Path | None:
    """Where this machine remembers the ledger epoch it last used with its Redis (none for
    the memory store, whose ledger dies with the process)."""
    if settings.store != "redis":
        return None
    store = hashlib.sha256(f"{settings.redis_url}|{settings.key_prefix}".encode()).hexdigest()
    return settings.state_dir / f"ledger-epoch-{store[:16]}"


def exchange_config(
    settings: Settings,
    dsps: Sequence[ExternalBidderSpec] = (),
    own_gvl_vendor_id: int | None = None,
) -> ExchangeConfig:
    """Settings (and the DSPs' quality scores, seats and vendor ids) in the exchange's units."""
    quality = {dsp.name: _ppm(dsp.quality) for dsp in dsps}
    quality.update({key: _ppm(score) for key, score in settings.quality.items()})
    return ExchangeConfig(
        rates=CurrencyRates(settings.currency, settings.currency_rates),
        rules=AuctionRules(
            increment_micros=cpm_to_micros(settings.increment_cpm),
            deal_priority=settings.deal_priority,
        ),
        floor_rules=tuple(
            FloorRule(
                floor_micros=cpm_to_micros(rule.floor_cpm),
                publisher_id=rule.publisher_id,
                media_type=rule.media_type,
                size=rule.size,
                country=rule.country,
            )
            for rule in settings.floor_rules
        ),
        page_auction_default=settings.page_auction,
        seller_domain=settings.seller_domain,
        default_tmax_ms=settings.default_tmax_ms,
        bidder_timeout_ms=settings.bidder_timeout_ms,
        response_reserve_ms=settings.response_reserve_ms,
        notice_ttl_s=settings.notice_ttl_s,
        tiebreak_secret=hmac.digest(settings.notice_key(), b"tie-break", "sha256"),
        quality_ppm=quality,
        bidder_seats={dsp.name: dsp.seats for dsp in dsps if dsp.seats},
        max_bid_micros=cpm_to_micros(settings.max_bid_cpm),
        gvl_vendor_ids={
            dsp.name: dsp.gvl_vendor_id for dsp in dsps if dsp.gvl_vendor_id is not None
        },
        own_gvl_vendor_id=own_gvl_vendor_id,
    )


def build_screen(
    settings: Settings, store: WindowStore | None = None
) -> tuple[Screen, RateWatch | None]:
    """The traffic screen the settings ask for, its lists loaded once (a bad file stops the
    start-up with the file named), and the rate watch to start (None when rates are off)."""
    actions = {
        Check.CRAWLER: Action(settings.ivt_crawler),
        Check.DATACENTER: Action(settings.ivt_datacenter),
        Check.DEVICE: Action(settings.ivt_device),
        Check.SELLER: Action(settings.ivt_seller),
        Check.SCHAIN: Action(settings.ivt_schain),
        Check.RATE: Action(settings.ivt_rate),
    }
    ranges_file = settings.ivt_datacenter_file or DEFAULT_RANGES_FILE
    sellers_file = settings.ivt_sellers_file
    try:
        crawlers = CrawlerList() if actions[Check.CRAWLER] is not Action.OFF else None
        ranges = IpRanges.load(ranges_file) if actions[Check.DATACENTER] is not Action.OFF else None
        sellers = SellersDirectory.load(sellers_file) if sellers_file is not None else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"traffic-quality list: {exc}") from exc
    limits = {
        kind: limit
        for kind, limit in (
            ("ip", settings.ivt_rate_per_ip),
            ("device", settings.ivt_rate_per_device),
        )
        if limit > 0
    }
    rates = None
    if actions[Check.RATE] is not Action.OFF and limits:
        rates = RateWatch(
            RateLimits(settings.ivt_rate_window_s, limits),
            hmac.digest(settings.notice_key(), b"ivt-subjects", "sha256"),
            prefix=settings.key_prefix,
            store=store,
        )
    config = ScreenConfig(
        actions, frozenset(node.lower() for node in settings.ivt_blocked_schain_nodes)
    )
    screen = Screen(config, crawlers=crawlers, ranges=ranges, sellers=sellers, rates=rates)
    log.info(
        "traffic_screen",
        actions=screen.actions,
        crawlerdetect=crawlers.version if crawlers else None,
        datacenter_ranges=ranges.size if ranges else None,
        sellers=len(sellers) if sellers else None,
    )
    return screen, rates


def build_brand_safety(settings: Settings) -> BrandSafety:
    """The exchange's and publishers' blocklists (a bad file stops the start-up)."""
    try:
        return BrandSafety.build(
            settings.blocked_adomains, settings.blocked_categories, settings.brand_safety_file
        )
    except (OSError, ValueError) as exc:
        raise ValueError(f"brand safety: {exc}") from exc


def _lean_h2(tls: ssl.SSLContext) -> httpx.AsyncBaseTransport:
    return h2_transport(verify=tls, connect_timeout=1.0)


def _ppm(score: float) -> int:
    return int(Decimal(str(score)) * QUALITY_ONE)


@asynccontextmanager
async def lifespan_for(settings: Settings, app: FastAPI) -> AsyncIterator[dict[str, Services]]:
    """Build the Services of one process and tear them down at shutdown."""
    metrics = Metrics()
    keys = KeySpace(settings.key_prefix)
    store = open_store(settings, metrics)
    ledger = SpendLedger(store, keys)
    bidders = load_bidders(settings.bidders_file)
    ledger_watch = LedgerWatch(
        store,
        keys,
        [c.id for r in bidders.routers for c in r.campaigns],
        auto_init=settings.store == "memory" or settings.ledger_init == "auto",
        on_change=lambda status: metrics.ledger_state.set(_LEDGER_VALUE[status.state]),
        remember=_remembered_epoch(settings),
    )
    metrics.ledger_state.set(_LEDGER_VALUE[ledger_watch.status.state])
    store.on_ledger_lost = ledger_watch.lost
    # External DSPs: one connection pool per DSP origin, one HttpBidder per `dsps` entry.
    dsp_transports = DspTransports(
        bidders.dsps,
        TransportOptions(
            ca_file=settings.dsp_ca_file, http1_connections=settings.dsp_http1_connections
        ),
        http2_engine=_lean_h2 if settings.dsp_http2_engine == "lean" else None,
    )
    external = build_http_bidders(
        bidders.dsps,
        dsp_transports.for_spec,
        metrics=HttpBidderMetrics(metrics.registry),
        failure_threshold=settings.dsp_breaker_failures,
        cooldown_s=settings.dsp_breaker_cooldown_s,
    )
    models = ModelHolder(settings.model_dir or DEFAULT_MODEL_DIR, FALLBACK_RATES)
    creative_stats = StoreCreativeStats(
        store,
        keys,
        pairs=[(c.id, k.id) for r in bidders.routers for c in r.campaigns for k in c.creatives],
    )
    # Pacing: every process steps the same shared controller state (budget.pacing).
    pacer = StorePacer(
        [c for r in bidders.routers for c in r.campaigns], store, keys, advice=PacingAdvice
    )
    user_keys = UserKeys(hmac.digest(settings.notice_key(), b"user-keys", "sha256"))
    registry = build_registry(
        bidders.routers,
        ledger,
        settings.currency,
        external=external,
        models=models,
        creative_stats=creative_stats,
        pacer=pacer,
        seed=settings.router_seed,
        user_keys=user_keys,
    )
    signer = NoticeSigner(settings.notice_key())
    screen, rates = build_screen(settings, store)
    spool = NoticeSpool(settings.state_dir / "spool", max_bytes=settings.spool_max_bytes)
    stream: RedisEventStream | None = None
    if settings.store == "redis":
        stream = open_event_stream(settings)
        events = StreamEventSink(stream, metrics)
    else:  # one process: an in-memory ring (nothing reads it across processes)
        ring = MemoryEventStream(max_len=settings.events_memory_max_len)
        metrics.count_ring_drops(lambda: ring.dropped)
        events = StreamEventSink(ring, metrics)
    client = httpx.AsyncClient(
        timeout=settings.forward_timeout_s,
        limits=httpx.Limits(max_connections=settings.forward_concurrency),
        follow_redirects=False,
    )
    forwarder = NoticeForwarder(
        client,
        metrics,
        concurrency=settings.forward_concurrency,
        queue_size=settings.forward_queue_size,
        retries=settings.forward_retries,
        allow_private=settings.forward_allow_private,
    )
    services = Services(
        settings=settings,
        rules=RequestRules(tmax_min_ms=settings.tmax_min_ms, tmax_max_ms=settings.tmax_max_ms),
        store=store,
        registry=registry,
        exchange=Exchange(
            registry.bidders,
            signer,
            exchange_config(settings, bidders.dsps, bidders.gvl_vendor_id),
            metrics,
            notify=forwarder.submit,
            user_keys=user_keys,
            screen=screen,
            brand_safety=build_brand_safety(settings),
        ),
        notices=NoticeService(
            signer=signer,
            store=store,
            keys=keys,
            ledger=ledger,
            registry=registry,
            forwarder=forwarder,
            events=events,
            metrics=metrics,
            engagement=creative_stats,
        ),
        metrics=metrics,
        events=events,
        log_sampler=random.Random(),
        models=models,
        engagement=creative_stats,
        ledger=ledger_watch,
        spool=spool,
    )
    if not await store.ping():  # also opens the first connection before traffic arrives
        log.warning("store_unavailable_at_start", store=settings.store)
    try:
        await ledger_watch.open()
    except StoreUnavailable as exc:  # the periodic check opens it once the store answers
        log.warning("ledger_not_opened", error=str(exc))
    ledger_watch.start(settings.ledger_check_s)
    spool.start()
    metrics.spool_bytes.set_function(lambda: spool.size_bytes)
    if bidders.dsps:  # connect (TLS, HTTP/2 preface) now, not inside the first auctions
        await dsp_transports.prewarm(settings.dsp_prewarm_timeout_s)
    # Everything built so far lives as long as the process: move it out of the collector's
    # view, so a full collection scans request garbage only (measured: 35 ms pauses → ~3 ms).
    gc.collect()
    gc.freeze()
    await creative_stats.run(settings.creative_stats_refresh_s)
    pacer.start(settings.pacing_interval_s)
    if rates is not None:
        rates.start(settings.ivt_rate_flush_s)
    background = [
        asyncio.create_task(
            drain_forever(
                spool,
                services.notices.settle_spooled,
                lambda: ledger_watch.ready and not store.open,
                settings.spool_drain_s,
            )
        )
    ]
    if settings.model_reload_s > 0:
        background.append(asyncio.create_task(watch_models(models, settings.model_reload_s)))
    log.info(
        "exchange_started",
        store=settings.store,
        bidders=sorted(registry.bidders),
        campaigns=len(registry.campaigns),
    )
    try:
        yield {"services": services}
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await ledger_watch.aclose()
        await creative_stats.aclose()
        await pacer.aclose()  # hands the last traffic counts to the store
        if rates is not None:
            await rates.aclose()
        await services.exchange.drain()
        await spool.aclose()
        await events.aclose()  # flush what is queued: nothing accepted is lost
        if stream is not None:
            await stream.aclose()
        await forwarder.aclose()
        await client.aclose()
        await dsp_transports.aclose()
        await store.aclose()
        log.info("exchange_stopped")
