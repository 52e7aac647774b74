"""How many candidates the routers priced with the models: counted by the router as a plain
integer, exported as ``rtb_router_scored_candidates_total`` (the benchmarks read it to prove
that the models ran)."""

from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, ModelHolder
from exchange.metrics import Metrics
from tests.bidding.test_router import campaign
from tests.bidding.test_router_value import low_floor_request, make_router, value_campaign


def scored(metrics: Metrics, router: str) -> float | None:
    return metrics.registry.get_sample_value(
        "rtb_router_scored_candidates_total", {"router": router}
    )


async def test_value_based_candidates_scored_by_the_models_are_counted_and_exported() -> None:
    shipped = ModelHolder(DEFAULT_MODEL_DIR, FALLBACK_RATES)
    house = make_router(
        value_campaign("roi-a"),
        value_campaign("roi-b"),
        campaign("fixed", 2_000_000, (300, 250)),  # priced without the models: not counted
        models=shipped,
    )
    metrics = Metrics()
    metrics.watch_scoring([house])
    assert scored(metrics, "house") == 0
    for _ in range(3):
        await house.offers(low_floor_request(), 0.05)
    assert house.scored_candidates == 6
    assert scored(metrics, "house") == 6


async def test_bids_on_historical_averages_are_not_counted() -> None:
    house = make_router(value_campaign(), models=None)
    assert await house.offers(low_floor_request(), 0.05)  # it bids, on the fallback
    assert house.scored_candidates == 0
