"""Yesterday: a day of traffic that teaches the pacers its shape and sizes the budgets.

The routers of yesterday are today's campaigns without a flight, and their pacing advice
keeps every campaign out of every auction while counting what it was offered — through
the real router (targeting, dayparting, floors) and the real pacer's traffic counters in the
store, which is exactly what tomorrow's plans read. The same offers, priced against a draw
of the outside market, tell what each campaign could buy alone: its capacity; recorded, they
are each campaign's auction log of yesterday (``simulation.recording``), which a strategy
replayed on today's log is tuned on.
"""

from collections.abc import Iterator, Sequence
from datetime import date, timedelta

import numpy as np

from bidding.router import CampaignRouter
from bidding.strategy import PacingAdvice
from budget.ledger import SpendLedger
from budget.pacing import StorePacer
from budget.pacing_plan import day_bounds
from simulation.capacity import Capacity, CapacityMeter
from simulation.config import SimConfig
from simulation.market import MarketModel
from simulation.progress import Progress
from simulation.recording import ClickModel, LogRecorder
from simulation.scenario import Draft, router_spec
from simulation.traffic import World, draw_traffic, requests
from simulation.wiring import Shared, VirtualClock, shared_pacer


def span(drafts: Sequence[Draft], day: str) -> tuple[float, float]:
    """From the earliest local midnight starting ``day`` to the latest one ending it."""
    bounds = [day_bounds(day, zone) for zone in {d.time_zone for d in drafts}]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


class _CountOnly:
    """Advice that counts the offer for the traffic profile and keeps the campaign out."""

    def __init__(self, pacer: StorePacer[PacingAdvice]) -> None:
        self._pacer = pacer

    def advice(self, campaign_id: str) -> PacingAdvice:
        self._pacer.advice(campaign_id)
        return PacingAdvice(1.0, 0.0, 0.0)

    def peek(self, campaign_id: str) -> PacingAdvice:
        return PacingAdvice(1.0, 0.0, 0.0)


async def replay_yesterday(
    config: SimConfig,
    world: World,
    drafts: Sequence[Draft],
    shared: Shared,
    clock: VirtualClock,
    rngs: Iterator[np.random.Generator],
    clicks: ClickModel,
) -> tuple[dict[str, Capacity], LogRecorder]:
    """Count yesterday's offers into the store; each campaign's capacity and its offers,
    recorded."""
    previous = (date.fromisoformat(config.day) - timedelta(days=1)).isoformat()
    start, end = span(drafts, previous)
    spec = router_spec(drafts, day=None)
    counter = shared_pacer(spec, shared, clock, config)
    ledger = SpendLedger(shared.store, shared.keys, clock=clock)
    router = CampaignRouter(
        spec, ledger, "USD", clock=clock, pacer=_CountOnly(counter), rng=next(rngs)
    )
    meter = CapacityMeter(spec.campaigns, previous, MarketModel(world))
    recorder = LogRecorder(spec.campaigns, clicks)
    total = config.yesterday_requests
    traffic = draw_traffic(world, next(rngs), start_s=start, end_s=end, requests=total)
    market_rng = next(rngs)
    progress = Progress("yesterday", total, config.progress)
    next_flush = start
    for i, (now_s, request) in enumerate(requests(world, traffic)):
        clock.now_s = now_s
        if now_s >= next_flush:
            await counter.flush_counts(now_s)
            next_flush += config.tick_s
        await router.request_bids(request, 1.0)
        meter.add(request, now_s, market_rng, recorder)
        if i % 1000 == 0:
            progress.update(i)
    await counter.flush_counts(end)
    progress.update(total)
    return meter.capacity(scale=config.requests / total), recorder
