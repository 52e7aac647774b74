"""The exchange's request path, free of any web framework: fan out, collect, auction, answer.

Given a validated BidRequest it works out what each impression is sold under (floors in
exchange micros, deals, seat rules), calls every bidder in parallel under one deadline
derived from ``tmax``, turns their bids into auction candidates (dropping invalid ones with
a loss reason), runs the mechanism the request calls for (``auction.mechanism`` per imp, or
the VCG page auction), and builds the BidResponse with clearing prices, signed notice URLs
and substituted markup. A bidder that fails, hangs or answers garbage costs only its own
bids. ``Exchange.auction`` is the one entry point: the auction and its recording.
"""

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import structlog

from agents.config import Stage
from agents.host import AgentHost, AgentReport, BidView
from agents.policy import raise_activated_floors
from auction.currency import CurrencyRates, UnknownCurrency, answer_currency
from auction.mechanism import run_imp
from auction.page import page_slots, run_page
from auction.terms import publisher_id, terms_for
from auction.types import Candidate, ImpOutcome, ImpTerms
from budget.store import StoreUnavailable
from exchange.accounts import Account
from exchange.bid_intake import Entry, Rejected, collect_bids, collect_offers
from exchange.bidders.base import (
    Bidder,
    BidLike,
    BidResult,
    CampaignHost,
    HoldingBidder,
    LearningBidder,
    Offer,
    OfferingBidder,
)
from exchange.bidders.errors import BidderError
from exchange.config import ExchangeConfig
from exchange.deadlines import bidders_budget_ms, queue_wait_limit_ms
from exchange.ids import AuctionIds, random_auction_ids
from exchange.loss_notices import loss_notice_urls
from exchange.metrics import Metrics
from exchange.notice_token import NoticeSigner
from exchange.path_dedup import SharedSeenPaths
from exchange.recording import AuctionRecorder
from exchange.results import AuctionPlan, AuctionResult, BidderCall, CallStatus, NoBid
from exchange.winning_bids import build_response
from fraud.brand_safety import BrandSafety
from fraud.screen import Screen, with_flags
from fraud.verdict import CLEAN, Verdict
from openrtb.bid_rules import BidRules
from openrtb.enums import AuctionType
from openrtb.errors import InvalidRequest
from openrtb.identity import PROCESS_USER_KEYS, UserKeys
from openrtb.privacy import Grant, may_profile, privacy_signals, restrict
from openrtb.request import BidRequest, SupplyChainNode
from openrtb.response import BidResponse
from openrtb.schain import with_node
from openrtb.upgrade import upgrade_request
from supply.dedup import SeenPaths

__all__ = [
    "AuctionPlan",
    "AuctionResult",
    "BidderCall",
    "CallStatus",
    "Exchange",
    "ExchangeConfig",
    "NoBid",
]

log = structlog.get_logger("exchange.core")

_MS: Final = 1000.0
AGENT_SHARE: Final = 0.5
"""The share of the bidders' time the bid-request agents may take (the rest is the fan-out)."""


