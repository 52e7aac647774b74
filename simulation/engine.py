"""The day simulation: a day of synthetic traffic through the exchange's own code.

Nothing is mocked below the SSP. Each simulated exchange process has its CampaignRouter
(targeting, caps, value bids, pacing advice, budget holds), its Exchange (fan-out, bid
intake, second-price auction, notice URLs, releases of lost holds) and its NoticeService
(the billing notice settles the hold: the charge) and event sink; all processes share one
counter store (in memory, or Redis) and so one budget, one set of caps and one pacing state
per campaign. The outside market is a bidder of its own. Time is virtual: the exchange,
routers, ledger, notices and pacers all read a clock the loop moves from request to
request, so a day runs in minutes.

The run has two parts: *yesterday* (``simulation.yesterday``) teaches the pacers the
traffic's shape and sizes the budgets; *today* is the measured day. Both record each
campaign's offers as an auction log (``simulation.recording``), so that the report can
replay other strategies on the same traffic (``simulation.versus``). Each request goes to
one process (round robin) and the billing notices of its winners, after a random delay
(the ad has to render), to the next one, as a load balancer would spread them.
"""

import asyncio
import heapq
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import numpy as np

from bidding.campaigns import Campaign
from bidding.strategy import advice_at
from budget.ledger_watch import open_ledger
from budget.pacing_plan import day_bounds
from exchange.notice_token import NoticeKind
from exchange.notices import click_fields
from openrtb.request import BidRequest
from simulation.capacity import Capacity
from simulation.config import SimConfig
from simulation.market import MarketBidder, MarketModel, request_site_country
from simulation.progress import Progress
from simulation.recording import ClickModel, LogRecorder, Row
from simulation.replay.logs import AuctionLog
from simulation.scenario import Draft, draft_campaigns, router_spec, with_budgets
from simulation.stats import DayStats
from simulation.traffic import World, draw_traffic, requests
from simulation.wiring import Shared, SimProcess, VirtualClock, build_process
from simulation.yesterday import replay_yesterday, span

NOTICE_BASE = "https://sim.invalid"
_RECORD_S = 60.0
"""How often the pacing advice is recorded for the report (simulated seconds)."""


@dataclass(frozen=True, slots=True)
class CanaryOutcome:
    """How a simulated canary rollout went: its state at the end (each process's), when it
    was rolled back, and its arms' counts in the process that judged first."""

    states: tuple[str, ...]
    reason: str | None
    rolled_back_s: float | None
    arms: dict[str, dict[str, int]]


@dataclass(slots=True)
class SimResult:
    """Everything the report needs."""

    config: SimConfig
    drafts: list[Draft]
    campaigns: dict[str, Campaign]
    capacity: dict[str, Capacity]
    stats: DayStats
    final_spend: dict[str, int]
    """Each campaign's spend on the day, read back from the store."""
    events: int
    """Events written to the event stream today."""
    wall_s: float
    logs: dict[str, AuctionLog]
    """Each value-based campaign's auctions today (``simulation.recording``)."""
    yesterday_logs: dict[str, AuctionLog]
    """The same of yesterday: what a replayed strategy may be tuned on."""
    key_prefix: str = ""
    """The store keys of this run (deleted at its end on Redis)."""
    canary: CanaryOutcome | None = None
    """The canary rollout's day, when one ran."""


def _billing_token(burl: str | None) -> str | None:
    if not burl:
        return None
    values = parse_qs(urlsplit(burl).query).get("t")
    return values[0] if values else None


Clicks = Callable[[str, BidRequest], bool]


def clicker(model: ClickModel, rng: np.random.Generator) -> Clicks:
    """Whether an impression is clicked: drawn from its true click probability."""

    def clicked(campaign_id: str, request: BidRequest) -> bool:
        site, _ = request_site_country(request)
        return bool(rng.random() < model.probability(campaign_id, site))

    return clicked


