"""The exchange's request path, free of any web framework: fan out, collect, auction, answer.

Given a validated BidRequest it calls every bidder in parallel under one deadline derived
from ``tmax``, turns their bids into auction candidates (dropping invalid ones with a loss
reason), runs the auction per impression in ``auction``, and builds the BidResponse with
clearing prices, signed notice URLs and substituted markup. A bidder that fails, hangs or
answers garbage costs only its own bids.
"""

import asyncio
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import structlog

from app.bidders.base import Bidder
from app.metrics import Metrics
from app.notice_token import NoticeClaim, NoticeKind, NoticeSigner
from auction.second_price import run_second_price
from auction.types import QUALITY_ONE, Candidate, ImpOutcome
from openrtb.enums import LossReason
from openrtb.macros import AuctionMacros, substitute
from openrtb.money import cpm_to_micros, micros_to_cpm
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse, SeatBid

log = structlog.get_logger("app.exchange")

_MS: Final = 1000.0


class NoBid(StrEnum):
    """Why an auction ended without a winner (the ``reason`` label of the no-bid metric)."""

    NO_TIME = "no_time"
    """``tmax`` left nothing for the bidders after the response reserve."""
    NO_BIDS = "no_bids"
    """No bidder returned a valid bid."""
    NOT_CLEARED = "not_cleared"
    """There were valid bids, but none cleared (below floors, or imps the auction refused)."""


class CallStatus(StrEnum):
    """How one bidder call ended."""

    BID = "bid"
    NO_BID = "nobid"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """The auction rules and limits of one exchange, in the units used inside."""

    currency: str
    increment_micros: int
    default_tmax_ms: int
    bidder_timeout_ms: int
    response_reserve_ms: int
    notice_ttl_s: int
    tiebreak_secret: bytes
    quality_ppm: Mapping[str, int]
    """By ``seat/crid`` or ``seat``; QUALITY_ONE when absent."""


