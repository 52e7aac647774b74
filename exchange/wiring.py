"""The composition root: every collaborator of one exchange process, built from settings.

``build_services`` is the one place that wires the store, the ledger, the bidders, the
exchange, the notices and the events; ``start_services`` and ``stop_services`` run their
background work and tear it down in order (stop forwarding, draining what is queued, then
close the HTTP client, then the store, so that nothing accepted is dropped silently). The
HTTP lifespan (``app.lifespan``) and the day simulation both build through it; what the
simulation changes (its virtual clock, one store shared by its processes, the outside
market as a bidder, seeded randomness) it passes in as ``Injected`` parts.
"""

import asyncio
import hashlib
import hmac
import random
import ssl
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import structlog

from agents.config import AgentsFileError, cross_problems, load_agents
from agents.host import AgentHost
from agents.metrics import AgentMetrics
from auction.currency import CurrencyRates
from auction.types import QUALITY_ONE, AuctionRules
from bidding.campaigns import RouterSpec
from bidding.canary import Canary, CanaryFile, CanaryState
from bidding.creative_stats import StoreCreativeStats
from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, ModelHolder
from bidding.router import CampaignRouter
from bidding.strategy import advice_at
from budget.breaker import BreakerState, CircuitBreaker
from budget.guarded import GuardedStore
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import LedgerState, LedgerWatch
from budget.memory import MemoryStore
from budget.pacing import PacingConfig, StorePacer
from budget.redis_store import RedisStore
from budget.store import CounterStore, StoreUnavailable
from budget.stream import EventStream, MemoryEventStream
from exchange.accounts import AccountBook
from exchange.admin import sync_overrides, watch_overrides
from exchange.bidders.base import Bidder
from exchange.bidders.config import ExternalBidderSpec, load_bidders
from exchange.bidders.h2_transport import h2_transport
from exchange.bidders.http import HttpBidderMetrics, build_http_bidders
from exchange.bidders.registry import BidderRegistry, build_registry
from exchange.bidders.transport import DspTransports, TransportOptions
from exchange.canary_watch import CanaryWatch, load_canary_file
from exchange.config import ExchangeConfig
from exchange.core import Exchange
from exchange.events import StreamEventSink
from exchange.export import open_event_stream
from exchange.forwarder import NoticeForwarder
from exchange.gate import Gate
from exchange.ids import AuctionIds, random_auction_ids
from exchange.landscape_reload import LandscapeRefresh
from exchange.metrics import Metrics
from exchange.model_reload import watch_models
from exchange.notice_spool import NoticeSpool, drain_forever
from exchange.notice_token import NoticeSigner
from exchange.notices import NoticeService
from exchange.path_dedup import SharedSeenPaths
from exchange.profiles import ProfileBook
from exchange.ranges_reload import watch_ranges
from exchange.rates_reload import RatesWatch, exchange_rates, initial_table
from exchange.recording import AuctionRecorder
from exchange.services import Services
from exchange.settings import Settings
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

log = structlog.get_logger("exchange.wiring")

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_LEDGER_VALUE = {LedgerState.READY: 0, LedgerState.UNINITIALISED: 1, LedgerState.LOST: 2}


@dataclass(frozen=True, slots=True)
class Injected:
    """Parts a caller supplies instead of having them built from settings (the simulation,
    tests). Every default is what a served process uses."""

    clock: Callable[[], float] = time.time
    """Wall-clock seconds for every component: budgets' days, notices, pacing, tokens."""
    store: CounterStore | None = None
    """A store shared with other processes, owned (and closed) by the caller."""
    stream: EventStream | None = None
    """An event stream shared with other processes, owned by the caller."""
    routers: Sequence[RouterSpec] | None = None
    """The in-process routers instead of the bidders file's (whose DSPs are then unused)."""
    bidders: Sequence[Bidder] = ()
    """More bidders beside the file's (the simulation's outside market)."""
    models: bool = True
    """Whether the routers score with the CTR/CVR models (False: historical averages)."""
    canary: CanaryFile | None = None
    """A canary rollout instead of ``settings.canary_file``'s."""
    creative_counts: bool = True
    """Whether Thompson sampling reads and writes creative counts in the store."""
    pacing: bool = True
    pacing_config: PacingConfig | None = None
    config: ExchangeConfig | None = None
    """The exchange config instead of ``exchange_config(settings, …)``."""
    ids: AuctionIds = random_auction_ids
    seed: int | None = None
    """Seeds the routers' and the log sampler's generators (else ``settings.router_seed``)."""


