"""A NoticeService over a given store, with the demo campaigns, for tests that drive it
directly (without HTTP), and builders of the claims its tokens carry."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bidding.exploration import EngagementRecorder
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import open_ledger
from budget.store import CounterStore
from exchange.bidders.config import load_bidders
from exchange.bidders.registry import build_registry
from exchange.forwarder import NoticeForwarder
from exchange.metrics import Metrics
from exchange.notice_token import NoticeClaim, NoticeKind, NoticeSigner
from exchange.notices import NoticeService

CAMPAIGN, CREATIVE = "acme-shoes-spring", "acme-300x250"  # a demo campaign and its creative


@dataclass
class ListSink:
    """An event sink that keeps what it is given."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append((kind, fields))


def claim(kind: NoticeKind, auction: str, **changes: Any) -> NoticeClaim:
    """The claim of a notice of the demo campaign's impression in auction ``auction``."""
    now = int(time.time())
    base = NoticeClaim(
        kind=kind,
        auction_id=auction,
        imp_id="1",
        bid_id=f"1-{CAMPAIGN}",
        seat="acme",
        bidder="house",
        campaign_id=CAMPAIGN,
        ad_id=CREATIVE,
        price_micros=2_000_000,
        currency="USD",
        billable=True,
        issued_at_s=now,
        expires_at_s=now + 3600,
        forward_url=None,
    )
    return base._replace(**changes)


@asynccontextmanager
async def notice_service(
    store: CounterStore,
    keys: KeySpace,
    *,
    engagement: EngagementRecorder | None = None,
    events: ListSink | None = None,
) -> AsyncIterator[NoticeService]:
    """A NoticeService for the demo routers' campaigns on ``store`` (ledger opened)."""
    metrics = Metrics()
    routers = load_bidders(None).routers
    await open_ledger(store, keys, [c.id for r in routers for c in r.campaigns])
    ledger = SpendLedger(store, keys)
    client = httpx.AsyncClient()
    forwarder = NoticeForwarder(client, metrics, concurrency=1, queue_size=10, retries=0)
    try:
        yield NoticeService(
            signer=NoticeSigner(b"s" * 32),
            store=store,
            keys=keys,
            ledger=ledger,
            registry=build_registry(routers, ledger, "USD"),
            forwarder=forwarder,
            events=events if events is not None else ListSink(),
            metrics=metrics,
            engagement=engagement,
        )
    finally:
        await forwarder.aclose()
        await client.aclose()