@dataclass(frozen=True, slots=True)
class BidderCall:
    """One bidder's part in one auction (metrics, debug output)."""

    bidder: str
    status: CallStatus
    latency_ms: float
    bids_kept: int = 0
    bids_dropped: int = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """A received bid, where it came from, and its auction candidate."""

    bidder: str
    seat: str
    bid: Bid
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class AuctionResult:
    """Everything the route needs to answer and to record the auction."""

    response: BidResponse | None
    nobid: NoBid | None
    outcomes: tuple[ImpOutcome, ...]
    calls: tuple[BidderCall, ...]
    winners: tuple[Entry, ...]


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
    ) -> None:
        self._bidders = bidders
        self._signer = signer
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._monotonic = monotonic

    def bidder_timeout_s(self, request: BidRequest, received_at: float) -> float:
        """min(bidder timeout, what is left of tmax after the reserve for the response)."""
        tmax_ms = request.tmax or self._config.default_tmax_ms
        elapsed_ms = (self._monotonic() - received_at) * _MS
        left_ms = tmax_ms - self._config.response_reserve_ms - elapsed_ms
        return max(0.0, min(float(self._config.bidder_timeout_ms), left_ms)) / _MS

    async def run(
        self, request: BidRequest, *, received_at: float, notice_base_url: str
    ) -> AuctionResult:
        """The auction for ``request``; ``received_at`` is monotonic time of arrival."""
        timeout_s = self.bidder_timeout_s(request, received_at)
        if timeout_s <= 0:
            return AuctionResult(None, NoBid.NO_TIME, (), (), ())
        answers = await asyncio.gather(
            *(self._call(bidder, request, timeout_s) for bidder in self._bidders.values())
        )
        imp_ids = {imp.id for imp in request.imp}
        calls: list[BidderCall] = []
        entries: list[Entry] = []
        for call, response in answers:
            kept, dropped = self._collect(call.bidder, response, imp_ids, entries)
            calls.append(
                BidderCall(call.bidder, call.status, call.latency_ms, kept, dropped)
                if response is not None
                else call
            )
        outcomes = self._auction(request, entries)
        by_id = {entry.candidate.bid_id: entry for entry in entries}
        winners = tuple(
            by_id[outcome.winner.bid_id] for outcome in outcomes if outcome.winner is not None
        )
        if not winners:
            reason = NoBid.NOT_CLEARED if entries else NoBid.NO_BIDS
            return AuctionResult(None, reason, outcomes, tuple(calls), ())
        prices = {o.winner.bid_id: o.clearing_price_micros for o in outcomes if o.winner}
        response = self._response(request, winners, prices, notice_base_url)
        return AuctionResult(response, None, outcomes, tuple(calls), winners)

    async def _call(
        self, bidder: Bidder, request: BidRequest, timeout_s: float
    ) -> tuple[BidderCall, BidResponse | None]:
        started = self._monotonic()
        status = CallStatus.NO_BID
        response: BidResponse | None = None
        try:
            async with asyncio.timeout(timeout_s):
                response = await bidder.request_bids(request, timeout_s)
        except TimeoutError:
            status = CallStatus.TIMEOUT
        except Exception as exc:  # a bidder's failure must never fail the auction
            status = CallStatus.ERROR
            log.warning("bidder_error", bidder=bidder.name, error=type(exc).__name__)
        if status is not CallStatus.NO_BID:
            self._metrics.bidder_errors.labels(bidder.name, status.value).inc()
        elif response is not None and response.seatbid:
            status = CallStatus.BID
        latency_ms = (self._monotonic() - started) * _MS
        return BidderCall(bidder.name, status, latency_ms), response

    def _collect(
        self,
        bidder: str,
        response: BidResponse | None,
        imp_ids: set[str],
        entries: list[Entry],
    ) -> tuple[int, int]:
        """Append the valid bids of one response as entries; (kept, dropped)."""
        if response is None or not response.seatbid:
            return 0, 0
        kept = dropped = 0
        currency_ok = (response.cur or "USD") == self._config.currency
        for seatbid in response.seatbid:
            seat = seatbid.seat or bidder
            for bid in seatbid.bid:
                if not currency_ok or bid.impid not in imp_ids or not _valid_price(bid.price):
                    dropped += 1
                    self._metrics.invalid_bids.labels(
                        bidder, str(int(LossReason.INVALID_BID_RESPONSE))
                    ).inc()
                    continue
                kept += 1
                candidate = Candidate(
                    bid_id=f"{bidder}/{seat}/{bid.id}",
                    seat=seat,
                    price_micros=cpm_to_micros(bid.price),
                    quality_ppm=self._quality(seat, bid.crid),
                )
                entries.append(Entry(bidder, seat, bid, candidate))
        self._metrics.bids.labels(bidder).inc(kept)
        return kept, dropped

    def _quality(self, seat: str, crid: str | None) -> int:
        table = self._config.quality_ppm
        if crid is not None and (score := table.get(f"{seat}/{crid}")) is not None:
            return score
        return table.get(seat, QUALITY_ONE)

    def _auction(self, request: BidRequest, entries: Sequence[Entry]) -> tuple[ImpOutcome, ...]:
        by_imp: dict[str, list[Candidate]] = {}
        for entry in entries:
            by_imp.setdefault(entry.bid.impid, []).append(entry.candidate)
        seed = hmac.new(self._config.tiebreak_secret, request.id.encode(), hashlib.sha256)
        tiebreak_id = seed.hexdigest()[:32]
        outcomes = []
        for imp in request.imp:
            candidates = by_imp.get(imp.id)
            if not candidates or imp.bidfloorcur != self._config.currency:
                continue  # floors in other currencies need a rate table (auction rules issue)
            outcomes.append(
                run_second_price(
                    imp.id,
                    candidates,
                    floor_micros=cpm_to_micros(imp.bidfloor),
                    increment_micros=self._config.increment_micros,
                    auction_id=tiebreak_id,
                )
            )
        return tuple(outcomes)

    def _response(
        self,
        request: BidRequest,
        winners: Sequence[Entry],
        prices: Mapping[str, int],
        notice_base_url: str,
    ) -> BidResponse:
        now_s = int(self._clock())
        by_seat: dict[str, list[Bid]] = {}
        for entry in winners:
            price_micros = prices[entry.candidate.bid_id]
            by_seat.setdefault(entry.seat, []).append(
                self._winning_bid(request, entry, price_micros, now_s, notice_base_url)
            )
            self._metrics.wins.labels(entry.bidder).inc()
        return BidResponse(
            id=request.id,
            cur=self._config.currency,
            seatbid=[SeatBid(seat=seat, bid=bids) for seat, bids in by_seat.items()],
        )

    def _winning_bid(
        self,
        request: BidRequest,
        entry: Entry,
        price_micros: int,
        now_s: int,
        notice_base_url: str,
    ) -> Bid:
        bid = entry.bid
        macros = AuctionMacros(
            auction_id=request.id,
            bid_id=bid.id,
            imp_id=bid.impid,
            seat_id=entry.seat,
            ad_id=bid.adid,
            price_micros=price_micros,
            currency=self._config.currency,
        )

        def notice_url(kind: NoticeKind, forward: str | None) -> str:
            claim = NoticeClaim(
                kind=kind,
                auction_id=request.id,
                imp_id=bid.impid,
                bid_id=bid.id,
                seat=entry.seat,
                bidder=entry.bidder,
                campaign_id=bid.cid or "",
                ad_id=bid.adid or "",
                price_micros=price_micros,
                currency=self._config.currency,
                billable=request.test != 1,
                issued_at_s=now_s,
                expires_at_s=now_s + self._config.notice_ttl_s,
                forward_url=forward,
            )
            return f"{notice_base_url}/notices/{kind.value}?t={self._signer.sign(claim)}"

        return bid.model_copy(
            update={
                "price": micros_to_cpm(price_micros),
                "nurl": notice_url(NoticeKind.WIN, bid.nurl),
                "burl": notice_url(NoticeKind.BILLING, bid.burl),
                "adm": substitute(bid.adm, macros) if bid.adm else bid.adm,
            }
        )


def _valid_price(price: float | None) -> bool:
    return price is not None and math.isfinite(price) and price > 0
