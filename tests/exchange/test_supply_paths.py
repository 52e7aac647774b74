"""The ``auction`` event names the supply path and the screen's findings; an account that
opts in has the same impression by a path no shorter answered no-bid (``duplicate_path``)."""

import time
from typing import Any

import orjson

from budget.stream import MemoryEventStream
from exchange.accounts import AccountBook, key_digest
from exchange.results import NoBid
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, start_services, stop_services
from openrtb.request import BidRequest
from supply.dedup import SeenPaths, dedup_key
from tests.builders import banner_request

DIRECT = {"complete": 1, "ver": "1.0", "nodes": [{"asi": "pub.example", "sid": "p1", "hp": 1}]}
RESOLD = {
    "complete": 1,
    "ver": "1.0",
    "nodes": [*DIRECT["nodes"], {"asi": "resell.example", "sid": "r7", "hp": 1}],  # type: ignore[list-item]
}


CLEAN_DEVICE = {"ua": "Mozilla/5.0", "ip": "81.2.69.160"}
"""Passes every check the tests keep on (the builder's desktop device is flagged)."""


def _request(tid: str | None, chain: dict[str, Any] | None, **changes: Any) -> BidRequest:
    source: dict[str, Any] = {"tid": tid} if tid else {}
    if chain is not None:
        source["schain"] = chain
    body = banner_request(**{"source": source, "device": CLEAN_DEVICE, **changes})
    return BidRequest.model_validate(body)


BOOK = AccountBook.parse(
    orjson.dumps(
        {
            "accounts": [
                {"id": "plain", "key_digests": [key_digest("rtbk_plain")]},
                {"id": "dedup", "key_digests": [key_digest("rtbk_d")], "dedup_window_s": 5},
            ]
        }
    ),
    "accounts.json",
)


async def _auctions(requests: list[tuple[BidRequest, str | None]]) -> list[dict[str, Any]]:
    ring = MemoryEventStream()
    services = build_services(
        Settings(store="memory", currency_rates_refresh_s=0, ivt_datacenter="flag"),
        Injected(stream=ring),
    )
    background = await start_services(services, announce=False)
    try:
        for request, account in requests:
            await services.exchange.auction(
                request,
                received_at=time.monotonic(),
                notice_base_url="http://x",
                account=BOOK.accounts[account] if account else None,
            )
    finally:
        await stop_services(services, background)
    events = [event for _, event in await ring.read("test", "c", 100)]
    return [event for event in events if event["kind"] == "auction"]


async def test_the_auction_event_names_the_path_as_received() -> None:
    ext = _request("t1", None, source={"tid": "t1", "ext": {"schain": RESOLD}})
    events = await _auctions([(_request("t0", DIRECT), None), (ext, None)])
    assert [(e["schain"], e["hops"], e["schain_complete"]) for e in events] == [
        ("pub.example:p1", "1", "1"),
        ("pub.example:p1>resell.example:r7", "2", "1"),  # 2.5 ext.schain; not the exchange's
    ]
    assert "ivt" not in events[0]


async def test_the_screens_findings_are_on_the_event() -> None:
    crawler = _request("t2", DIRECT, device={"ua": "Googlebot/2.1", "ip": "203.0.113.17"})
    events = await _auctions([(crawler, None)])
    assert events[0]["ivt"].startswith("block:crawler")
    assert events[0]["nobid"] == "blocked"


async def test_an_opted_in_account_gets_no_bid_for_a_repeat_by_a_path_no_shorter() -> None:
    events = await _auctions(
        [
            (_request("same", RESOLD), "dedup"),  # first: auctioned
            (_request("same", RESOLD), "dedup"),  # same path again: duplicate
            (_request("same", DIRECT), "dedup"),  # shorter: auctioned, now the best
            (_request("same", RESOLD), "dedup"),  # longer than the best: duplicate
            (_request("same", RESOLD), "plain"),  # the account did not opt in
            (_request(None, RESOLD), "dedup"),  # no tid: no identity
        ]
    )
    duplicate = NoBid.DUPLICATE_PATH.value
    assert [e.get("nobid") == duplicate for e in events] == [
        False, True, False, True, False, False,
    ]  # fmt: skip
    assert events[1]["schain"] == "pub.example:p1>resell.example:r7"


def test_the_seen_set_is_bounded_and_forgets_after_the_window() -> None:
    seen = SeenPaths(max_entries=100)
    for i in range(10_000):  # a hostile client's endless new transactions
        assert not seen.duplicate(_request(f"t{i}", DIRECT), 5.0, 0.0)
    assert len(seen) == 100
    assert seen.duplicate(_request("t9999", DIRECT), 5.0, 1.0)
    assert not seen.duplicate(_request("t0", DIRECT), 5.0, 1.0)  # evicted: seen anew
    assert not seen.duplicate(_request("t9999", DIRECT), 5.0, 6.0)  # the window has passed


def test_the_key_is_the_tid_and_the_imp_ids_at_a_fixed_size() -> None:
    one = _request("x" * 100_000, DIRECT)
    key = dedup_key(one)
    assert key is not None
    assert len(key) == 32
    two_imps = _request("x" * 100_000, DIRECT, imp=[
        {"id": "1", "banner": {"w": 300, "h": 250}}, {"id": "2", "banner": {"w": 300, "h": 250}}
    ])  # fmt: skip
    assert dedup_key(two_imps) != key
    assert dedup_key(_request(None, DIRECT)) is None
