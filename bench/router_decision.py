"""The router's whole decision per request, timed: ``CampaignRouter.request_bids``.

Everything a bid costs inside the router for 10, 100 and 1,000 value-based campaigns (the
targeting mix of ``bench.router_targeting``, ROI goals, one to three creative variants per
size, so a third of the candidates need no draw and the rest sample among two or three by
Thompson sampling): request facts, index and targeting, creative choice, features and ONE
batched CTR and CVR predict with the shipped XGBoost models, the bid formula, and the budget
holds on the in-memory store (a Redis round trip is timed in the store section). Run it
alone with ``python -m bench.router_decision``.
"""

import asyncio
import dataclasses
import time

from bench.router_targeting import random_campaigns, random_requests
from bench.section import median_p99
from bidding.campaigns import Campaign, RouterSpec
from bidding.exploration import MemoryCreativeStats
from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, ModelHolder
from bidding.router import CampaignRouter
from bidding.valuation import Goal, GoalKind
from budget.keys import KeySpace
from budget.ledger import SpendLedger
from budget.ledger_watch import open_ledger
from budget.memory import MemoryStore
from openrtb.request import BidRequest

__all__ = ["decision_timings"]

_GOAL = Goal(GoalKind.ROI, conversion_value_micros=60_000_000, target_roi=1.5)
_NOW_S = 1_736_942_400.0  # 2025-01-15 12:00 UTC, as bench.router_targeting


def _value_based(campaigns: list[Campaign]) -> list[Campaign]:
    """ROI campaigns with 1, 2 or 3 variants of each creative (the campaign's index mod 3)."""
    out = []
    for i, c in enumerate(campaigns):
        variants = tuple(
            dataclasses.replace(creative, id=f"{creative.id}-v{k}")
            for creative in c.creatives
            for k in range(1 + i % 3)
        )
        out.append(
            dataclasses.replace(
                c,
                creatives=variants,
                goal=_GOAL,
                daily_budget_micros=10**15,
                max_bid_cpm_micros=None,
            )
        )
    return out


def _low_floor(requests: list[BidRequest]) -> list[BidRequest]:
    out = []
    for r in requests:
        imp = r.imp[0].model_copy(update={"bidfloor": 0.0001})
        out.append(r.model_copy(update={"imp": [imp]}))
    return out


async def _time_router(
    router: CampaignRouter, requests: list[BidRequest], repeat: int
) -> tuple[float, float, float]:
    """(median µs, p99 µs, mean bids per request) over ``repeat`` requests."""
    bids = 0
    samples = []
    for i in range(repeat + 200):
        request = requests[i % len(requests)]
        request = request.model_copy(update={"id": f"{request.id}-{i}"})  # distinct holds
        start = time.perf_counter_ns()
        answer = await router.request_bids(request, 0.05)
        elapsed = (time.perf_counter_ns() - start) / 1000
        if i >= 200:  # warm-up
            samples.append(elapsed)
            bids += sum(len(s.bid) for s in answer.seatbid or ()) if answer else 0
    median, p99 = median_p99(samples)
    return median, p99, bids / repeat


def decision_timings(repeat: int = 2_000) -> list[tuple[str, float, float]]:
    """``(label, median µs, p99 µs)`` of one request's whole router decision per size."""
    models = ModelHolder(DEFAULT_MODEL_DIR, FALLBACK_RATES)
    if models.degraded:
        raise RuntimeError(f"shipped models unusable: {models.current.problems}")
    requests = _low_floor(random_requests(500))
    rows = []
    for n in (10, 100, 1_000):
        store, keys = MemoryStore(), KeySpace("bench:")
        campaigns = tuple(_value_based(random_campaigns(n)))
        asyncio.run(open_ledger(store, keys, [c.id for c in campaigns]))
        router = CampaignRouter(
            RouterSpec("bench", campaigns),
            SpendLedger(store, keys, clock=lambda: _NOW_S),
            "USD",
            clock=lambda: _NOW_S,
            models=models,
            creative_stats=MemoryCreativeStats(),
        )
        median, p99, bids = asyncio.run(_time_router(router, requests, repeat))
        label = f"whole decision, {n} campaigns ({bids:.1f} bids/request)"
        rows.append((label, median, p99))
    return rows


if __name__ == "__main__":
    for label, median_us, p99_us in decision_timings():
        print(f"{label:<50} median {median_us:8.1f} µs   p99 {p99_us:8.1f} µs")
