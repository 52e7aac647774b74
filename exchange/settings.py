"""Settings: the only place that reads the environment (prefix ``RTB_``).

Provided to the app factory (tests build their own) rather than read at import time.
"""

import secrets
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auction.floors import FloorRule
from openrtb.money import cpm_to_micros

MIN_SECRET_BYTES = 32
ONE_MICRO = Decimal("0.000001")
IvtAction = Literal["block", "flag", "off"]
"""The smallest price the exchange can represent (one micro of its currency)."""


class FloorRuleSetting(BaseModel):
    """An exchange floor rule: raises the floor of matching imps to ``floor_cpm``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    floor_cpm: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    publisher_id: str | None = None
    media_type: Literal["banner", "video", "audio", "native"] | None = None
    size: Annotated[str, Field(pattern=r"^[1-9][0-9]*x[1-9][0-9]*$")] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None

    def rule(self) -> FloorRule:
        """The rule in exchange micros."""
        return FloorRule(
            floor_micros=cpm_to_micros(self.floor_cpm),
            publisher_id=self.publisher_id,
            media_type=self.media_type,
            size=self.size,
            country=self.country,
        )


class Settings(BaseSettings):
    """Every knob of one exchange process."""

    @model_validator(mode="after")
    def _secret_fits_the_store(self) -> "Settings":
        secret = self.notice_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"notice_secret must be at least {MIN_SECRET_BYTES} bytes")
        if secret is None and self.store == "redis":
            raise ValueError(
                "notice_secret is required with store=redis: every process must verify the "
                "others' notices (set RTB_NOTICE_SECRET to 32+ random bytes)"
            )
        return self

    @model_validator(mode="after")
    def _keys_need_accounts(self) -> "Settings":
        if self.auth == "keys" and self.accounts_file is None:
            raise ValueError(
                "auth=keys needs RTB_ACCOUNTS_FILE: the accounts and the digests of their keys"
            )
        return self

    def auth_mode(self) -> Literal["open", "keys"]:
        """``auth``, or its default: ``keys`` when an accounts file is given, else ``open``."""
        if self.auth is not None:
            return self.auth
        return "keys" if self.accounts_file is not None else "open"

    def notice_key(self) -> bytes:
        """The notice HMAC key: the configured one, or a random one for this process."""
        if self.notice_secret is not None:
            return self.notice_secret.get_secret_value().encode()
        if self._random_secret is None:
            self._random_secret = secrets.token_bytes(MIN_SECRET_BYTES)
        return self._random_secret

    _random_secret: bytes | None = PrivateAttr(default=None)

    # hide_input_in_errors: a refused secret (notice, admin token) is never echoed into the
    # error text, which ends up in logs and tracebacks.
    model_config = SettingsConfigDict(
        env_prefix="RTB_", env_file=None, extra="ignore", hide_input_in_errors=True
    )

    # Serving
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    public_url: str | None = None
    """Base URL the notice links point to; None: the URL the request came in on."""
    max_body_bytes: Annotated[int, Field(gt=0)] = 64 * 1024
    """Every POST body (auction, conversion postback), also once decompressed; 413 beyond."""
    debug_allowed: bool = False
    """Whether debug output may be asked for in ``open`` mode (with accounts: per account)."""

    # SSP accounts and rate limits (exchange.accounts, exchange.gate; README "SSP accounts")
    accounts_file: Path | None = None
    """JSON list of SSP accounts: key digests, publishers, floors, privacy, screening, debug,
    rate limit (``exchange.accounts``)."""
    auth: Literal["open", "keys"] | None = None
    """``keys``: a bid request must carry an account's API key (``x-api-key`` or
    ``Authorization: Bearer``), 401 without; ``open``: anyone who reaches the port may send
    bid requests (local demos; announced at start-up). None: ``keys`` when
    ``accounts_file`` is set, else ``open``. Notice and tracking URLs are signed, never keyed."""
    rate_limit_per_ip_qps: Annotated[int, Field(ge=0)] = 0
    """Bid requests per second from one client address across the fleet (429 beyond),
    before the key is looked at; 0: off. An SSP sends from few addresses at high rates, so
    size it to the largest SSP's traffic per address."""
    rate_limit_window_s: Annotated[int, Field(gt=0, le=60)] = 1
    """The sliding window the account and address rates are counted over."""
    rate_limit_flush_s: Annotated[float, Field(gt=0, le=10)] = 0.5
    """How often each process adds its counts to the store and reads the fleet's back: a
    client over its rate on the fleet is refused within about this long."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose ``X-Forwarded-For`` names the client (uvicorn's
    ``forwarded_allow_ips``): the address rate limit counts that client."""

    # HTTP limits: what one connection or request may cost before it is cut off
    # (app.http_protocol enforces them while parsing, app.admission at the door; README)
    max_header_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024
    """Request line plus headers; 431 beyond, counted before the headers are complete."""
    max_headers: Annotated[int, Field(gt=0)] = 100
    """Header fields per request; 431 beyond."""
    header_timeout_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    """From a new connection (or a request's first byte) to the end of its headers; 408."""
    body_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    """From the end of the headers to the end of the body, however it trickles in; 408."""
    keep_alive_s: Annotated[int, Field(gt=0, le=3600)] = 5
    """An idle keep-alive connection is closed after this (uvicorn's ``timeout_keep_alive``)."""
    max_in_flight: Annotated[int, Field(gt=0)] = 128
    """Requests handled at once by one process; 503 with ``Retry-After`` beyond. Sized to
    throughput × tmax: more in flight would only answer after the SSP gave up."""
    retry_after_s: Annotated[int, Field(gt=0, le=3600)] = 1
    shed_after_ms: Annotated[int, Field(ge=0, le=10_000)] = 20
    """A bid request that waited this long before the exchange could start on it is
    answered 204 at once (no-bid reason ``queued_too_long``), unparsed: under overload the
    loop then spends its time on requests it can still answer within ``tmax``. 0: never."""
    max_connections: Annotated[int, Field(gt=0)] = 1024
    """uvicorn's ``limit_concurrency``, the hard backstop above ``max_in_flight``: open
    connections or requests beyond it get uvicorn's own 503 (no ``Retry-After``)."""
    drain_max_bytes: Annotated[int, Field(ge=0)] = 8 * 1024 * 1024
    drain_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    """After answering before a request was fully sent (413, 431, 408, 503), the server shuts
    its side and discards up to ``drain_max_bytes`` for up to ``drain_timeout_s`` so the
    client reads the answer; a client still sending after that is reset."""

    # Auction
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    currency_rates: dict[str, Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]] = {}
    """Units of the exchange currency per unit of another, e.g. ``{"EUR": "1.08"}``; these
    override the reference table's."""
    currency_rates_source: str | None = None
    """The reference table: a file or an http(s) URL of the ECB's euro reference rates (its
    ``eurofxref.csv``, ``eurofxref.zip`` or ``eurofxref-daily.xml``); None: the table shipped
    in ``exchange/data`` (dated, see docs/architecture.md); ``none``: no table, only
    ``currency_rates``."""
    currency_rates_refresh_s: Annotated[float, Field(ge=0, le=86_400)] = 3600.0
    """How often the table is read again and swapped in (0: only at start)."""
    currency_rates_max_age_days: Annotated[int, Field(gt=0)] = 7
    """A table older than this is logged as stale (and still used: old rates beat none)."""
    floor_rules: list[FloorRuleSetting] = []
    deal_priority: bool = True
    """A valid deal bid beats every open bid (False: they compete on price)."""
    page_auction: bool = False
    """Sell every multi-imp second-price request as one page (VCG) unless it opts out."""
    increment_cpm: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal("0.01")
    max_bid_cpm: Annotated[Decimal, Field(ge=ONE_MICRO, allow_inf_nan=False)] = Decimal(1000)
    """Bids above this CPM (in the exchange currency) are refused, loss reason 3: ten times
    the dearest real inventory, far below a slip of units (docs/decisions.md)."""
    quality: dict[str, Annotated[float, Field(gt=0, le=10)]] = {}
    """Quality score per seat (or ``seat/crid``), default 1.0."""
    default_tmax_ms: Annotated[int, Field(gt=0)] = 100
    tmax_min_ms: Annotated[int, Field(gt=0)] = 10
    tmax_max_ms: Annotated[int, Field(gt=0)] = 10_000
    bidder_timeout_ms: Annotated[int, Field(gt=0, le=50)] = 50
    response_reserve_ms: Annotated[int, Field(ge=0)] = 5
    """Part of tmax held back for the auction, the response and the network back to the SSP."""

    seller_domain: str = "rtb-exchange.invalid"
    """The exchange's advertising-system domain: its ``asi`` in the supply chain it passes on."""

    # Traffic quality (fraud.screen; docs/traffic-quality.md): per check block, flag or off
    ivt_crawler: IvtAction = "block"
    """A user agent on crawlerdetect's list: no-bid reason 3."""
    ivt_datacenter: IvtAction = "block"
    """An IP in a data-centre range of ``ivt_datacenter_file``: reason 5."""
    ivt_device: IvtAction = "flag"
    """An IP that is not public, UA/OS/devicetype contradictions, impossible screens: 6."""
    ivt_seller: IvtAction = "block"
    """A publisher id not in ``ivt_sellers_file`` (or off its domain): 7. Off without a file."""
    ivt_schain: IvtAction = "flag"
    """An incomplete supply chain (16) or one with a node in ``ivt_blocked_schain_nodes`` (17)."""
    ivt_rate: IvtAction = "flag"
    """An IP or device over its requests per ``ivt_rate_window_s`` on the fleet: 4."""
    ivt_datacenter_file: Path | None = None
    """CIDR list (text, ``{"provider": [cidr]}``, or AWS/Google's published JSON, optionally
    gzipped); None: the generated list shipped in ``fraud/data`` (docs/traffic-quality.md)."""
    ivt_datacenter_reload_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    """How often the data-centre file is checked for changes and reloaded without a restart
    (0: loaded at start only)."""
    ivt_sellers_file: Path | None = None
    """The exchange's sellers.json: the seller ids (publisher ids) allowed to sell."""
    ivt_blocked_schain_nodes: list[str] = []
    """``asi`` domains refused anywhere in a request's supply chain."""
    ivt_rate_window_s: Annotated[int, Field(gt=0, le=3600)] = 60
    ivt_rate_per_ip: Annotated[int, Field(ge=0)] = 1_000
    """Requests per window from one IP (carrier NAT puts many people behind one); 0: off."""
    ivt_rate_per_device: Annotated[int, Field(ge=0)] = 120
    """Requests per window from one ``device.ifa``; 0: off."""
    ivt_rate_flush_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often each process adds its counts to the store and reads the fleet's back."""
    blocked_adomains: list[str] = []
    """Advertiser domains refused in every auction (brand safety; loss reason 205)."""
    blocked_categories: list[str] = []
    """Categories refused in every auction, IAB Content 1.0 codes or 2.0 ids (reason 209)."""
    brand_safety_file: Path | None = None
    """JSON ``{"badv", "bcat", "publishers": {id: {"badv", "bcat"}}}`` (fraud.brand_safety)."""

    # Bidders
    bidders_file: Path | None = None
    """In-process routers with their campaigns, and external DSPs (``exchange.bidders.config``);
    None: the demo routers shipped with the code."""

    # ARTF agents (agents.config)
    agents_file: Path | None = None
    """The agent services called at the auction's stages over gRPC, what each may see and
    propose (``agents.config``; docs/agents.md); None: no agents."""
    agent_grpc_engine: Literal["lean", "grpcio"] = "lean"
    """How agents are called: gRPC on the exchange's own HTTP/2 engine, or grpcio's asyncio
    client (``agents.channels``; docs/decisions.md)."""

    # In-process bidding models (bidding.models)
    model_dir: Path | None = None
    """Directory with the CTR/CVR model files (``ctr.ubj``, ``cvr.ubj``); None: the small
    models shipped with the code. Missing or refused files: historical averages bid, and
    ``/readyz`` says degraded."""
    model_reload_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    """How often the model files are checked for a change and swapped in (0: never)."""
    landscape_file: Path | None = None
    """The routers' first-price bid landscapes rebuilt from the event log (``rtb
    landscapes``), swapped in at start and whenever the file changes; None: each process
    learns its own from the prior."""
    landscape_reload_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    """How often the landscape file is checked for a change."""
    canary_file: Path | None = None
    """A canary rollout (``bidding.canary``): new models or a bid scale on a share of the
    auctions, rolled back by itself when a guard is breached; None: no canary."""
    creative_stats_refresh_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """How often each process re-reads the fleet's creative impression/click counts (the
    Thompson sampling state) from the store."""
    pacing_interval_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    """How often each process steps the pacing controllers (one store round trip for all
    campaigns) and refreshes the routers' bid multipliers and participation."""
    router_seed: int | None = None
    """Seed of the routers' random draws (creative sampling, participation); None: random."""

    # External DSPs (exchange.bidders.transport, exchange.bidders.http)
    dsp_http2_engine: Literal["lean", "httpcore"] = "lean"
    """HTTP/2 client engine for h2/h2c DSPs: ``lean`` (``exchange.bidders.h2_transport``, ~5-8x
    less CPU per call, see docs/performance.md) or httpx's stock ``httpcore``."""
    dsp_ca_file: Path | None = None
    """CA bundle that signs the external DSPs' TLS certificates; None: the certifi bundle."""
    dsp_http1_connections: Annotated[int, Field(gt=0)] = 64
    """Keep-alive connections per ``http1.1`` DSP origin (one per call in flight)."""
    dsp_breaker_failures: Annotated[int, Field(gt=0)] = 5
    """Consecutive failed or timed-out calls that open a DSP's circuit."""
    dsp_breaker_cooldown_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    """How long an open circuit leaves a DSP alone before one probe call."""
    dsp_prewarm_timeout_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    """Startup wait for the first connection to each DSP (a DSP that is down is logged)."""

    # Notices
    notice_secret: SecretStr | None = None
    """HMAC key of notice tokens, at least 32 bytes, the same on every process sharing a
    store. Required with ``store=redis``; with the single-process memory store a random one
    is made at startup when unset (tokens then die with the process)."""
    notice_ttl_s: Annotated[int, Field(gt=0)] = 24 * 3600
    forward_timeout_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    forward_concurrency: Annotated[int, Field(gt=0)] = 64
    forward_queue_size: Annotated[int, Field(gt=0)] = 10_000
    forward_retries: Annotated[int, Field(ge=0, le=5)] = 2
    state_dir: Path = Path("var")
    """This machine's own state, on a disk that survives a restart, shared by its processes
    (all with the same notice secret): ``spool/``, where notices wait while the store cannot
    settle them (``exchange.notice_spool``), and the ledger epoch last used with each store
    (``budget.ledger_watch``). Relative paths are from the working directory."""
    spool_max_bytes: Annotated[int, Field(gt=0)] = 1 << 30
    """Bound of the spool; a notice beyond it gets 503."""
    spool_drain_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often a process looks for spooled notices to settle once the store answers."""
    forward_allow_private: bool = False
    """Fire DSP notice URLs that resolve to loopback/private/link-local addresses too (off by
    default: a DSP's URL must not reach the operator's internal services)."""

    # Admin API (app.routes.admin, exchange.admin; README "Admin API")
    admin_token: SecretStr | None = None
    """Bearer token of ``/admin/...``, at least 32 bytes; None: the admin routes are not
    mounted at all (404), so the admin API is never on by default."""

    @model_validator(mode="after")
    def _admin_token_long_enough(self) -> "Settings":
        token = self.admin_token
        if token is not None and len(token.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"admin_token must be at least {MIN_SECRET_BYTES} bytes")
        return self

    admin_sync_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often each process reads the operator's overrides from the store (one round
    trip when nothing changed) and applies the newer ones (``exchange.admin``)."""

    # Store
    store: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: Annotated[float, Field(gt=0, le=5)] = 0.25
    """Every Redis call's socket timeout: a store slower than this counts as failing. Calls
    on the bid path are cut sooner by the bidder deadline anyway (a cut call is not a
    failure); this bounds the notices and the background work (docs/decisions.md)."""
    redis_max_connections: Annotated[int, Field(gt=0)] = 1024
    """Connections per process (one per store call in flight)."""
    store_breaker_failures: Annotated[int, Field(gt=0)] = 5
    """Consecutive store failures that open its circuit (in-process bidding stops)..."""
    store_breaker_window_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    """... once they have gone on this long: a burst of late answers from a busy store does
    not pause bidding, an outage does."""
    store_breaker_cooldown_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How long an open store circuit waits before one probe call."""
    key_prefix: str = "rtb:"
    ledger_init: Literal["manual", "auto"] = "manual"
    """``manual``: with ``store=redis`` the ledger must be created once by ``rtb ledger
    init``; a store without it (new, or one that lost its data) gets no in-process bid and
    no charge. ``auto``: created at start-up when missing — only for throwaway stores, since
    it cannot tell a new store from one that lost a day's spend. The memory store is always
    ``auto`` (its data dies with the process)."""
    ledger_check_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    """How often each process re-reads the ledger record and its campaigns' markers (the
    money scripts check the markers on every call anyway)."""

    # User profiles
    profiles: bool = True
    """Keep users' profiles (recent impressions, clicks and conversions per campaign and
    category, declared segments) for audience rules, where the request allows profiling."""
    profile_max_fields: Annotated[int, Field(ge=8, le=4096)] = 256
    """Fields one profile may hold (a month of day counts and segments); a full profile only
    updates the fields it has."""

    # Events
    events_max_len: Annotated[int, Field(gt=0)] = 1_000_000
    """Approximate cap of the Redis event stream (``store=redis``), all shards together."""
    events_memory_max_len: Annotated[int, Field(gt=0)] = 10_000
    """With ``store=memory`` the events go to a ring in the process that keeps the last this
    many (about 1 KB each); nothing reads it across processes, so it only needs to hold what
    a look at recent auctions wants. Older events fall off; a consumer group that had not
    read them counts them in ``rtb_events_ring_dropped_total``."""

    # Redis Cluster and the event stream's shards
    redis_cluster: bool = False
    """``redis_url`` names one node of a Redis Cluster; the client finds the others and
    sends each key to the node holding its slot. Every script touches one campaign's slot
    (its hash tag), so money stays atomic per campaign; the prefix must not hold a hash tag
    (``{`` or ``}``) of its own, which would put every key on one slot."""
    events_shards: Annotated[int, Field(ge=1, le=256)] | None = None
    """Stream keys the events are spread over (``KeySpace.events``), each batch on one;
    None: 1 on a single node (the key ``{prefix}events``), 16 on a cluster (every node gets
    some). ``rtb export`` reads every shard; export before changing it, since a shard left
    out of the new count is no longer read."""

    @model_validator(mode="after")
    def _cluster_fits(self) -> "Settings":
        if not self.redis_cluster:
            return self
        if self.store != "redis":
            raise ValueError("redis_cluster needs store=redis")
        if "{" in self.key_prefix or "}" in self.key_prefix:
            raise ValueError(
                "key_prefix must not contain '{' or '}' with redis_cluster: a hash tag in the "
                "prefix would put every key on one slot and break the per-campaign slots"
            )
        if urlsplit(self.redis_url).path.strip("/") not in ("", "0"):
            raise ValueError(
                "redis_url must use database 0 with redis_cluster (a cluster has no other)"
            )
        return self

    def event_shards(self) -> int:
        """How many stream keys the events go to (``events_shards``, or its default)."""
        if self.events_shards is not None:
            return self.events_shards
        return 16 if self.redis_cluster else 1

    # Logging
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool | None = None
    """None: JSON when stderr is not a terminal."""
    auction_log_sample_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
