"""Everything a request handler needs, built once per process by the lifespan.

Handlers reach it through ``services_of(request)``: typed, no globals, and tests get a fresh
set with every app they build.
"""

import random
from dataclasses import dataclass

from starlette.requests import Request

from app.bidders.registry import BidderRegistry
from app.events import EventSink
from app.exchange import Exchange
from app.metrics import Metrics
from app.notices import NoticeService
from app.settings import Settings
from bidding.exploration import EngagementRecorder
from bidding.models import ModelHolder
from budget.guarded import GuardedStore
from budget.ledger_watch import LedgerWatch
from openrtb.validate import RequestRules


@dataclass(frozen=True, slots=True)
class Services:
    """The wired collaborators of one exchange process."""

    settings: Settings
    rules: RequestRules
    store: GuardedStore
    registry: BidderRegistry
    exchange: Exchange
    notices: NoticeService
    metrics: Metrics
    events: EventSink
    log_sampler: random.Random
    engagement: EngagementRecorder | None = None
    """Creative impression/click counts for Thompson sampling; None: not counted."""
    models: ModelHolder | None = None
    """The in-process routers' CTR/CVR models (``/readyz`` reports a fallback)."""
    ledger: LedgerWatch | None = None
    """Whether money may move (``/readyz`` reports a lost or missing ledger)."""


def services_of(request: Request) -> Services:
    """The process's Services, put into the request state by the lifespan."""
    services: Services = request.state.services
    return services