class _Notice(NamedTuple):
    """A billing notice on its way: the SSP calls it when the ad has rendered."""

    due_s: float
    serial: int
    bid_time_s: float
    campaign_id: str
    token: str
    clicked: bool
    row: Row | None
    """The impression's row in the campaign's auction log."""


class Today:
    """The measured day: pacing ticks, auctions and (delayed) billing notices, in time order,
    counted into ``stats``."""

    def __init__(
        self,
        config: SimConfig,
        processes: Sequence[SimProcess],
        stats: DayStats,
        clicks: Clicks,
        rng: np.random.Generator,
        recorder: LogRecorder,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.processes = processes
        self.stats = stats
        self.clicks = clicks
        self._rng = rng
        count = len(processes)
        self._ticks = [stats.start_s + k * config.tick_s / count for k in range(count)]
        self._notices: list[_Notice] = []
        self._next_record_s = stats.start_s
        self.canary_rolled_back_s: float | None = None
        """When a process's guard first rolled the canary back (simulated seconds)."""

    async def tick(self, index: int, now_s: float) -> None:
        """Process ``index``'s pacing tick; the first process's view is recorded (about
        once a simulated minute)."""
        pacer = self.processes[index].pacer
        for process in self.processes:  # lost bids' holds are released within milliseconds
            await process.exchange.drain()
        await pacer.tick(now_s)
        canary = self.processes[index].services.canary
        if canary is not None and await canary.check():
            self.canary_rolled_back_s = now_s
        if index != 0 or now_s < self._next_record_s:
            return
        self._next_record_s = now_s + _RECORD_S
        for cid, tally in self.stats.campaigns.items():
            plan = pacer.plan(cid)
            if tally.plan is None and plan is not None and plan.day == self.config.day:
                tally.plan = plan
            state = pacer.state(cid)
            if state is not None:
                advice = advice_at(state.u)
                self.stats.signal(now_s, cid, advice.multiplier, advice.participation)

    async def auction(self, serial: int, now_s: float, request: BidRequest) -> None:
        """One request through one process; its campaign winners' notices are scheduled."""
        process = self.processes[serial % len(self.processes)]
        result = await process.exchange.auction(
            request, received_at=time.monotonic(), notice_base_url=NOTICE_BASE
        )
        self.stats.auction(now_s, len(request.imp), result.outcomes)
        rows = self.recorder.auction(now_s, result.seen or request, result.outcomes)
        if result.response is None:
            return
        mean_delay = self.config.notice_delay_s
        for seatbid in result.response.seatbid or ():
            for bid in seatbid.bid:
                token = _billing_token(bid.burl)
                if bid.cid not in self.stats.campaigns or token is None:
                    continue  # the outside market's win: its own DSP bills it
                delay = float(self._rng.exponential(mean_delay)) if mean_delay > 0 else 0.0
                clicked = self.clicks(bid.cid, request)
                row = rows.get((bid.cid, bid.impid))
                notice = _Notice(now_s + delay, serial, now_s, bid.cid, token, clicked, row)
                heapq.heappush(self._notices, notice)

    async def bill(self, notice: _Notice) -> None:
        """The billing notice, through the process after the one that ran the auction (a
        load balancer does not send it back to the same one)."""
        billing = self.processes[(notice.serial + 1) % len(self.processes)]
        claim = billing.notices.verify(NoticeKind.BILLING, notice.token)
        outcome = await billing.notices.handle(claim)
        clicked = notice.clicked and outcome.charged_micros > 0
        if clicked:
            if notice.row is not None:
                self.recorder.clicked(notice.row)
            billing.events.emit("click", **click_fields(claim))
        self.stats.billed(notice.bid_time_s, notice.campaign_id, outcome.charged_micros, clicked)

    async def until(self, now_s: float, clock: VirtualClock) -> None:
        """Every pacing tick and due notice up to ``now_s``, in time order."""
        ticks, notices = self._ticks, self._notices
        while True:
            k = min(range(len(ticks)), key=ticks.__getitem__)
            due = notices[0].due_s if notices else math.inf
            at = min(ticks[k], due)
            if at > now_s:
                return
            clock.now_s = at
            if due <= ticks[k]:
                await self.bill(heapq.heappop(notices))
            else:
                await self.tick(k, at)
                ticks[k] += self.config.tick_s

    async def run(
        self, traffic: Iterator[tuple[float, BidRequest]], total: int, clock: VirtualClock
    ) -> None:
        """Every request in time order, then the notices still on their way."""
        progress = Progress("today", total, self.config.progress)
        for serial, (now_s, request) in enumerate(traffic):
            await self.until(now_s, clock)
            clock.now_s = now_s
            await self.auction(serial, now_s, request)
            if serial % 16 == 0:
                await asyncio.sleep(0)  # the exchange's background releases of lost holds
            if serial % 1000 == 0:
                at = datetime.fromtimestamp(now_s, tz=UTC).strftime("%d %H:%M UTC")
                progress.update(serial, at)
        while self._notices:
            clock.now_s = self._notices[0].due_s
            await self.bill(heapq.heappop(self._notices))
        progress.update(total)


async def simulate(config: SimConfig) -> SimResult:
    """Yesterday, then today; today's figures."""
    started = time.monotonic()
    rngs = iter([np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(16)])
    world = World.sample(next(rngs))
    drafts = draft_campaigns(config.campaigns, next(rngs))
    start, end = span(drafts, config.day)
    clock = VirtualClock(start)
    shared = Shared.open(config, clock)
    try:
        await open_ledger(shared.store, shared.keys, [d.id for d in drafts])
        clicks = ClickModel(world, {d.id: d.base_ctr for d in drafts})
        capacity, before = await replay_yesterday(
            config, world, drafts, shared, clock, rngs, clicks
        )
        drafts = with_budgets(drafts, capacity, next(rngs))
        spec = router_spec(drafts, day=config.day)
        market = MarketBidder(MarketModel(world), next(rngs), clock)
        process_seeds = np.random.SeedSequence([config.seed, 1]).generate_state(config.processes)
        processes = [
            build_process(spec, shared, clock, market, config, int(seed)) for seed in process_seeds
        ]
        days = {c.id: day_bounds(config.day, c.time_zone) for c in spec.campaigns}
        stats = DayStats(start, end, days)
        recorder = LogRecorder(spec.campaigns, clicks)
        today = Today(config, processes, stats, clicker(clicks, next(rngs)), next(rngs), recorder)
        traffic = draw_traffic(
            world, next(rngs), start_s=start, end_s=end, requests=config.requests
        )
        clock.now_s = start
        await today.run(requests(world, traffic), len(traffic), clock)
        canary = _canary_outcome(processes, today.canary_rolled_back_s)
        events = 0
        for process in processes:
            events += await process.aclose()
        spend_keys = [shared.keys.spend(c.id, config.day) for c in spec.campaigns]
        spent = await shared.store.read_many(spend_keys)
        labels = next(rngs)  # after every draw of the day: recording changes none of them
    finally:
        await shared.aclose()
    return SimResult(
        config=config,
        drafts=list(drafts),
        campaigns={c.id: c for c in spec.campaigns},
        capacity=capacity,
        stats=stats,
        final_spend={c.id: s for c, s in zip(spec.campaigns, spent, strict=True)},
        events=events,
        wall_s=time.monotonic() - started,
        logs=recorder.logs(labels, "today"),
        yesterday_logs=before.logs(labels, "yesterday"),
        key_prefix=shared.keys.prefix,
        canary=canary,
    )


def _canary_outcome(
    processes: Sequence[SimProcess], rolled_back_s: float | None
) -> CanaryOutcome | None:
    watches = [p.services.canary for p in processes if p.services.canary is not None]
    if not watches:
        return None
    judged = next((w for w in watches if w.breach is not None), watches[0]).canary
    return CanaryOutcome(
        tuple(w.canary.state.value for w in watches),
        judged.reason,
        rolled_back_s,
        judged.arm_counts(),
    )