def build_canary(settings: Settings, parts: Injected, models: ModelHolder | None) -> Canary | None:
    """The canary rollout the settings (or ``parts``) give, its models loaded; None: none."""
    config = parts.canary
    if config is None and settings.canary_file is not None:
        config = load_canary_file(settings.canary_file)
    if config is None:
        return None
    canary = Canary.load(config, models)
    if canary.state is CanaryState.REFUSED:
        log.warning("canary_refused", canary=canary.name, reason=canary.reason)
    return canary


def _value_based(registry: BidderRegistry) -> Callable[[str, str], bool]:
    def value_based(bidder: str, campaign_id: str) -> bool:
        campaign = registry.campaign(bidder, campaign_id)
        return campaign is not None and campaign.goal is not None

    return value_based


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
    return guard_store(store, settings, metrics)


def guard_store(store: CounterStore, settings: Settings, metrics: Metrics) -> GuardedStore:
    """``store`` behind the circuit breaker the settings configure, its calls measured."""

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
    rates: CurrencyRates | None = None,
) -> ExchangeConfig:
    """Settings (and the DSPs' quality scores, seats and vendor ids) in the exchange's units;
    the rates from the settings' reference table unless given."""
    quality = {dsp.name: _ppm(dsp.quality) for dsp in dsps}
    quality.update({key: _ppm(score) for key, score in settings.quality.items()})
    return ExchangeConfig(
        rates=rates or exchange_rates(settings, initial_table(settings)),
        rules=AuctionRules(
            increment_micros=cpm_to_micros(settings.increment_cpm),
            deal_priority=settings.deal_priority,
        ),
        floor_rules=tuple(rule.rule() for rule in settings.floor_rules),
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
    settings: Settings,
    store: WindowStore | None = None,
    accounts: AccountBook | None = None,
    *,
    announce: bool = True,
) -> tuple[Screen, RateWatch | None]:
    """The traffic screen the settings ask for, its lists loaded once (a bad file stops the
    start-up with the file named), and the rate watch to start (None when rates are off).
    A list is loaded when the exchange or any SSP account turns its check on."""
    actions = {
        Check.CRAWLER: Action(settings.ivt_crawler),
        Check.DATACENTER: Action(settings.ivt_datacenter),
        Check.DEVICE: Action(settings.ivt_device),
        Check.SELLER: Action(settings.ivt_seller),
        Check.SCHAIN: Action(settings.ivt_schain),
        Check.RATE: Action(settings.ivt_rate),
    }
    wanted = {check for check, action in actions.items() if action is not Action.OFF}
    if accounts is not None:
        wanted.update(
            check
            for account in accounts.accounts.values()
            for check, action in account.screening.items()
            if action is not Action.OFF
        )
    ranges_file = settings.ivt_datacenter_file or DEFAULT_RANGES_FILE
    sellers_file = settings.ivt_sellers_file
    crawlers = CrawlerList() if Check.CRAWLER in wanted else None
    try:
        ranges = IpRanges.load(ranges_file) if Check.DATACENTER in wanted else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"RTB_IVT_DATACENTER_FILE: {_file_problem(ranges_file, exc)}") from exc
    try:
        sellers = SellersDirectory.load(sellers_file) if sellers_file is not None else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"RTB_IVT_SELLERS_FILE: {_file_problem(sellers_file, exc)}") from exc
    limits = {
        kind: limit
        for kind, limit in (
            ("ip", settings.ivt_rate_per_ip),
            ("device", settings.ivt_rate_per_device),
        )
        if limit > 0
    }
    rates = None
    if Check.RATE in wanted and limits:
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
    if not announce:  # a configuration check, before the process's logging is set up
        return screen, rates
    log.info(
        "traffic_screen",
        actions=screen.actions,
        crawlerdetect=crawlers.version if crawlers else None,
        datacenter_ranges=ranges.size if ranges else None,
        sellers=len(sellers) if sellers else None,
    )
    return screen, rates


def build_gate(
    settings: Settings, accounts: AccountBook | None, store: WindowStore | None = None
) -> Gate:
    """The auction's door: ``accounts`` (None: ``open`` mode) and the rate limits."""
    return Gate(
        accounts,
        per_ip_qps=settings.rate_limit_per_ip_qps,
        window_s=settings.rate_limit_window_s,
        secret=settings.notice_key(),
        prefix=settings.key_prefix,
        store=store,
    )


