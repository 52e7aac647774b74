"""What every auction leaves behind: its metrics, its events and, for a sampled few, one
canonical log line — written in one place for the HTTP route, the simulation and the
benchmarks alike.

Events carry the request as the bidders saw it (the exchange's privacy rules applied), so
the event log never holds more personal data than a bidder was given. The ``auction`` event
also names the supply path it arrived by (``supply.paths``: sellers' ids, bounded) and what
the traffic screen found (``ivt``), for ``rtb supply-paths``.
"""

import random
import time
from collections.abc import Callable, Mapping, Sequence

import orjson
import structlog

from bidding.campaigns import Campaign
from bidding.event_log import WINNER_EVENT, ad_key, winner_fields
from bidding.landscape_file import SHADING_EVENT, Observation, format_observations
from exchange.bidders.base import Offer
from exchange.events import EventSink
from exchange.metrics import Metrics
from exchange.results import AuctionResult
from fraud.verdict import Verdict
from openrtb.request import BidRequest
from supply.paths import supply_path

log = structlog.get_logger("exchange.auction")


class AuctionRecorder:
    """Records finished auctions into metrics, the event sink and the sampled log."""

    def __init__(
        self,
        events: EventSink,
        metrics: Metrics,
        campaigns: Mapping[tuple[str, str], Campaign],
        *,
        log_sample_rate: float = 0.0,
        sampler: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._metrics = metrics
        self._campaigns = campaigns
        self._log_sample_rate = log_sample_rate
        self._sampler = sampler or random.Random()
        self._clock = clock
        self._monotonic = monotonic

    def record(
        self,
        request: BidRequest,
        result: AuctionResult,
        received_at: float,
        account: str | None = None,
    ) -> None:
        """Metrics for every auction; its ``auction`` event (and ``winner_features`` for the
        in-process campaigns' wins); one log line for a sampled few. ``account``: the SSP
        account the request came from (None: ``open`` mode)."""
        metrics = self._metrics
        outcome = "bid" if result.response is not None else "nobid"
        metrics.requests.labels(outcome).inc()
        if result.nobid is not None:
            metrics.nobids.labels(result.nobid.value).inc()
        elapsed_s = self._monotonic() - received_at
        metrics.latency.observe(elapsed_s)
        self._events.emit(
            "auction",
            auction_id=result.auction_id,
            request_id=request.id,
            account=account,
            imps=len(request.imp),
            mechanism=result.mechanism,
            outcome=outcome,
            nobid=result.nobid.value if result.nobid else None,
            winners=";".join(  # imp | bidder/seat/bid id | bid micros | clearing micros
                f"{o.imp_id}|{o.winner.bid_id}|{o.winner.price_micros}|{o.clearing_price_micros}"
                for o in result.outcomes
                if o.winner is not None
            ),
            ivt=_screening(result.screening),
            # JSON: imp and bid ids are the client's strings, any character in them.
            variants=orjson.dumps(result.variant_bids).decode() if result.variant_bids else None,
            # The audit of the ARTF agents: [agent, stage, outcome, [[intent, path, reason]]].
            agents=_agents(result) if result.agents else None,
            **supply_path(request).fields(),
        )
        if result.winners and self._campaigns:
            self._record_winner_features(request, result)
        if self._log_sample_rate > 0 and self._sampler.random() < self._log_sample_rate:
            log.info(
                "auction",
                auction_id=result.auction_id,
                request_id=request.id,
                account=account,
                imps=len(request.imp),
                outcome=outcome,
                winners=[w.candidate.bid_id for w in result.winners],
                bidders={c.bidder: c.status.value for c in result.calls},
                elapsed_ms=round(elapsed_s * 1000, 3),
            )

    def shading(self, auction_id: str, bidder: str, observed: Sequence[Observation]) -> None:
        """What an in-process router learnt from one first-price auction (``rtb landscapes``
        rebuilds the fleet's landscapes from these)."""
        self._events.emit(
            SHADING_EVENT,
            auction_id=auction_id,
            bidder=bidder,
            observations=format_observations(observed),
        )

    def _record_winner_features(self, request: BidRequest, result: AuctionResult) -> None:
        """One ``winner_features`` event per winning bid of an in-process campaign: the raw
        feature inputs it was scored on, keyed by auction, imp and bid id, so the event log
        can train the models (``bidding.event_log``). Test auctions are not logged (never
        billed)."""
        seen = result.seen
        if request.test == 1 or seen is None:
            return
        now_s: float | None = None
        for entry in result.winners:
            campaign = self._campaigns.get((entry.bidder, entry.bid.cid or ""))
            if campaign is None:
                continue
            bid = entry.bid
            imp = next((i for i in seen.imp if i.id == bid.impid), None)
            creative = next((c for c in campaign.creatives if c.id == bid.adid), None)
            if imp is None or creative is None:
                continue
            if now_s is None:
                now_s = self._clock()
            offer = bid if isinstance(bid, Offer) else None
            experiment = {"variant": offer.variant} if offer and offer.variant else {}
            if offer and offer.canary:
                experiment["canary"] = offer.canary
            self._events.emit(
                WINNER_EVENT,
                auction_id=result.auction_id,
                imp_id=bid.impid,
                bid_id=bid.id,
                bidder=entry.bidder,
                **experiment,
                **winner_fields(
                    seen, imp, now_s, ad_key(campaign, creative), offer and offer.profile
                ),
            )


def _screening(verdict: Verdict) -> str | None:
    """The screen's findings as ``action:check`` items (``block:crawler,flag:schain``);
    None for a clean request (the field is then left out)."""
    found = [f"flag:{finding.check.value}" for finding in verdict.flagged]
    if verdict.blocked is not None:
        found.append(f"block:{verdict.blocked.check.value}")
    return ",".join(found) or None


def _agents(result: AuctionResult) -> str:
    """Each agent call of the auction and what became of every mutation it proposed."""
    return orjson.dumps(
        [
            [
                report.agent,
                report.stage.value,
                report.outcome,
                [[d.intent, d.path, d.reason] for d in report.decisions],
            ]
            for report in result.agents
        ]
    ).decode()
