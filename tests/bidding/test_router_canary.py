"""A canary rollout in the router: its share of auctions is priced by the canary's models
(and bid scale), every offer names its arm, both arms are counted, a failing canary model
costs no bid, and a rolled-back canary prices nothing."""

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from bidding.canary import CANARY, CONTROL, Canary, CanaryFile, CanaryState
from bidding.models import FALLBACK_RATES, ModelHolder
from openrtb.money import micros_to_cpm
from tests.bidding.test_router_value import (
    expected_bid_micros,
    fixed_campaign,
    low_floor_request,
    make_router,
    shipped,  # noqa: F401  (a fixture)
    value_campaign,
)
from tests.trained_models import write_upsampled_models


@pytest.fixture(scope="module")
def upsampled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_upsampled_models(tmp_path_factory.mktemp("canary-models"))


async def test_the_canary_arm_bids_on_the_canary_models(
    shipped: ModelHolder,  # noqa: F811
    upsampled_dir: Path,
) -> None:
    canary = Canary.load(CanaryFile(name="up", share=0.3, models=upsampled_dir), shipped)
    assert canary.state is CanaryState.ACTIVE
    assert canary.holder is not None
    camp = value_campaign()
    router = make_router(camp, fixed_campaign(), models=shipped, canary=canary)
    arms: Counter[str] = Counter()
    for n in range(60):
        req = low_floor_request().model_copy(update={"id": f"auction-{n}"})
        offers = {o.template.cid: o for o in await router.offers(req, 0.05)}
        arm = canary.arm(req.id)
        arms[arm] += 1
        holder = canary.holder if arm == CANARY else shipped
        assert offers["val"].canary == f"up:{arm}"
        assert abs(offers["val"].price_micros - expected_bid_micros(holder, req, camp, 1.0)) <= 1
        assert offers["fixed"].price_micros == 1_500_000  # a fixed price is the same in both
    assert 0 < arms[CANARY] < arms[CONTROL]
    assert canary.arms[CANARY].requests == arms[CANARY]
    assert canary.arms[CONTROL].requests == arms[CONTROL]
    assert canary.arms[CANARY].bids == arms[CANARY]  # the value-based bids only


async def test_a_strategy_canary_scales_the_bid_on_the_serving_models(
    shipped: ModelHolder,  # noqa: F811
) -> None:
    canary = Canary.load(CanaryFile(name="shy", share=0.5, bid_scale=0.5), shipped)
    camp = value_campaign()
    router = make_router(camp, models=shipped, canary=canary)
    for n in range(20):
        req = low_floor_request().model_copy(update={"id": f"a-{n}"})
        (offer,) = await router.offers(req, 0.05)
        scale = 0.5 if canary.arm(req.id) == CANARY else 1.0
        assert abs(offer.price_micros - expected_bid_micros(shipped, req, camp, scale)) <= 1


class _Broken:
    """Canary models that fail on every call."""

    degraded = False
    problems = ()

    def predict(self, matrix: object) -> object:
        raise RuntimeError("the canary's model file was bad after all")


async def test_a_failing_canary_model_counts_an_error_and_bids_on_the_serving_one(
    shipped: ModelHolder,  # noqa: F811
    upsampled_dir: Path,
) -> None:
    canary = Canary.load(CanaryFile(name="up", share=0.5, models=upsampled_dir), shipped)
    assert canary.holder is not None
    canary.holder.current = _Broken()  # type: ignore[assignment]
    camp = value_campaign()
    router = make_router(camp, models=shipped, canary=canary)
    in_canary = 0
    for n in range(20):
        req = low_floor_request().model_copy(update={"id": f"a-{n}"})
        (offer,) = await router.offers(req, 0.05)
        assert abs(offer.price_micros - expected_bid_micros(shipped, req, camp, 1.0)) <= 1
        in_canary += canary.arm(req.id) == CANARY
    assert in_canary > 0
    assert canary.arms[CANARY].errors == in_canary


async def test_after_a_rollback_every_auction_is_control_and_nothing_is_counted(
    shipped: ModelHolder,  # noqa: F811
    upsampled_dir: Path,
) -> None:
    canary = Canary.load(CanaryFile(name="up", share=0.5, models=upsampled_dir), shipped)
    assert canary.roll_back("a guard")
    assert not canary.roll_back("again")  # once
    camp = value_campaign()
    router = make_router(camp, models=shipped, canary=canary)
    for n in range(10):
        req = low_floor_request().model_copy(update={"id": f"a-{n}"})
        (offer,) = await router.offers(req, 0.05)
        assert offer.canary is None
        assert abs(offer.price_micros - expected_bid_micros(shipped, req, camp, 1.0)) <= 1
    assert canary.arms[CANARY].requests == canary.arms[CONTROL].requests == 0


def test_canary_models_below_the_bar_or_without_serving_models_are_refused(
    tmp_path: Path,
    shipped: ModelHolder,  # noqa: F811
) -> None:
    empty = Canary.load(CanaryFile(name="none", share=0.1, models=tmp_path), shipped)
    assert empty.state is CanaryState.REFUSED
    assert empty.serving_arm("any") is None
    rules = Canary.load(CanaryFile(name="none", share=0.1, models=tmp_path), None)
    assert rules.state is CanaryState.REFUSED
    assert rules.reason == "the routers run without models"
    assert ModelHolder(tmp_path, FALLBACK_RATES).degraded


def test_the_canary_file_names_each_bad_field() -> None:
    with pytest.raises(ValidationError) as caught:
        CanaryFile.model_validate(
            {"name": "bad name", "share": 0.9, "bid_scale": 0, "guards": {"alpha": 2}}
        )
    fields = {tuple(e["loc"]) for e in caught.value.errors()}
    assert fields == {("name",), ("share",), ("bid_scale",), ("guards", "alpha")}


async def test_the_debug_explanation_prices_the_auction_in_its_arm(
    shipped: ModelHolder,  # noqa: F811
) -> None:
    canary = Canary.load(CanaryFile(name="shy", share=0.5, bid_scale=0.5), shipped)
    camp = value_campaign()
    router = make_router(camp, models=shipped, canary=canary)
    for n in range(12):
        req = low_floor_request().model_copy(update={"id": f"a-{n}"})
        scale = 0.5 if canary.arm(req.id) == CANARY else 1.0
        # The explanation reads no profile: the models see the counts as missing.
        expected = expected_bid_micros(shipped, req, camp, scale, profile=None)
        explained = router.explain(req)[req.imp[0].id]["val"]
        assert explained.startswith(f"bids {micros_to_cpm(expected)} with "), explained
