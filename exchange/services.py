"""Everything one exchange process runs on, built once by ``exchange.wiring``.

The HTTP handlers reach it through ``app.services_of``; the simulation and the benchmarks
hold it directly. Typed, no globals: tests get a fresh set with every app they build.
"""

import time
from dataclasses import dataclass, field

import httpx

from agents.host import AgentHost
from bidding.campaigns import Campaign
from bidding.creative_stats import StoreCreativeStats
from bidding.exploration import EngagementRecorder
from bidding.models import ModelHolder
from bidding.strategy import PacingAdvice
from budget.guarded import GuardedStore
from budget.ledger_watch import LedgerWatch
from budget.pacing import StorePacer
from budget.stream import RedisEventStream
from exchange.bidders.registry import BidderRegistry
from exchange.bidders.transport import DspTransports
from exchange.canary_watch import CanaryWatch
from exchange.core import Exchange
from exchange.events import StreamEventSink
from exchange.forwarder import NoticeForwarder
from exchange.gate import Gate
from exchange.landscape_reload import LandscapeRefresh
from exchange.metrics import Metrics
from exchange.notice_spool import NoticeSpool
from exchange.notices import NoticeService
from exchange.profiles import ProfileBook
from exchange.rates_reload import RatesWatch
from exchange.settings import Settings
from fraud.rates import RateWatch
from openrtb.validate import RequestRules


@dataclass(slots=True)
class AppliedOverrides:
    """Which of the operator's overrides in the store this process has applied (by entry,
    ``campaign:<id>`` or ``bidder:<name>``, its version), and the store's version counter
    as of the last complete poll (``exchange.admin.sync_overrides``)."""

    versions: dict[str, int] = field(default_factory=dict)
    seen: int = 0
    campaign_bases: dict[str, tuple[Campaign, bool]] = field(default_factory=dict)
    """Each overridden campaign as the bidders file had it (and whether enabled), kept at
    its first override here: what a dropped override goes back to."""
    bidder_bases: dict[str, bool] = field(default_factory=dict)
    """Whether each overridden bidder was enabled before its first override here."""
    closing: bool = False
    """Set by ``stop_services``: ends the poll loop even when its cancellation is absorbed."""


@dataclass(frozen=True, slots=True)
class Services:
    """The wired collaborators of one exchange process."""

    settings: Settings
    rules: RequestRules
    store: GuardedStore
    registry: BidderRegistry
    exchange: Exchange
    notices: NoticeService
    metrics: Metrics
    events: StreamEventSink
    gate: Gate = field(default_factory=lambda: Gate(None))
    """Who may send bid requests, and how fast (SSP accounts, rate limits)."""
    engagement: EngagementRecorder | None = None
    """Creative impression/click counts for Thompson sampling; None: not counted."""
    profiles: ProfileBook | None = None
    """Users' profiles (written from notices, clicks, conversions, the admin API); None:
    profiles are off."""
    models: ModelHolder | None = None
    """The in-process routers' CTR/CVR models (``/readyz`` reports a fallback)."""
    landscapes: LandscapeRefresh | None = None
    """Swaps the landscape file (``rtb landscapes``) into the routers; None: no file."""
    canary: CanaryWatch | None = None
    """The canary rollout and its guard; None: no canary."""
    spool: NoticeSpool | None = None
    """Where notices wait while the store cannot settle them; None: they get 503."""
    ledger: LedgerWatch | None = None
    """Whether money may move (``/readyz`` reports a lost or missing ledger)."""
    pacer: StorePacer[PacingAdvice] | None = None
    """The shared pacing controller (the simulation steps it on its virtual clock)."""
    forwarder: NoticeForwarder | None = None
    http_client: httpx.AsyncClient | None = None
    """The forwarder's client, when the services built it (closed with them)."""
    dsp_transports: DspTransports | None = None
    agents: AgentHost | None = None
    """The ARTF agents (their channels are closed with the services); None: no agents."""
    owned_stream: RedisEventStream | None = None
    """The Redis event stream the services opened (closed with them)."""
    owns_store: bool = True
    """False when the store is shared with other processes and closed by its owner."""
    rate_watch: RateWatch | None = None
    creative_stats: StoreCreativeStats | None = None
    currency_watch: RatesWatch | None = None
    """Keeps the currency rates current from their reference table (``RTB_CURRENCY_RATES_*``)."""
    overrides: AppliedOverrides = field(default_factory=AppliedOverrides)
    """The operator's overrides from the store applied here (``exchange.admin``)."""
    built_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` when the process's services were built (``/status`` uptime)."""
