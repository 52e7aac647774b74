"""The exchange orchestrator with scripted bidders: deadlines, failures, garbage, pricing."""

import asyncio
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from auction.currency import CurrencyRates
from auction.types import QUALITY_ONE, AuctionRules
from bidding.landscape_file import Observation
from exchange.bidders.base import BidResult, Offer
from exchange.bidders.errors import BidderHTTPError
from exchange.core import CallStatus, Exchange, ExchangeConfig, NoBid
from exchange.metrics import Metrics
from exchange.notice_token import InvalidNotice, NoticeKind, NoticeSigner, for_notice
from openrtb.errors import InvalidRequest
from openrtb.imp import Imp
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse
from tests.builders import banner_imp, banner_request, bid_response

SIGNER = NoticeSigner(b"exchange-test-secret-0123456789")


class Scripted:
    """A bidder that answers what it is told, after an optional delay, or raises."""

    def __init__(
        self,
        name: str,
        answer: dict[str, Any] | None = None,
        *,
        delay_s: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self._answer = answer
        self._delay_s = delay_s
        self._error = error
        self.timeouts: list[float] = []
        self.imps: set[str] | None = None
        self.seen: list[BidRequest] = []

    def ready(self) -> bool:
        return True

    def eligible(self, imp: Imp) -> bool:
        return self.imps is None or imp.id in self.imps

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        self.timeouts.append(timeout_s)
        self.seen.append(request)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        if self._error is not None:
            raise self._error
        return None if self._answer is None else BidResponse.model_validate(self._answer)


def config(**overrides: Any) -> ExchangeConfig:
    fields: dict[str, Any] = {
        "rates": CurrencyRates("USD", {"EUR": Decimal("1.10")}),
        "rules": AuctionRules(increment_micros=10_000),
        "floor_rules": (),
        "page_auction_default": False,
        "default_tmax_ms": 100,
        "bidder_timeout_ms": 50,
        "response_reserve_ms": 5,
        "notice_ttl_s": 3600,
        "tiebreak_secret": b"tiebreak",
        "quality_ppm": {},
    }
    fields.update(overrides)
    return ExchangeConfig(**fields)


def exchange(
    *bidders: Scripted,
    metrics: Metrics | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    **overrides: Any,
) -> Exchange:
    return Exchange(
        {b.name: b for b in bidders},
        SIGNER,
        config(**overrides),
        metrics or Metrics(),
        clock=lambda: 1_000_000.0,
        monotonic=monotonic,
    )


def offer(seat: str, cpm: float, **bid: Any) -> dict[str, Any]:
    answer = bid_response(price=cpm)
    answer["seatbid"][0]["seat"] = seat
    answer["seatbid"][0]["bid"][0].update(id=f"bid-{seat}", **bid)
    return answer


def request(**overrides: Any) -> BidRequest:
    return BidRequest.model_validate(banner_request(**overrides))


async def run(ex: Exchange, req: BidRequest | None = None) -> Any:
    return await ex.run(
        req or request(), received_at=time.monotonic(), notice_base_url="https://x.example"
    )


async def test_second_price_with_increment_and_signed_notices() -> None:
    result = await run(exchange(Scripted("a", offer("s1", 2.0)), Scripted("b", offer("s2", 1.5))))
    assert result.response is not None
    (seatbid,) = result.response.seatbid
    (bid,) = seatbid.bid
    assert (seatbid.seat, bid.price) == ("s1", 1.51)
    assert bid.nurl is not None
    assert bid.burl is not None
    assert bid.nurl.startswith("https://x.example/notices/win?t=")
    assert bid.burl.startswith("https://x.example/notices/billing?t=")
    token = parse_qs(urlsplit(bid.nurl).query)["t"][0]
    assert parse_qs(urlsplit(bid.burl).query)["t"] == [token]  # one token per winning bid
    shared = SIGNER.verify(token, now_s=1_000_000)
    win = for_notice(shared, NoticeKind.WIN)
    assert (win.kind, win.price_micros, win.bidder, win.seat) == (
        NoticeKind.WIN,
        1_510_000,
        "a",
        "s1",
    )
    assert win.forward_url == "https://dsp.example/win?id=${AUCTION_ID}&p=${AUCTION_PRICE}"
    billing = for_notice(shared, NoticeKind.BILLING)
    assert billing.kind is NoticeKind.BILLING
    assert billing.impression_id == win.impression_id
    assert billing.forward_url == shared.billing_url
    with pytest.raises(InvalidNotice, match="no click redirect"):  # not a tracked creative
        for_notice(shared, NoticeKind.CLICK)


async def test_markup_macros_get_the_clearing_price() -> None:
    adm = '<img src="https://t.example/i?p=${AUCTION_PRICE}&a=${AUCTION_ID}">'
    result = await run(
        exchange(Scripted("a", offer("s1", 2.0, adm=adm)), Scripted("b", offer("s2", 1.0)))
    )
    (bid,) = result.response.seatbid[0].bid
    assert result.response.bidid == result.auction_id
    assert bid.adm == f'<img src="https://t.example/i?p=1.01&a={result.auction_id}">'


async def test_quality_can_reverse_the_order() -> None:
    ex = exchange(
        Scripted("a", offer("s1", 2.0)),
        Scripted("b", offer("s2", 1.5)),
        quality_ppm={"s1": QUALITY_ONE // 2},
    )
    result = await run(ex)
    (seatbid,) = result.response.seatbid
    assert (seatbid.seat, seatbid.bid[0].price) == ("s2", 1.01)


async def test_a_hanging_bidder_is_cut_at_the_deadline_and_the_rest_still_win() -> None:
    hanging = Scripted("slow", offer("s9", 9.0), delay_s=5)
    metrics = Metrics()
    started = time.monotonic()
    result = await run(exchange(hanging, Scripted("a", offer("s1", 2.0)), metrics=metrics))
    assert time.monotonic() - started < 1.0
    assert result.response.seatbid[0].seat == "s1"
    statuses = {c.bidder: c.status for c in result.calls}
    assert statuses == {"slow": CallStatus.TIMEOUT, "a": CallStatus.BID}
    assert metrics.bidder_errors.labels("slow", "timeout")._value.get() == 1


async def test_deadline_is_the_smaller_of_bidder_timeout_and_what_tmax_leaves() -> None:
    a = Scripted("a")
    await run(exchange(a), request(tmax=30))
    assert a.timeouts[0] == pytest.approx(0.025, abs=0.002)
    b = Scripted("b")
    await run(exchange(b), request(tmax=500))
    assert b.timeouts[0] == pytest.approx(0.050, abs=0.002)


async def test_no_time_left_means_no_call_and_no_bid() -> None:
    a = Scripted("a", offer("s1", 2.0))
    ex = exchange(a)
    result = await ex.run(
        request(tmax=20), received_at=time.monotonic() - 1, notice_base_url="https://x"
    )
    assert result.response is None
    assert result.nobid is NoBid.NO_TIME
    assert a.timeouts == []


class Offering(Scripted):
    """An in-process bidder on the typed lane that never offers."""

    async def offers(self, request: BidRequest, timeout_s: float) -> Sequence[Offer]:
        self.timeouts.append(timeout_s)
        return ()


async def test_a_request_that_waited_leaves_its_external_bidders_less_time() -> None:
    # 10 ms waited: tmax 100 - reserve 5 - 10 - 5 turns of 10 ms still to come = 35 ms.
    now = time.monotonic()
    a, b = Scripted("a"), Offering("b")
    for bidder in (a, b):
        await exchange(bidder, monotonic=lambda: now).run(
            request(tmax=100), received_at=now - 0.010, notice_base_url="https://x"
        )
    assert a.timeouts == [pytest.approx(0.035)]
    # In-process bidders answer in the same turn: only the elapsed time counts (85 ms).
    assert b.timeouts == [pytest.approx(0.050)]


async def test_the_turns_to_come_never_cut_external_bidders_below_the_minimum() -> None:
    a = Scripted("a", offer("s1", 2.0))
    now = time.monotonic()
    result = await exchange(a, monotonic=lambda: now).run(  # 5 more turns of 20 ms: too late
        request(tmax=100), received_at=now - 0.020, notice_base_url="https://x"
    )
    assert a.timeouts == [pytest.approx(0.010)]  # what tmax leaves (75 ms), at least 10 ms
    assert result.response is not None


def test_external_bidders_shorten_the_wait_admission_allows() -> None:
    external = exchange(Scripted("a"), Offering("b"), default_tmax_ms=100)
    assert external.queue_wait_limit_s(0.020) == pytest.approx(0.045 / 6)
    assert exchange(Offering("b")).queue_wait_limit_s(0.020) == 0.020


async def test_a_raising_bidder_costs_only_its_own_bids() -> None:
    broken = Scripted("broken", error=RuntimeError("boom"))
    result = await run(exchange(broken, Scripted("a", offer("s1", 2.0))))
    assert {c.bidder: c.status for c in result.calls}["broken"] is CallStatus.ERROR
    assert result.response.seatbid[0].seat == "s1"


@pytest.mark.parametrize(
    "bad",
    [{"impid": "no-such-imp"}, {"price": -1.0}, {"price": 0.0}],
)
async def test_invalid_bids_are_dropped_and_counted(bad: dict[str, Any]) -> None:
    metrics = Metrics()
    result = await run(
        exchange(
            Scripted("bad", offer("s9", 5.0, **bad)),
            Scripted("a", offer("s1", 2.0)),
            metrics=metrics,
        )
    )
    assert result.response.seatbid[0].seat == "s1"
    assert {c.bidder: c.bids_dropped for c in result.calls} == {"bad": 1, "a": 0}
    assert metrics.invalid_bids.labels("bad", "3")._value.get() == 1


async def test_bids_in_a_currency_without_a_rate_are_dropped() -> None:
    francs = offer("s9", 5.0)
    francs["cur"] = "CHF"
    result = await run(exchange(Scripted("chf", francs)))
    assert result.response is None
    assert result.nobid is NoBid.NO_BIDS
    assert result.calls[0].bids_dropped == 1


async def test_bids_in_another_currency_are_converted_rounding_down() -> None:
    euros = offer("s9", 2.0)  # 2.00 EUR = 2.20 USD
    euros["cur"] = "EUR"
    result = await run(exchange(Scripted("eur", euros), Scripted("usd", offer("s1", 2.1))))
    (seatbid,) = result.response.seatbid
    assert (seatbid.seat, seatbid.bid[0].price) == ("s9", 2.11)
    assert result.response.cur == "USD"


async def test_duplicate_bid_ids_in_one_response_keep_the_first() -> None:
    twice = offer("s1", 2.0)
    twice["seatbid"][0]["bid"].append(dict(twice["seatbid"][0]["bid"][0], price=9.0))
    result = await run(exchange(Scripted("a", twice)))
    assert result.calls[0].bids_dropped == 1
    assert result.response.seatbid[0].bid[0].price == 0.51


async def test_first_price_request_pays_the_bid() -> None:
    result = await run(
        exchange(Scripted("a", offer("s1", 2.0)), Scripted("b", offer("s2", 1.5))), request(at=1)
    )
    assert result.mechanism == "first_price"
    assert result.response.seatbid[0].bid[0].price == 2.0


async def test_a_floor_in_a_currency_without_a_rate_refuses_that_imp() -> None:
    seen: list[list[str]] = []

    class Spy(Scripted):
        async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
            seen.append([imp.id for imp in request.imp])
            return await super().request_bids(request, timeout_s)

    two = request(imp=[banner_imp("1"), banner_imp("2", bidfloorcur="CHF")])
    result = await run(exchange(Spy("a", offer("s1", 2.0))), two)
    assert seen == [["1"]]
    assert result.response.seatbid[0].bid[0].impid == "1"
    with pytest.raises(InvalidRequest) as refused:
        await run(exchange(Spy("a")), request(imp=[banner_imp("1", bidfloorcur="CHF")]))
    assert refused.value.field == "imp[0].bidfloorcur"


async def test_below_floor_means_no_bid() -> None:
    result = await run(exchange(Scripted("a", offer("s1", 0.4))))
    assert result.response is None
    assert result.nobid is NoBid.NOT_CLEARED
    (outcome,) = result.outcomes
    assert outcome.winner is None
    assert outcome.losses[0].reason == 100


async def test_test_requests_issue_non_billable_notices() -> None:
    result = await run(exchange(Scripted("a", offer("s1", 2.0))), request(test=1))
    bid = result.response.seatbid[0].bid[0]
    claim = SIGNER.verify(parse_qs(urlsplit(bid.burl).query)["t"][0], now_s=1_000_000)
    assert claim.billable is False


async def test_each_imp_has_its_own_auction() -> None:
    two = offer("s1", 2.0)
    second = dict(two["seatbid"][0]["bid"][0], id="bid-s1-2", impid="2", price=3.0)
    two["seatbid"][0]["bid"].append(second)
    result = await run(
        exchange(Scripted("a", two), Scripted("b", offer("s2", 1.0))), request(imps=2)
    )
    prices = {b.impid: b.price for b in result.response.seatbid[0].bid}
    assert prices == {"1": 1.01, "2": 0.51}


async def test_bidders_get_only_their_eligible_imps_and_the_exchange_schain_node() -> None:
    banner_only, none, both = Scripted("a", offer("s1", 2.0)), Scripted("n"), Scripted("b")
    banner_only.imps, none.imps = {"1"}, set()
    await run(exchange(banner_only, none, both), request(imps=2))
    assert none.seen == []
    (seen_a,), (seen_b,) = banner_only.seen, both.seen
    assert [imp.id for imp in seen_a.imp] == ["1"]
    assert [imp.id for imp in seen_b.imp] == ["1", "2"]
    assert seen_b.source is not None
    assert seen_b.source.schain is not None
    node = seen_b.source.schain.nodes[-1]
    assert (node.asi, node.sid, node.rid, node.hp) == (
        "rtb-exchange.invalid",
        "pub-8953",
        "req-6f1c2a9e-banner",
        1,
    )


async def test_a_bid_for_an_imp_the_bidder_was_not_sent_is_dropped() -> None:
    sneaky = Scripted("a", offer("s1", 2.0, impid="2"))
    sneaky.imps = {"1"}
    result = await run(exchange(sneaky), request(imps=2))
    assert result.response is None
    assert result.calls[0].bids_dropped == 1


async def test_bidder_errors_are_counted_by_kind() -> None:
    metrics = Metrics()
    failing = Scripted("down", error=BidderHTTPError(503))
    buggy = Scripted("buggy", error=KeyError("oops"))
    await run(exchange(failing, buggy, Scripted("a", offer("s1", 2.0)), metrics=metrics))
    assert metrics.bidder_errors.labels("down", "http_status")._value.get() == 1
    assert metrics.bidder_errors.labels("buggy", "internal")._value.get() == 1


async def test_bids_breaking_the_request_rules_are_dropped_with_their_reason() -> None:
    notices: list[str] = []
    metrics = Metrics()
    blocked = offer("s9", 5.0, adomain=["blocked.example"], lurl="https://d/l?r=${AUCTION_LOSS}")
    ex = Exchange(
        {b.name: b for b in (Scripted("bad", blocked), Scripted("a", offer("s1", 2.0)))},
        SIGNER,
        config(),
        metrics,
        clock=lambda: 1_000_000.0,
        notify=notices.append,
    )
    result = await run(ex)
    assert result.response.seatbid[0].seat == "s1"
    assert metrics.invalid_bids.labels("bad", "205")._value.get() == 1
    assert notices == ["https://d/l?r=205"]


async def test_seats_a_bidder_is_not_configured_for_are_dropped() -> None:
    ex = exchange(
        Scripted("dsp", offer("not-mine", 5.0)),
        Scripted("a", offer("s1", 2.0)),
        bidder_seats={"dsp": frozenset({"mine"})},
    )
    result = await run(ex)
    assert result.response.seatbid[0].seat == "s1"
    assert {c.bidder: c.bids_dropped for c in result.calls} == {"dsp": 1, "a": 0}


async def test_bidders_never_see_personal_data_under_coppa() -> None:
    spy = Scripted("a", offer("s1", 2.0))
    await run(exchange(spy), request(regs={"coppa": 1}))
    (seen,) = spy.seen
    assert seen.user is not None
    assert seen.device is not None
    assert (seen.user.id, seen.user.buyeruid, seen.user.eids) == (None, None, None)
    assert seen.device.ip == "203.0.113.0"


async def test_a_bidder_in_another_currency_reads_its_prices_in_its_own_currency() -> None:
    notices: list[str] = []
    euros = offer(
        "s9",
        2.0,
        adm="p=${AUCTION_PRICE}&c=${AUCTION_CURRENCY}",
        nurl="https://d/w?p=${AUCTION_PRICE}",
    )
    euros["cur"] = "EUR"  # 2.00 EUR = 2.20 USD
    loser = offer("s1", 2.1, lurl="https://u/l?min=${AUCTION_MIN_TO_WIN}&c=${AUCTION_CURRENCY}")
    ex = Exchange(
        {b.name: b for b in (Scripted("eur", euros), Scripted("usd", loser))},
        SIGNER,
        config(),
        Metrics(),
        clock=lambda: 1_000_000.0,
        notify=notices.append,
    )
    result = await run(ex)
    (bid,) = result.response.seatbid[0].bid
    assert bid.price == 2.11  # to the SSP: USD, the exchange currency
    assert bid.adm == "p=1.918181&c=EUR"  # 2.11 USD / 1.10, rounded down
    claim = SIGNER.verify(parse_qs(urlsplit(bid.nurl).query)["t"][0], now_s=1_000_000)
    assert (claim.bid_currency, claim.bid_price_micros) == ("EUR", 1_918_181)
    assert notices == ["https://u/l?min=2.200001&c=USD"]


class LearningScripted(Scripted):
    """A scripted bidder that holds budget and learns from feedback, as routers do."""

    def __init__(self, name: str, answer: dict[str, Any]) -> None:
        super().__init__(name, answer)
        self.released: list[str] = []
        self.observed: list[tuple[str, bool, int | None]] = []

    async def release_lost(self, auction_id: str, lost: Sequence[Bid]) -> None:
        self.released.extend(b.id for b in lost)

    def observe(self, request: BidRequest, results: Sequence[BidResult]) -> list[Observation]:
        self.observed.extend((r.bid.id, r.won, r.competing_micros) for r in results)
        return []


@pytest.mark.parametrize("at", [1, 2])
async def test_routers_learn_what_their_bids_met_in_first_price_auctions(at: int) -> None:
    house = LearningScripted("house", offer("house", 1.20))
    rival = Scripted("rival", offer("rival", 2.00))
    ex = exchange(house, rival)
    await run(ex, request(at=at))
    await ex.drain()
    assert house.released == ["bid-house"]
    if at == 1:  # lost to 2.00: the minimum to win is one micro above it
        assert house.observed == [("bid-house", False, 2_000_001)]
    else:  # second price: no shading, nothing to learn
        assert house.observed == []
