"""Win and billing notices: verify, charge exactly once, record, forward.

The charge is keyed by the impression (shared by its win and billing notices); the charge,
the notice's own first-seen marker and the frequency-cap counts are one store step, so no
failure can leave an impression charged without its notice marked or the other way round.
A replay within the token's life finds the markers and changes nothing; a replay after it
finds an expired token.

The first billing notice of a billable impression of an in-process campaign also counts the
impression for the creative's Thompson-sampling statistics (``EngagementRecorder``), once;
the impression's first notice of either kind counts it in the user's profile, where the
request allowed one (``exchange.profiles``).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import structlog

from bidding.campaigns import Campaign
from bidding.exploration import EngagementRecorder
from bidding.profiles import ProfileEvent
from budget.accounts import ChargeResult, Settlement
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.store import CounterStore, StoreUnavailable
from exchange.bidders.registry import BidderRegistry
from exchange.events import EventSink
from exchange.forwarder import NoticeForwarder
from exchange.metrics import Metrics
from exchange.notice_spool import SpooledNotice
from exchange.notice_token import (
    InvalidNotice,
    NoticeClaim,
    NoticeKind,
    NoticeSigner,
    for_notice,
)
from exchange.profiles import ProfileBook
from exchange.winning_bids import bidder_macros
from openrtb.macros import substitute
from openrtb.money import impression_cost_micros

log = structlog.get_logger("exchange.notices")

_MARKER_MARGIN_S: Final = 3600
"""Idempotency markers outlive the token by this much, so no replay slips between them."""


class NoticeResult(StrEnum):
    """What a valid notice did."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """The result and the money it moved (0 when nothing was charged)."""

    result: NoticeResult
    charged_micros: int


class NoticeService:
    """Handles notices for the auctions this exchange (any of its processes) ran."""

    def __init__(
        self,
        *,
        signer: NoticeSigner,
        store: CounterStore,
        keys: KeySpace,
        ledger: SpendLedger,
        registry: BidderRegistry,
        forwarder: NoticeForwarder,
        events: EventSink,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        engagement: EngagementRecorder | None = None,
        profiles: ProfileBook | None = None,
    ) -> None:
        self.signer = signer
        self._store = store
        self.keys = keys
        self._ledger = ledger
        self._registry = registry
        self._forwarder = forwarder
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._engagement = engagement
        self._profiles = profiles

    def verify(self, kind: NoticeKind, token: str) -> NoticeClaim:
        """The claim of a token valid for this endpoint; InvalidNotice otherwise."""
        return for_notice(self.signer.verify(token, self._clock()), kind)

    async def handle(self, claim: NoticeClaim) -> NoticeOutcome:
        """Charge once, mark processed once, record and forward the first time only.

        For an in-process campaign all of it is one atomic store step (``SpendLedger.settle``),
        so the notice that charged is the one whose event carries the micros: the event log
        sums to what the store charged, whatever duplicates race. Other notices only claim
        their marker.
        """
        now_s = self._clock()
        marker_ttl_s = max(1, int(claim.expires_at_s - now_s)) + _MARKER_MARGIN_S
        campaign = self._registry.campaign(claim.bidder, claim.campaign_id)
        settlement: str | None = None
        if campaign is not None and claim.billable:
            outcome = await self._charge(claim, campaign, marker_ttl_s)
            first, charged = outcome.first_notice, outcome.charged_micros
            settlement = outcome.settlement.name.lower()
            if outcome.settlement is not Settlement.DUPLICATE:  # the impression's first notice
                await self._count_in_profile(claim, campaign)
        else:
            if campaign is None and claim.bidder in self._registry.in_process:
                log.error(
                    "notice_unknown_campaign", bidder=claim.bidder, campaign_id=claim.campaign_id
                )
            first = await self._store.claim(
                self.keys.notice(
                    claim.kind.value, claim.impression_id, campaign.id if campaign else None
                ),
                marker_ttl_s,
            )
            charged = 0
        result = NoticeResult.RECORDED if first else NoticeResult.DUPLICATE
        self._metrics.notices.labels(claim.kind.value, result.value).inc()
        if first:
            self._events.emit(
                f"notice_{claim.kind.value}",
                auction_id=claim.auction_id,
                imp_id=claim.imp_id,
                bid_id=claim.bid_id,
                seat=claim.seat,
                bidder=claim.bidder,
                campaign_id=claim.campaign_id,
                price_micros=claim.price_micros,
                currency=claim.currency,
                charged_micros=charged,
                settlement=settlement,
                issued_at_s=claim.issued_at_s,
                expires_at_s=claim.expires_at_s,
            )
            if claim.forward_url:
                self._forwarder.submit(_forward_url(claim, claim.forward_url))
            if claim.kind is NoticeKind.BILLING:
                await self._count_for_creative(claim)
        return NoticeOutcome(result, charged)

    async def settle_spooled(self, notice: SpooledNotice) -> bool:
        """Handle a notice that waited in the spool, as if it arrived when it was received
        (its token is checked against that time). False when its token does not verify."""
        kind, token, received_at_s = notice
        try:
            claim = for_notice(self.signer.verify(token, received_at_s), kind)
        except InvalidNotice as exc:
            log.error("spooled_notice_invalid", kind=kind.value, error=str(exc))
            return False
        outcome = await self.handle(claim)
        self._metrics.spool_settled.labels(kind.value, outcome.result.value).inc()
        return True

    async def _count_for_creative(self, claim: NoticeClaim) -> None:
        """Count a shown impression for its creative's CTR statistics, on the first billing
        notice only (its marker is already set): a store failure here loses this one count
        rather than failing a notice that has been charged and recorded."""
        if self._engagement is None or not claim.billable or not claim.ad_id:
            return
        if self._registry.campaign(claim.bidder, claim.campaign_id) is None:
            return
        try:
            await self._engagement.record_impression(claim.campaign_id, claim.ad_id)
        except StoreUnavailable as exc:
            log.warning(
                "creative_impression_uncounted", campaign_id=claim.campaign_id, error=str(exc)
            )

    async def _count_in_profile(self, claim: NoticeClaim, campaign: Campaign) -> None:
        """Count a shown impression in its user's profile, where the request allowed it."""
        if self._profiles is not None and claim.profiled and claim.user_key:
            await self._profiles.record(
                ProfileEvent.IMPRESSION, claim.user_key, campaign, claim.ad_id
            )

    async def _charge(
        self, claim: NoticeClaim, campaign: Campaign, marker_ttl_s: int
    ) -> ChargeResult:
        """Settle the notice of a billable in-process impression. The impression's first
        notice also counts the user against the campaign's frequency caps, in the same
        step."""
        cost_micros = impression_cost_micros(claim.price_micros)
        outcome = await self._ledger.settle(
            (campaign.id, campaign.time_zone),
            budget_micros=campaign.daily_budget_micros,
            impression_id=claim.impression_id,
            cost_micros=cost_micros,
            bid_time_s=claim.issued_at_s,
            marker_ttl_s=marker_ttl_s,
            notice_kind=claim.kind.value,
            caps=[(cap.count, cap.window) for cap in campaign.frequency_caps],
            user=claim.user_key,
        )
        settlement = outcome.settlement
        self._metrics.settlements.labels(settlement.name.lower()).inc()
        if settlement is Settlement.REFUSED:
            log.warning(
                "settlement_refused_over_budget",
                bidder=claim.bidder,
                campaign_id=campaign.id,
                cost_micros=cost_micros,
            )
        if outcome.charged_micros:
            self._metrics.charged_micros.labels(claim.bidder).inc(outcome.charged_micros)
        return outcome


def click_fields(claim: NoticeClaim) -> dict[str, str]:
    """The ``click`` event of a first click on ``claim``'s impression (the tracking route's
    and the simulation's alike: the canary and the training join read these fields)."""
    return {
        "auction_id": claim.auction_id,
        "imp_id": claim.imp_id,
        "bid_id": claim.bid_id,
        "bidder": claim.bidder,
        "campaign_id": claim.campaign_id,
        "creative_id": claim.ad_id,
    }


def _forward_url(claim: NoticeClaim, template: str) -> str:
    macros = bidder_macros(claim, ad_id=claim.ad_id or None)
    return substitute(template, macros, url_encode=True)