class Exchange:
    """Runs auctions among the bidders of a registry."""

    def __init__(
        self,
        bidders: Mapping[str, Bidder],
        signer: NoticeSigner,
        config: ExchangeConfig,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        notify: Callable[[str], object] | None = None,
        user_keys: UserKeys = PROCESS_USER_KEYS,
        screen: Screen | None = None,
        brand_safety: BrandSafety | None = None,
        ids: AuctionIds = random_auction_ids,
        recorder: AuctionRecorder | None = None,
        seen_paths: SeenPaths | None = None,
        shared_paths: SharedSeenPaths | None = None,
        agents: AgentHost | None = None,
    ) -> None:
        self._ids = ids
        self._agents = agents
        """The ARTF agents called at the auction's stages (None: none)."""
        self._seen_paths = seen_paths if seen_paths is not None else SeenPaths()
        """Impressions of accounts with ``dedup_window_s`` seen lately, by their shortest path."""
        self._shared_paths = shared_paths
        """The same, shared by every process through the store (instead of ``seen_paths``)."""
        self._recorder = recorder
        self._screen = screen
        self._brand = brand_safety if brand_safety is not None and not brand_safety.empty else None
        self._all_bidders = tuple(bidders.values())
        self._bidder_list = self._all_bidders
        """The bidders the fan-out calls: all of them but those an operator disabled."""
        self._disabled: frozenset[str] = frozenset()
        self._holders = {
            name: bidder for name, bidder in bidders.items() if isinstance(bidder, HoldingBidder)
        }
        self._background: set[asyncio.Task[Any]] = set()
        self._notify = notify
        self._signer = signer
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._monotonic = monotonic
        self._user_keys = user_keys
        self._capped_campaigns = frozenset(
            (name, campaign.id)
            for name, bidder in bidders.items()
            if isinstance(bidder, CampaignHost)
            for campaign in bidder.campaigns
            if campaign.frequency_caps
        )
        """(bidder, campaign) pairs whose notices count a frequency cap: only their tokens
        carry the user's key."""
        self._vendors = {
            name: config.own_gvl_vendor_id
            if isinstance(bidder, CampaignHost)
            else config.gvl_vendor_ids.get(name)
            for name, bidder in bidders.items()
        }
        """The GVL vendor id each bidder's privacy view is built for (None: none)."""
        self._click_trackers = frozenset(
            name for name, bidder in bidders.items() if isinstance(bidder, CampaignHost)
        )
        """Bidders whose landing pages the exchange signs into click redirects."""
        self._offering = {
            name: bidder for name, bidder in bidders.items() if isinstance(bidder, OfferingBidder)
        }
        """The bidders on the typed lane (a protocol check per call would cost microseconds)."""

    @property
    def screen(self) -> Screen | None:
        """The traffic-quality screen (its data-centre ranges are refreshed in place)."""
        return self._screen

    @property
    def rates(self) -> CurrencyRates:
        """The exchange's currency rates (tracking converts conversion values with them)."""
        return self._config.rates

    def replace_rates(self, rates: CurrencyRates) -> None:
        """Use ``rates`` from the next auction on (the reference table was refreshed); an
        auction under way finishes on the rates it started with."""
        if rates.exchange_currency != self._config.currency:
            raise ValueError(
                f"the exchange currency is {self._config.currency}, not {rates.exchange_currency}"
            )
        self._config = replace(self._config, rates=rates)

    @property
    def disabled(self) -> frozenset[str]:
        """Names of the bidders the fan-out leaves out (``set_enabled``)."""
        return self._disabled

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Call bidder ``name`` in the auctions that start from now on, or leave it out;
        KeyError for a bidder the exchange does not have."""
        if all(bidder.name != name for bidder in self._all_bidders):
            raise KeyError(name)
        self._disabled = self._disabled - {name} if enabled else self._disabled | {name}
        self._bidder_list = tuple(b for b in self._all_bidders if b.name not in self._disabled)

    def bidder_timeout_s(
        self, request: BidRequest, received_at: float, *, external: bool = False
    ) -> float:
        """min(bidder timeout, what is left of tmax after the reserve for the response and,
        with ``external`` bidders called, the loop's turns still to come (deadlines.py))."""
        cfg = self._config
        tmax_ms = request.tmax or cfg.default_tmax_ms
        elapsed_ms = (self._monotonic() - received_at) * _MS
        left_ms = bidders_budget_ms(tmax_ms, cfg.response_reserve_ms, elapsed_ms, external)
        return max(0.0, min(float(cfg.bidder_timeout_ms), left_ms)) / _MS

    def queue_wait_limit_s(self, cap_s: float) -> float:
        """The longest a bid request may wait for its handler (``cap_s``, or less when
        external bidders make an auction take several turns of the loop); for the
        admission middleware, which sheds a request that waited longer."""
        cfg = self._config
        external = any(self._external(bidder) for bidder in self._all_bidders)
        fan_out_ms = cfg.bidder_timeout_ms if external else 0
        limit_ms = queue_wait_limit_ms(
            cap_s * _MS, cfg.default_tmax_ms, cfg.response_reserve_ms, fan_out_ms
        )
        return limit_ms / _MS

    def _external(self, bidder: Bidder) -> bool:
        """Called over the network (its answer takes turns of the loop), not in-process."""
        return bidder.name not in self._offering

    def plan(
        self,
        request: BidRequest,
        config: ExchangeConfig | None = None,
        account: Account | None = None,
    ) -> AuctionPlan:
        """What the exchange sells of ``request``, decided before any bidder is called.

        The answer's currency is the first of the request's ``cur`` the exchange can
        convert to (its own when ``cur`` is absent); InvalidRequest names ``cur`` when it
        can convert to none. An imp whose floor is in a currency without a rate is refused
        (left out of what the bidders see); InvalidRequest names the first such field when
        no imp is left, or a malformed page-auction extension. An SSP account's floors
        apply on top of the exchange's.
        """
        cfg = config or self._config
        floor_rules = cfg.floor_rules + account.floor_rules if account else cfg.floor_rules
        currency = answer_currency(request.cur, cfg.rates)
        full = upgrade_request(request)  # decode did it; a request built in code may not
        signals = privacy_signals(full)  # consent strings decoded once, for every bidder
        # Before anything is sent to any bidder; each external one gets its own (_sends).
        request = restrict(full, signals.grant(self._config.own_gvl_vendor_id))
        terms: dict[str, ImpTerms] = {}
        refused: list[tuple[int, UnknownCurrency]] = []
        for index, imp in enumerate(request.imp):
            try:
                terms[imp.id] = terms_for(request, imp, rates=cfg.rates, floor_rules=floor_rules)
            except UnknownCurrency as exc:
                refused.append((index, exc))
        if refused and not terms:
            index, unknown = refused[0]
            imp = request.imp[index]
            field = "bidfloorcur" if imp.bidfloorcur == unknown.currency else "pmp.deals"
            raise InvalidRequest(f"imp[{index}].{field}", str(unknown))
        page = page_slots(request, terms, default=cfg.page_auction_default)
        if refused:
            kept = [imp for imp in request.imp if imp.id in terms]
            request = request.model_copy(update={"imp": kept})
            full = full.model_copy(update={"imp": kept})
        return AuctionPlan(request, terms, page, full, signals, currency)

    async def auction(
        self,
        request: BidRequest,
        *,
        received_at: float,
        notice_base_url: str,
        account: Account | None = None,
    ) -> AuctionResult:
        """The auction for ``request`` (see ``run``), recorded: metrics, events, log line.

        What the HTTP route, the simulation and the benchmarks call. An InvalidRequest is
        raised before anything is recorded but the invalid-request count.
        """
        try:
            result = await self.run(
                request, received_at=received_at, notice_base_url=notice_base_url, account=account
            )
        except InvalidRequest:
            self._metrics.requests.labels("invalid").inc()
            raise
        if self._recorder is not None:
            self._recorder.record(
                request, result, received_at, account.id if account is not None else None
            )
        return result

    async def run(
        self,
        request: BidRequest,
        *,
        received_at: float,
        notice_base_url: str,
        account: Account | None = None,
    ) -> AuctionResult:
        """The auction for ``request``; ``received_at`` is monotonic time of arrival.

        Raises InvalidRequest when nothing can be sold (see ``plan``). The traffic screen
        runs first, on the request as sent: a blocked one reaches no bidder. The SSP
        ``account`` it came from (None: ``open`` mode) adds its privacy rules, screening
        actions and floors; one with ``dedup_window_s`` has a repeated impression answered
        no-bid before anything else (``supply.dedup``).
        """
        if account is not None:
            window_s = account.dedup_window_s
            if window_s and await self._duplicate(request, window_s):
                return AuctionResult(None, NoBid.DUPLICATE_PATH, (), (), ())
            request = account.applied_to(request)
        verdict = self._screened(request, account)
        if verdict is not CLEAN:
            self._count_screened(verdict)
            if verdict.blocked is not None:
                return AuctionResult(None, NoBid.BLOCKED, (), (), (), screening=verdict)
        config = self._config  # one set of rates for the whole auction (replace_rates)
        plan = self.plan(request, config, account)
        if verdict.flagged:  # every bidder's view carries the findings, whatever its grant
            plan = replace(
                plan,
                request=with_flags(plan.request, verdict),
                full=with_flags(plan.full, verdict) if plan.full is not None else None,
            )
        request = plan.request
        timeout_s = self.bidder_timeout_s(request, received_at)
        if timeout_s <= 0:
            return AuctionResult(None, NoBid.NO_TIME, (), (), (), seen=request, screening=verdict)
        auction_id = self._ids()  # bidders' request id; what money is keyed by (ids.py)
        reports: tuple[AgentReport, ...] = ()
        agents = self._agents
        if agents is not None and agents.active(Stage.BID_REQUEST):
            # At most half of what the bidders would have: they are the auction.
            plan, reports = await self._request_agents(
                agents, plan, config, account, auction_id, timeout_s * AGENT_SHARE
            )
            request = plan.request
            timeout_s = self.bidder_timeout_s(request, received_at)
            if timeout_s <= 0:
                return AuctionResult(
                    None, NoBid.NO_TIME, (), (), (), seen=request, screening=verdict, agents=reports
                )
        sends = self._sends(plan, auction_id)
        if any(self._external(bidder) for bidder, _, _ in sends):
            timeout_s = self.bidder_timeout_s(request, received_at, external=True)
            if timeout_s <= 0:
                return AuctionResult(
                    None, NoBid.NO_TIME, (), (), (), seen=request, screening=verdict
                )
        deadline = self._monotonic() + timeout_s
        if len(sends) == 1:  # no task to schedule: the one call runs inline
            bidder, view, _ = sends[0]
            answers = [await self._call(bidder, view, deadline)]
        else:
            answers = await self._fan_out([(bidder, view) for bidder, view, _ in sends], deadline)
        calls: list[BidderCall] = []
        entries: list[Entry] = []
        rejected: list[Rejected] = []
        rules = self._bid_rules(request)
        for (call, response), (_, _, sent) in zip(answers, sends, strict=True):
            if isinstance(response, BidResponse) or response is None:
                intake = collect_bids(call.bidder, response, sent, rules, config, self._metrics)
            else:  # an in-process router's typed offers
                intake = collect_offers(call.bidder, response, sent, rules, config, self._metrics)
            entries.extend(intake.entries)
            rejected.extend(intake.rejected)
            calls.append(
                BidderCall(call.bidder, call.status, call.latency_ms, *intake.counts)
                if response is not None
                else call
            )
        if entries and agents is not None and agents.active(Stage.BID_RESPONSE):
            entries, shaded = await self._bid_agents(
                agents, plan, entries, auction_id, received_at, config
            )
            reports += shaded
        mechanism, outcomes = self._auction(plan, entries, auction_id)
        by_id = {entry.candidate.bid_id: entry for entry in entries}
        if self._holders:
            self._release_holds(request, auction_id, outcomes, by_id, rejected)
        if self._notify is not None:
            for url in loss_notice_urls(auction_id, outcomes, by_id, rejected, config.rates):
                self._notify(url)
        won = [(o, by_id[o.winner.bid_id]) for o in outcomes if o.winner is not None]
        variant_bids = _variant_bids(entries)
        if not won:
            reason = NoBid.NOT_CLEARED if entries else NoBid.NO_BIDS
            return AuctionResult(
                None,
                reason,
                outcomes,
                tuple(calls),
                (),
                mechanism,
                auction_id,
                request,
                verdict,
                variant_bids,
                reports,
            )
        for _, entry in won:
            self._metrics.child(self._metrics.wins, entry.bidder).inc()
        profiled = any(entry.bidder in self._click_trackers for _, entry in won) and may_profile(
            plan.signals, self._config.own_gvl_vendor_id
        )
        response = build_response(
            request,
            auction_id,
            [(entry, outcome.clearing_price_micros) for outcome, entry in won],
            signer=self._signer,
            rates=config.rates,
            currency=plan.currency,
            notice_ttl_s=config.notice_ttl_s,
            now_s=int(self._clock()),
            notice_base_url=notice_base_url,
            user_key=self._user_keys.of(request) if self._capped_campaigns or profiled else None,
            capped_campaigns=self._capped_campaigns,
            click_trackers=self._click_trackers,
            profiled=profiled,
        )
        winners = tuple(entry for _, entry in won)
        return AuctionResult(
            response,
            None,
            outcomes,
            tuple(calls),
            winners,
            mechanism,
            auction_id,
            request,
            verdict,
            variant_bids,
            reports,
        )

    async def _request_agents(
        self,
        agents: AgentHost,
        plan: AuctionPlan,
        config: ExchangeConfig,
        account: Account | None,
        auction_id: str,
        timeout_s: float,
    ) -> tuple[AuctionPlan, tuple[AgentReport, ...]]:
        """The bid-request stage: the plan made again from the request as the agents'
        accepted mutations left it, so floors, deals and privacy rules are the exchange's
        own once more; the plan as it was when the new one would lose an imp."""
        full = plan.full or plan.request
        try:
            change, reports = await agents.on_request(full, plan.signals, auction_id, timeout_s)
        except Exception as exc:  # a bug in the agent stage must never fail the auction
            log.error("agents_failed", stage="bid_request", error=repr(exc))
            return plan, ()
        if not change.changed:
            return plan, reports
        try:
            changed = self.plan(change.request, config, account)
        except InvalidRequest:
            changed = None
        if changed is None or len(changed.request.imp) != len(plan.request.imp):
            log.warning("agent_changes_dropped", auction_id=auction_id)
            return plan, reports
        if change.activated:
            raised = raise_activated_floors(changed.terms, change.activated)
            page = changed.page
            if page is not None:  # its slots carry their position's CTR: raised apart
                slots = raise_activated_floors({s.imp_id: s for s in page}, change.activated)
                page = [slots[slot.imp_id] for slot in page]
            changed = replace(changed, terms=raised, page=page)
        return changed, reports

    async def _bid_agents(
        self,
        agents: AgentHost,
        plan: AuctionPlan,
        entries: list[Entry],
        auction_id: str,
        received_at: float,
        config: ExchangeConfig,
    ) -> tuple[list[Entry], tuple[AgentReport, ...]]:
        """The bid-response stage: the entries with the shaded prices the policy accepted."""
        timeout_s = self.bidder_timeout_s(plan.request, received_at)
        bids = [
            BidView(
                entry.bidder,
                entry.seat,
                entry.bid.id,
                entry.bid.impid,
                entry.candidate.price_micros,
                entry.candidate.deal_id,
                entry.bid.adomain,
                entry.bid.crid,
            )
            for entry in entries
        ]
        try:
            prices, reports = await agents.on_bids(
                plan.full or plan.request, plan.signals, bids, auction_id, timeout_s, config.rates
            )
        except Exception as exc:  # a bug in the agent stage must never fail the auction
            log.error("agents_failed", stage="bid_response", error=repr(exc))
            return entries, ()
        if not prices:
            return entries, reports
        shaded = list(entries)
        for index, price in prices.items():
            entry = shaded[index]
            if 1 <= price < entry.candidate.price_micros:  # only ever down
                shaded[index] = entry._replace(
                    candidate=replace(entry.candidate, price_micros=price)
                )
        return shaded, reports

    async def _duplicate(self, request: BidRequest, window_s: float) -> bool:
        """Whether an opted-in account's request repeats an impression (``supply.dedup``)."""
        if self._shared_paths is not None:
            return await self._shared_paths.duplicate(request, window_s)
        return self._seen_paths.duplicate(request, window_s, self._monotonic())

    def _bid_rules(self, request: BidRequest) -> BidRules:
        """The request's blocks, plus the exchange's and its publisher's (brand safety)."""
        brand = self._brand
        if brand is None:
            return BidRules.of(request)
        blocks = brand.blocks(request)
        return BidRules.of(request, badv=blocks.badv, bcat=blocks.bcat, widen=brand.taxonomy.widen)

    def _screened(self, request: BidRequest, account: Account | None) -> Verdict:
        screen = self._screen
        if screen is None:
            return CLEAN
        if account is not None and account.screening:
            return screen.screen(request, screen.actions_with(account.screening))
        return screen.screen(request)

    def _count_screened(self, verdict: Verdict) -> None:
        metrics = self._metrics
        for finding in verdict.flagged:
            reason = str(int(finding.reason))
            metrics.child(metrics.screened, finding.check.value, reason, "flag").inc()
        if verdict.blocked is not None:
            found = verdict.blocked
            reason = str(int(found.reason))
            metrics.child(metrics.screened, found.check.value, reason, "block").inc()

    def _sends(
        self, plan: AuctionPlan, auction_id: str
    ) -> list[tuple[Bidder, BidRequest, frozenset[str]]]:
        """Each bidder with at least one eligible imp, the view of the request it is sent
        (only those imps, what its vendor may receive of personal data, the exchange's
        supply-chain node appended) and their ids. Bidders eligible for the same imps under
        the same grant share one view, so it is built (and encoded) once."""
        full = plan.full or plan.request
        grants: dict[int | None, Grant] = {}
        bases: dict[Grant, BidRequest] = {}
        views: dict[tuple[frozenset[str], Grant], BidRequest] = {}
        node = self._node(full)
        sends = []
        for bidder in self._bidder_list:
            imps = [imp for imp in full.imp if bidder.eligible(imp)]
            if not imps:
                continue
            ids = frozenset(imp.id for imp in imps)
            vendor = self._vendors.get(bidder.name)
            grant = grants.get(vendor)
            if grant is None:
                grant = grants[vendor] = plan.signals.grant(vendor)
            view = views.get((ids, grant))
            if view is None:
                base = bases.get(grant)
                if base is None:
                    base = bases[grant] = restrict(full, grant)
                narrowed = base.model_copy(update={"id": auction_id, "imp": imps})
                view = views[ids, grant] = with_node(narrowed, node)
            sends.append((bidder, view, ids))
        return sends

    def _node(self, request: BidRequest) -> SupplyChainNode:
        return SupplyChainNode(
            asi=self._config.seller_domain,
            sid=publisher_id(request) or "unknown",
            rid=request.id,
            hp=1,
        )

    def _release_holds(
        self,
        request: BidRequest,
        auction_id: str,
        outcomes: Sequence[ImpOutcome],
        entries: Mapping[str, Entry],
        rejected: Sequence[Rejected],
    ) -> None:
        """Tell bidders that hold budget per bid which of their bids did not win (and, for a
        test auction, that none will be billed), and — in first-price auctions, where the
        in-process routers shade — what each of their bids met; off the request path."""
        lost: dict[str, list[BidLike]] = {}
        met: dict[str, list[BidResult]] = {}
        learn = request.at == AuctionType.FIRST_PRICE
        for outcome in outcomes:
            for loss in outcome.losses:
                entry = entries[loss.candidate.bid_id]
                if entry.bidder in self._holders:
                    lost.setdefault(entry.bidder, []).append(entry.bid)
                    if learn:
                        result = BidResult(entry.bid, False, loss.min_to_win_micros)
                        met.setdefault(entry.bidder, []).append(result)
            if outcome.winner is not None:
                entry = entries[outcome.winner.bid_id]
                if entry.bidder in self._holders:
                    if request.test == 1:
                        lost.setdefault(entry.bidder, []).append(entry.bid)
                    if learn:
                        result = BidResult(entry.bid, True, outcome.clearing_price_micros)
                        met.setdefault(entry.bidder, []).append(result)
        for dropped in rejected:
            if dropped.bidder in self._holders:
                lost.setdefault(dropped.bidder, []).append(dropped.bid)
        for name in lost.keys() | met.keys():
            task = asyncio.create_task(
                self._feedback(name, request, auction_id, lost.get(name, ()), met.get(name, ()))
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _feedback(
        self,
        bidder: str,
        request: BidRequest,
        auction_id: str,
        lost: Sequence[BidLike],
        met: Sequence[BidResult],
    ) -> None:
        holder = self._holders[bidder]
        if lost:
            try:
                await holder.release_lost(auction_id, lost)
            except Exception as exc:  # the holds expire on their own; no money is at risk
                log.warning("release_failed", bidder=bidder, error=repr(exc))
        if met and isinstance(holder, LearningBidder):
            try:
                observed = holder.observe(request, met)
            except Exception as exc:  # learning is best effort; bidding goes on
                log.error("observe_failed", bidder=bidder, error=repr(exc))
            else:
                if observed and self._recorder is not None:
                    self._recorder.shading(auction_id, bidder, observed)

    async def drain(self) -> None:
        """Wait for background releases (graceful shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _fan_out(
        self, sends: Sequence[tuple[Bidder, BidRequest]], deadline: float
    ) -> list[tuple[BidderCall, BidResponse | Sequence[Offer] | None]]:
        """Every call at once, until all have answered or ``deadline``.

        At the deadline the auction itself wakes and leaves the late calls behind, cancelled
        (each bidder counts its own timeout). Waiting instead for each late call's timer,
        its cancellation and the gathering of the results would queue the answer behind the
        loop's other work three times more: under load, that is what makes it late.
        """
        if not sends:
            return []
        started = self._monotonic()
        tasks = [asyncio.create_task(self._call(bidder, view, deadline)) for bidder, view in sends]
        await asyncio.wait(tasks, timeout=max(0.0, deadline - started))
        answers: list[tuple[BidderCall, BidResponse | Sequence[Offer] | None]] = []
        for task, (bidder, _) in zip(tasks, sends, strict=True):
            if task.done():
                answers.append(task.result())
                continue
            task.cancel()
            self._background.add(task)  # ends on its own; drain waits for it
            task.add_done_callback(self._background.discard)
            answers.append((self._counted(bidder, CallStatus.TIMEOUT, started), None))
        return answers

    def _counted(self, bidder: Bidder, status: CallStatus, started: float) -> BidderCall:
        """The call's record, counted in the bidder's call and latency metrics (and a
        timeout among its errors)."""
        elapsed_s = self._monotonic() - started
        metrics = self._metrics
        if status is CallStatus.TIMEOUT:
            metrics.bidder_errors.labels(bidder.name, "timeout").inc()
        metrics.child(metrics.bidder_calls, bidder.name, status.value).inc()
        metrics.child(metrics.bidder_latency, bidder.name).observe(elapsed_s)
        return BidderCall(bidder.name, status, elapsed_s * _MS)

    async def _call(
        self, bidder: Bidder, request: BidRequest, deadline: float
    ) -> tuple[BidderCall, BidResponse | Sequence[Offer] | None]:
        started = self._monotonic()
        timeout_s = max(0.0, deadline - started)
        status = CallStatus.NO_BID
        response: BidResponse | Sequence[Offer] | None = None
        try:
            async with asyncio.timeout(timeout_s):
                offering = self._offering.get(bidder.name)
                if offering is not None:
                    response = await offering.offers(request, timeout_s)
                else:
                    response = await bidder.request_bids(request, timeout_s)
        except TimeoutError:
            status = CallStatus.TIMEOUT
        except BidderError as exc:  # counted, not logged: a sick DSP must not flood the log
            status = CallStatus.ERROR
            self._metrics.bidder_errors.labels(bidder.name, exc.kind).inc()
        except StoreUnavailable:  # in-process bidding pauses; the store's breaker logs it
            status = CallStatus.ERROR
            self._metrics.bidder_errors.labels(bidder.name, "store_unavailable").inc()
        except Exception as exc:  # a bug in a bidder must never fail the auction
            status = CallStatus.ERROR
            self._metrics.bidder_errors.labels(bidder.name, "internal").inc()
            log.error("bidder_failed", bidder=bidder.name, error=repr(exc))
        if status is CallStatus.NO_BID and response is not None:
            bid = bool(response.seatbid) if isinstance(response, BidResponse) else bool(response)
            status = CallStatus.BID if bid else status
        return self._counted(bidder, status, started), response

    def _auction(
        self, plan: AuctionPlan, entries: Sequence[Entry], auction_id: str
    ) -> tuple[str, tuple[ImpOutcome, ...]]:
        """The mechanism's name and the outcomes (per imp with bids; per slot on a page)."""
        request = plan.request
        by_imp: dict[str, list[Candidate]] = {}
        for entry in entries:
            by_imp.setdefault(entry.bid.impid, []).append(entry.candidate)
        seed = hmac.new(self._config.tiebreak_secret, auction_id.encode(), hashlib.sha256)
        tiebreak_id = seed.hexdigest()[:32]
        if plan.page is not None:
            return "vcg", run_page(
                plan.page,
                by_imp,
                auction_id=tiebreak_id,
                increment_micros=self._config.rules.increment_micros,
            )
        rules = self._config.rules
        outcomes = tuple(
            run_imp(
                plan.terms[imp_id],
                candidates,
                at=request.at,
                rules=rules,
                auction_id=f"{tiebreak_id}:{imp_id}",
            )
            for imp_id, candidates in by_imp.items()
        )
        return ("first_price" if request.at == 1 else "second_price"), outcomes


def _variant_bids(entries: Sequence[Entry]) -> tuple[tuple[str, str, str], ...]:
    """The accepted in-process bids that carried an A/B-test variant."""
    return tuple(
        (entry.bid.impid, entry.bid.id, entry.bid.variant)
        for entry in entries
        if isinstance(entry.bid, Offer) and entry.bid.variant
    )
