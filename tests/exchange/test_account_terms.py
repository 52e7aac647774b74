"""An SSP account's terms inside the exchange core: its privacy rules are applied before
any bidder sees the request, its floors on top of the exchange's, and its id is on the
auction event."""

import time
from typing import Any

import orjson

from budget.stream import MemoryEventStream
from exchange.accounts import AccountBook, key_digest
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, start_services, stop_services
from openrtb.request import BidRequest


def _request(**changes: Any) -> BidRequest:
    body: dict[str, Any] = {
        "id": "r1",
        "imp": [{"id": "1", "bidfloor": 0.03, "banner": {"w": 300, "h": 250}}],
        "site": {"id": "s1", "publisher": {"id": "8953"}},
        "user": {"id": "user-1", "yob": 1990},
        "device": {"ua": "Mozilla/5.0", "ip": "81.2.69.160", "ifa": "ifa-1"},
    }
    body.update(changes)
    return BidRequest.model_validate(body)


BOOK = AccountBook.parse(
    orjson.dumps(
        {
            "accounts": [
                {"id": "plain", "key_digests": [key_digest("rtbk_plain")]},
                {
                    "id": "kids",
                    "key_digests": [key_digest("rtbk_kids")],
                    "privacy": {"coppa": True},
                },
                {
                    "id": "dear",
                    "key_digests": [key_digest("rtbk_dear")],
                    "floor_rules": [{"floor_cpm": "2.5", "publisher_id": "8953"}],
                },
            ]
        }
    ),
    "accounts.json",
)


async def test_an_accounts_coppa_rule_reaches_every_bidders_view() -> None:
    services = build_services(Settings(store="memory", router_seed=3, currency_rates_refresh_s=0))
    background = await start_services(services, announce=False)
    try:
        exchange = services.exchange
        plain = await exchange.run(
            _request(),
            received_at=time.monotonic(),
            notice_base_url="http://x",
            account=BOOK.accounts["plain"],
        )
        kids = await exchange.run(
            _request(),
            received_at=time.monotonic(),
            notice_base_url="http://x",
            account=BOOK.accounts["kids"],
        )
    finally:
        await stop_services(services, background)
    assert plain.seen is not None
    assert kids.seen is not None
    assert plain.seen.user is not None
    assert plain.seen.user.id == "user-1"
    assert kids.seen.regs is not None
    assert kids.seen.regs.coppa == 1
    assert kids.seen.user is None or kids.seen.user.id is None
    assert kids.seen.device is not None
    assert kids.seen.device.ifa is None
    assert kids.seen.device.ip == "81.2.69.0"  # truncated, as under any blanket rule


async def test_the_auction_event_names_the_account() -> None:
    ring = MemoryEventStream()
    services = build_services(
        Settings(store="memory", currency_rates_refresh_s=0), Injected(stream=ring)
    )
    background = await start_services(services, announce=False)
    try:
        for account in (BOOK.accounts["plain"], None):
            await services.exchange.auction(
                _request(),
                received_at=time.monotonic(),
                notice_base_url="http://x",
                account=account,
            )
    finally:
        await stop_services(services, background)
    events = [event for _, event in await ring.read("test", "c", 100)]
    auctions = [event for event in events if event["kind"] == "auction"]
    assert [event.get("account") for event in auctions] == ["plain", None]


async def test_an_accounts_floors_apply_on_top_of_the_exchanges() -> None:
    services = build_services(Settings(store="memory", currency_rates_refresh_s=0))
    exchange = services.exchange
    own = exchange.plan(_request(), account=BOOK.accounts["plain"])
    dear = exchange.plan(_request(), account=BOOK.accounts["dear"])
    other_publisher = exchange.plan(
        _request(site={"id": "s2", "publisher": {"id": "1"}}), account=BOOK.accounts["dear"]
    )
    assert own.terms["1"].floor_micros == 30_000
    assert dear.terms["1"].floor_micros == 2_500_000
    assert other_publisher.terms["1"].floor_micros == 30_000
