"""Loop-turns section: how many turns of a busy event loop an auction with a hanging bidder
waits for after its bidders' deadline.

Under overload every await of an auction queues behind the loop's other work; the fewer
turns it takes after the deadline, the less an overloaded exchange overshoots ``tmax``.
Here the loop's business is made exact: K tasks each spin 1 ms per step, so one turn of
the loop lasts about K ms. The auction (``Exchange.run``: two bidders that answer at once,
one that hangs until cancelled, a 50 ms deadline) then takes 50 ms + turns × K ms, and
(median − 50 ms) ÷ K reads the turns, whatever the machine's speed (``exchange.deadlines``
budgets ``LAG_PASSES`` of them).
"""

import asyncio
import statistics
import time
from decimal import Decimal
from typing import Final

import orjson

from auction.currency import CurrencyRates
from auction.types import AuctionRules
from bench.payloads import BANNER_REQUEST
from bench.section import Options, Report, Table, progress
from exchange.core import Exchange, ExchangeConfig
from exchange.deadlines import LAG_PASSES
from exchange.metrics import Metrics
from exchange.notice_token import NoticeSigner
from openrtb.imp import Imp
from openrtb.request import BidRequest
from openrtb.response import BidResponse

__all__ = ["run"]

BUSY_TASKS: Final = (0, 2, 5, 10)
"""K: tasks spinning 1 ms per step, so a turn of the loop lasts about K ms."""
DEADLINE_MS: Final = 50
AUCTIONS: Final = 15
SPIN_S: Final = 0.001


class _Bidder:
    """An external-like bidder: answers ``price`` at once, or hangs until cancelled."""

    def __init__(self, name: str, price: float | None) -> None:
        self.name = name
        self._price = price

    def ready(self) -> bool:
        return True

    def eligible(self, imp: Imp) -> bool:
        return True

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        if self._price is None:
            await asyncio.sleep(3600)
            return None
        imp = request.imp[0]
        bid = {"id": f"b-{self.name}", "impid": imp.id, "price": self._price, "crid": "c"}
        bid |= {"adm": "<img src='https://a.example/x.png'>", "adomain": ["a.example"]}
        bid |= {"w": 300, "h": 250}
        return BidResponse.model_validate(
            {"id": request.id, "seatbid": [{"seat": self.name, "bid": [bid]}]}
        )


def _exchange() -> Exchange:
    config = ExchangeConfig(
        rates=CurrencyRates("USD", {"EUR": Decimal("1.10")}),
        rules=AuctionRules(increment_micros=10_000),
        floor_rules=(),
        page_auction_default=False,
        default_tmax_ms=1_000,
        bidder_timeout_ms=DEADLINE_MS,
        response_reserve_ms=5,
        notice_ttl_s=3600,
        tiebreak_secret=b"bench-tiebreak",
        quality_ppm={},
    )
    bidders = {b.name: b for b in (_Bidder("a", 2.0), _Bidder("b", 1.5), _Bidder("hangs", None))}
    return Exchange(bidders, NoticeSigner(b"bench-loop-turns-secret-0123456789"), config, Metrics())


async def _spin(stop: asyncio.Event) -> None:
    while not stop.is_set():
        end = time.perf_counter() + SPIN_S
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)


async def _latencies_ms(busy_tasks: int) -> list[float]:
    exchange = _exchange()
    request = BidRequest.model_validate({**orjson.loads(BANNER_REQUEST), "tmax": 1_000})
    stop = asyncio.Event()
    spinners = [asyncio.create_task(_spin(stop)) for _ in range(busy_tasks)]
    await asyncio.sleep(0.01)
    latencies = []
    for _ in range(AUCTIONS):
        started = time.monotonic()
        result = await exchange.run(
            request, received_at=started, notice_base_url="https://x.example"
        )
        latencies.append((time.monotonic() - started) * 1000)
        if result.response is None:
            raise RuntimeError(f"loop turns: the auction found no winner ({result.nobid})")
    stop.set()
    await asyncio.gather(*spinners)
    return latencies


def run(options: Options) -> Report:
    """Per K busy tasks: the auction's median and max latency and the turns they imply."""
    rows = []
    for busy in BUSY_TASKS:
        progress(f"loop turns: {busy} busy tasks, {AUCTIONS} auctions")
        latencies = asyncio.run(_latencies_ms(busy))
        median = statistics.median(latencies)
        turns = f"{(median - DEADLINE_MS) / busy:.1f}" if busy else "–"
        rows.append([str(busy), f"{median:.1f}", f"{max(latencies):.1f}", turns])
    table = Table(
        f"An auction with a bidder hanging past its {DEADLINE_MS} ms deadline, on a loop "
        "whose every turn lasts ~K ms",
        ["K busy tasks", "median ms", "max ms", "turns after the deadline (median)"],
        rows,
    )
    notes = [
        f"exchange.deadlines budgets {LAG_PASSES} turns after admission for an auction with "
        "external bidders (the calls' start and answers fall within the deadline)"
    ]
    return Report("loop turns", (), (table,), notes)
