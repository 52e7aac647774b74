"""Charge and record are one step: however notices race, the event log sums to what the
store charged, and each impression is charged once. On the in-memory store and real Redis."""

import asyncio
import random

import pytest

from budget.days import campaign_day
from budget.keys import KeySpace
from budget.store import CounterStore
from exchange.notice_token import NoticeClaim, NoticeKind
from exchange.notices import NoticeOutcome, NoticeResult
from tests.exchange.notice_setup import CAMPAIGN, ListSink, claim, notice_service

IMPRESSIONS = 60
DUPLICATES = 4
PRICE_MICROS = 2_000_000  # CPM micros: 2,000 micros an impression
RACING = 64
"""Notices in flight at once: enough that every impression's duplicates race, few enough
that a loaded machine opens the connections within the store's timeout (480 at once did
not, on a busy 2-core machine)."""


@pytest.fixture
def keys(key_prefix: str) -> KeySpace:
    return KeySpace(key_prefix)


async def test_racing_duplicates_are_charged_once_and_the_events_sum_to_the_spend(
    store: CounterStore, keys: KeySpace
) -> None:
    sink = ListSink()
    rng = random.Random(7)
    async with notice_service(store, keys, events=sink) as notices:
        claims = [
            claim(kind, f"race-{n}", price_micros=PRICE_MICROS + n * 1_000)
            for n in range(IMPRESSIONS)
            for kind in (NoticeKind.WIN, NoticeKind.BILLING)
            for _ in range(DUPLICATES)
        ]
        rng.shuffle(claims)
        racing = asyncio.Semaphore(RACING)

        async def handle(one: NoticeClaim) -> NoticeOutcome:
            async with racing:
                return await notices.handle(one)

        outcomes = await asyncio.gather(*(handle(c) for c in claims))
        day = campaign_day(claims[0].issued_at_s, "America/New_York")  # the campaign's zone
        (spend,) = await store.read_many([keys.spend(CAMPAIGN, day)])
    expected = sum((PRICE_MICROS + n * 1_000) // 1000 for n in range(IMPRESSIONS))
    assert spend == expected
    charged_in_events = sum(int(fields["charged_micros"]) for _, fields in sink.events)
    assert charged_in_events == spend
    assert sum(o.charged_micros for o in outcomes) == spend
    recorded = [o for o in outcomes if o.result is NoticeResult.RECORDED]
    assert len(recorded) == len(sink.events) == 2 * IMPRESSIONS  # one per kind per impression
    charged_events = [f for _, f in sink.events if int(f["charged_micros"])]
    assert len(charged_events) == IMPRESSIONS
    assert len({f["auction_id"] for f in charged_events}) == IMPRESSIONS


async def test_a_charged_notice_event_carries_what_restoring_it_needs(
    store: CounterStore, keys: KeySpace
) -> None:
    sink = ListSink()
    async with notice_service(store, keys, events=sink) as notices:
        billing = claim(NoticeKind.BILLING, "restorable")
        await notices.handle(billing)
    ((kind, fields),) = sink.events
    assert kind == "notice_billing"
    assert fields["charged_micros"] == 2_000
    assert fields["issued_at_s"] == billing.issued_at_s
    assert fields["expires_at_s"] == billing.expires_at_s
    assert (fields["campaign_id"], fields["bidder"]) == (CAMPAIGN, "house")