def build_brand_safety(settings: Settings) -> BrandSafety:
    """The exchange's and publishers' blocklists (a bad file stops the start-up)."""
    try:
        return BrandSafety.build(
            settings.blocked_adomains, settings.blocked_categories, settings.brand_safety_file
        )
    except (OSError, ValueError) as exc:
        where = "RTB_BRAND_SAFETY_FILE" if isinstance(exc, OSError) else "brand safety lists"
        raise ValueError(f"{where}: {_file_problem(settings.brand_safety_file, exc)}") from exc


def _file_problem(path: Path | None, exc: Exception) -> str:
    """``path: why`` for a file that cannot be read, else the parser's own message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{path}: cannot read: {exc.strerror}"
    return f"{path}: {exc}" if path is not None and str(path) not in str(exc) else str(exc)


def _lean_h2(tls: ssl.SSLContext) -> httpx.AsyncBaseTransport:
    return h2_transport(verify=tls, connect_timeout=1.0)


def _ppm(score: float) -> int:
    return int(Decimal(str(score)) * QUALITY_ONE)


def _agent_host(
    settings: Settings, metrics: Metrics, rates: CurrencyRates, bidders: Collection[str]
) -> AgentHost | None:
    """The ARTF agents of ``RTB_AGENTS_FILE`` (None when unset or empty); AgentsFileError
    when it names a bidder or a currency the exchange does not have."""
    config = load_agents(settings.agents_file)
    if not config.agents:
        return None
    problems = cross_problems(config, str(settings.agents_file), rates.rates, bidders)
    if problems:
        raise AgentsFileError(problems)
    return AgentHost(config, AgentMetrics(metrics.registry), engine=settings.agent_grpc_engine)


def build_services(settings: Settings, parts: Injected | None = None) -> Services:
    """Every collaborator of one exchange process, wired; no I/O yet (``start_services``
    opens the store's connections and starts the background work)."""
    parts = parts or Injected()
    rate_table = initial_table(settings)  # a bad source stops the start before anything opens
    clock = parts.clock
    metrics = Metrics()
    keys = KeySpace(settings.key_prefix)
    store = (
        guard_store(parts.store, settings, metrics)
        if parts.store is not None
        else open_store(settings, metrics)
    )
    ledger = SpendLedger(store, keys, clock=clock)
    bidders = load_bidders(settings.bidders_file)
    routers = bidders.routers if parts.routers is None else parts.routers
    dsps = bidders.dsps if parts.routers is None else ()
    campaigns = [c for r in routers for c in r.campaigns]
    ledger_watch = LedgerWatch(
        store,
        keys,
        [c.id for c in campaigns],
        auto_init=settings.store == "memory" or settings.ledger_init == "auto",
        on_change=lambda status: metrics.ledger_state.set(_LEDGER_VALUE[status.state]),
        remember=_remembered_epoch(settings) if parts.store is None else None,
    )
    metrics.ledger_state.set(_LEDGER_VALUE[ledger_watch.status.state])
    store.on_ledger_lost = ledger_watch.lost
    # External DSPs: one connection pool per DSP origin, one HttpBidder per `dsps` entry.
    dsp_transports = DspTransports(
        dsps,
        TransportOptions(
            ca_file=settings.dsp_ca_file, http1_connections=settings.dsp_http1_connections
        ),
        http2_engine=_lean_h2 if settings.dsp_http2_engine == "lean" else None,
    )
    external = build_http_bidders(
        dsps,
        dsp_transports.for_spec,
        metrics=HttpBidderMetrics(metrics.registry),
        failure_threshold=settings.dsp_breaker_failures,
        cooldown_s=settings.dsp_breaker_cooldown_s,
    )
    models = (
        ModelHolder(settings.model_dir or DEFAULT_MODEL_DIR, FALLBACK_RATES)
        if parts.models
        else None
    )
    canary = build_canary(settings, parts, models)
    creative_stats = StoreCreativeStats(
        store,
        keys,
        pairs=[(c.id, k.id) for c in campaigns for k in c.creatives],
    )
    # Pacing: every process steps the same shared controller state (budget.pacing).
    pacer = StorePacer(
        campaigns,
        store,
        keys,
        advice=advice_at,
        config=parts.pacing_config,
        clock=clock,
    )
    seed = parts.seed if parts.seed is not None else settings.router_seed
    user_keys = UserKeys(hmac.digest(settings.notice_key(), b"user-keys", "sha256"))

    def current_rates() -> CurrencyRates:
        # The exchange (built below, from the registry) owns the rates; RatesWatch swaps
        # them there, so the routers read them through it at each request.
        return exchange.rates

    registry = build_registry(
        routers,
        ledger,
        settings.currency,
        external=[*external, *parts.bidders],
        models=models,
        creative_stats=creative_stats if parts.creative_counts else None,
        pacer=pacer if parts.pacing else None,
        seed=seed,
        user_keys=user_keys,
        clock=clock,
        rates=current_rates,
        gvl_vendor_id=bidders.gvl_vendor_id,
        profile_features=settings.profiles,
        canary=canary,
    )
    routers_built = [r for r in registry.bidders.values() if isinstance(r, CampaignRouter)]
    metrics.watch_scoring(routers_built)
    landscapes = None
    if settings.landscape_file is not None:
        landscapes = LandscapeRefresh(settings.landscape_file, routers_built)
        metrics.count_landscape_refreshes(lambda: landscapes.counts if landscapes else {})
    if models is not None:
        metrics.count_model_reloads(lambda: models.reloads)
    signer = NoticeSigner(settings.notice_key())
    accounts = AccountBook.load(settings.accounts_file) if settings.accounts_file else None
    screen, rates = build_screen(settings, store, accounts)
    spool = NoticeSpool(settings.state_dir / "spool", max_bytes=settings.spool_max_bytes)
    stream = parts.stream
    owned_stream = None
    if stream is None and settings.store == "redis":
        stream = owned_stream = open_event_stream(settings)
    elif stream is None:  # one process: an in-memory ring (nothing reads it across processes)
        ring = MemoryEventStream(max_len=settings.events_memory_max_len)
        metrics.count_ring_drops(lambda: ring.dropped)
        stream = ring
    events = StreamEventSink(stream, metrics)
    canary_watch = None
    if canary is not None:
        canary_watch = CanaryWatch(canary, store, keys, events, _value_based(registry))
        events.listen(canary_watch.observe)
        metrics.watch_canary(canary)
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
    config = parts.config or exchange_config(
        settings, dsps, bidders.gvl_vendor_id, exchange_rates(settings, rate_table)
    )
    recorder = AuctionRecorder(
        events,
        metrics,
        registry.campaigns,
        log_sample_rate=settings.auction_log_sample_rate,
        sampler=random.Random(seed),
        clock=clock,
    )
    agents = _agent_host(settings, metrics, config.rates, registry.bidders)
    exchange = Exchange(
        registry.bidders,
        signer,
        config,
        metrics,
        clock=clock,
        notify=forwarder.submit,
        user_keys=user_keys,
        screen=screen,
        brand_safety=build_brand_safety(settings),
        ids=parts.ids,
        recorder=recorder,
        # One process in memory; on Redis every process shares the seen impressions.
        shared_paths=SharedSeenPaths(store, keys) if settings.store == "redis" else None,
        agents=agents,
    )
    profiles = (
        ProfileBook(store, keys, user_keys, clock, max_fields=settings.profile_max_fields)
        if settings.profiles
        else None
    )
    notices = NoticeService(
        signer=signer,
        store=store,
        keys=keys,
        ledger=ledger,
        registry=registry,
        forwarder=forwarder,
        events=events,
        metrics=metrics,
        clock=clock,
        engagement=creative_stats if parts.creative_counts else None,
        profiles=profiles,
    )
    return Services(
        settings=settings,
        rules=RequestRules(tmax_min_ms=settings.tmax_min_ms, tmax_max_ms=settings.tmax_max_ms),
        store=store,
        registry=registry,
        exchange=exchange,
        notices=notices,
        metrics=metrics,
        events=events,
        models=models,
        canary=canary_watch,
        landscapes=landscapes,
        engagement=creative_stats if parts.creative_counts else None,
        profiles=profiles,
        ledger=ledger_watch,
        spool=spool,
        pacer=pacer,
        forwarder=forwarder,
        http_client=client,
        dsp_transports=dsp_transports,
        agents=agents,
        owned_stream=owned_stream,
        owns_store=parts.store is None,
        rate_watch=rates,
        gate=build_gate(settings, accounts if settings.auth_mode() == "keys" else None, store),
        creative_stats=creative_stats,
        currency_watch=RatesWatch(settings, metrics, exchange.replace_rates, rate_table),
    )


async def start_services(services: Services, *, announce: bool = True) -> list[asyncio.Task[None]]:
    """Open what the services need (the store's first connection, the ledger, the DSP
    connections) and start their background work; the tasks, for ``stop_services``.
    ``announce=False``: the caller logs the start itself (``app.lifespan``, with its URL)."""
    settings = services.settings
    store, ledger_watch, spool = services.store, services.ledger, services.spool
    if not await store.ping():  # also opens the first connection before traffic arrives
        log.warning("store_unavailable_at_start", store=settings.store)
    if ledger_watch is not None:
        try:
            await ledger_watch.open()
        except StoreUnavailable as exc:  # the periodic check opens it once the store answers
            log.warning("ledger_not_opened", error=str(exc))
        ledger_watch.start(settings.ledger_check_s)
    try:  # a restarted process bids with the operator's overrides, not the file's values
        await sync_overrides(services)
    except StoreUnavailable as exc:  # the poll applies them once the store answers
        log.warning("admin_overrides_not_read", error=str(exc))
    background: list[asyncio.Task[None]] = [
        asyncio.create_task(watch_overrides(services, settings.admin_sync_s))
    ]
    if spool is not None:
        spool.start()
        services.metrics.spool_bytes.set_function(lambda: spool.size_bytes)
    if services.dsp_transports is not None:  # connect (TLS, HTTP/2 preface) now
        await services.dsp_transports.prewarm(settings.dsp_prewarm_timeout_s)
    if services.agents is not None:  # the channels' connections, before the first auction
        ready = await services.agents.connect(settings.dsp_prewarm_timeout_s)
        for name in (name for name, up in ready.items() if not up):
            log.warning("agent_not_ready", agent=name)
    if services.creative_stats is not None and services.engagement is not None:
        await services.creative_stats.run(settings.creative_stats_refresh_s)
    if services.pacer is not None:
        services.pacer.start(settings.pacing_interval_s)
    if services.rate_watch is not None:
        services.rate_watch.start(settings.ivt_rate_flush_s)
    if services.gate.rates is not None:
        services.gate.rates.start(settings.rate_limit_flush_s)
    if spool is not None and ledger_watch is not None:
        background.append(
            asyncio.create_task(
                drain_forever(
                    spool,
                    services.notices.settle_spooled,
                    lambda: ledger_watch.ready and not store.open,
                    settings.spool_drain_s,
                )
            )
        )
    screen = services.exchange.screen
    if (
        screen is not None
        and screen.datacenter_ranges is not None
        and settings.ivt_datacenter_reload_s > 0
    ):
        ranges_file = settings.ivt_datacenter_file or DEFAULT_RANGES_FILE
        background.append(
            asyncio.create_task(watch_ranges(screen, ranges_file, settings.ivt_datacenter_reload_s))
        )
    if settings.currency_rates_refresh_s > 0 and services.currency_watch is not None:
        background.append(
            asyncio.create_task(services.currency_watch.run(settings.currency_rates_refresh_s))
        )
    if services.canary is not None:
        await services.canary.start()  # a rollback already in the store: never serve it
        background.append(asyncio.create_task(services.canary.run()))
    if services.landscapes is not None:
        background.append(asyncio.create_task(services.landscapes.run(settings.landscape_reload_s)))
    if services.models is not None and settings.model_reload_s > 0:
        background.append(
            asyncio.create_task(watch_models(services.models, settings.model_reload_s))
        )
    if announce:
        log.info(
            "exchange_started",
            store=settings.store,
            bidders=sorted(services.registry.bidders),
            campaigns=len(services.registry.campaigns),
        )
    return background


async def stop_services(services: Services, background: Sequence[asyncio.Task[None]]) -> None:
    """Stop the background work and close everything, so that nothing accepted is lost."""
    services.overrides.closing = True
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    if services.ledger is not None:
        await services.ledger.aclose()
    if services.creative_stats is not None:
        await services.creative_stats.aclose()
    if services.pacer is not None:
        await services.pacer.aclose()  # hands the last traffic counts to the store
    if services.rate_watch is not None:
        await services.rate_watch.aclose()
    if services.gate.rates is not None:
        await services.gate.rates.aclose()
    await services.exchange.drain()
    if services.spool is not None:
        await services.spool.aclose()
    await services.events.aclose()  # flush what is queued: nothing accepted is lost
    if services.owned_stream is not None:
        await services.owned_stream.aclose()
    if services.forwarder is not None:
        await services.forwarder.aclose()
    if services.http_client is not None:
        await services.http_client.aclose()
    if services.dsp_transports is not None:
        await services.dsp_transports.aclose()
    if services.agents is not None:
        await services.agents.close()
    if services.owns_store:
        await services.store.aclose()
    log.info("exchange_stopped")
