"""A campaign's A/B test of its bid: each variant's bid is the formula at its scale, every
offer names its variant, and the assignment is the salted hash's."""

import dataclasses
from collections import Counter

import pytest
from pydantic import ValidationError

from bidding.campaigns import RouterFile, router_specs
from bidding.experiment_config import Experiment, Variant
from bidding.models import ModelHolder
from tests.bidding.test_router_value import (
    expected_bid_micros,
    low_floor_request,
    make_router,
    shipped,  # noqa: F401  (a fixture)
    value_campaign,
)

TIMID = Experiment(
    "timid-test", "auction", (Variant("control", 0.5, 1.0), Variant("timid", 0.5, 0.5))
)


async def test_each_variant_bids_the_formula_at_its_scale(shipped: ModelHolder) -> None:  # noqa: F811
    camp = value_campaign(experiment=TIMID)
    router = make_router(camp, models=shipped)
    seen: Counter[str] = Counter()
    for n in range(40):
        req = low_floor_request()
        req = req.model_copy(update={"id": f"auction-{n}"})
        offers = await router.offers(req, 0.05)
        assert len(offers) == 1
        variant = TIMID.variant(req.id)
        assert offers[0].variant == f"timid-test:{variant.name}"
        expected = expected_bid_micros(shipped, req, camp, variant.bid_scale)
        assert abs(offers[0].price_micros - expected) <= 1
        seen[variant.name] += 1
    assert set(seen) == {"control", "timid"}
    plain = await make_router(value_campaign(), models=shipped).offers(low_floor_request(), 0.05)
    assert plain[0].variant is None


async def test_a_user_keyed_experiment_keeps_a_user_and_skips_the_unidentified(
    shipped: ModelHolder,  # noqa: F811
) -> None:
    by_user = dataclasses.replace(TIMID, key="user")
    router = make_router(value_campaign(experiment=by_user), models=shipped)
    tags = set()
    for n in range(12):
        req = low_floor_request().model_copy(update={"id": f"auction-{n}"})
        tags.add((await router.offers(req, 0.05))[0].variant)
    assert len(tags) == 1  # one user, one variant, whatever the auction
    anonymous = low_floor_request()
    anonymous = anonymous.model_copy(update={"user": None, "device": None})
    offers = await router.offers(anonymous, 0.05)
    assert len(offers) == 1
    assert offers[0].variant is None  # bids as before, outside the experiment


def _campaign(**extra: object) -> dict[str, object]:
    return {
        "id": "v", "advertiser": "a", "seat": "s", "daily_budget": "10", "max_bid": "5",
        "goal": {"type": "cpc", "target_cpc": "1.00"},
        "creatives": [{"id": "c", "w": 300, "h": 250, "adm": "<img>", "adomain": ["a.example"]}],
        **extra,
    }  # fmt: skip


def test_the_experiment_in_a_bidders_file() -> None:
    variants = [
        {"name": "control", "share": 0.7},
        {"name": "bolder", "share": 0.3, "bid_scale": 1.5},
    ]
    spec = {"name": "bolder", "variants": variants}
    (router,) = router_specs([RouterFile.model_validate({"name": "r", "campaigns": [
        _campaign(experiment=spec)]})], "test")  # fmt: skip
    experiment = router.campaigns[0].experiment
    assert experiment == Experiment(
        "bolder", "auction", (Variant("control", 0.7, 1.0), Variant("bolder", 0.3, 1.5))
    )


@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        ({"name": "x", "variants": [{"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}]},
         "variant names must differ"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.4}]},
         "variant shares must add up to 1"),
        ({"name": "x", "variants": [{"name": "a", "share": 1.0}]}, "at least 2 items"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5},
                                    {"name": "b", "share": 0.5, "bid_scale": 0}]},
         "greater than 0"),
    ],
)  # fmt: skip
def test_a_bad_experiment_is_refused_naming_it(experiment: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RouterFile.model_validate({"name": "r", "campaigns": [_campaign(experiment=experiment)]})


def test_an_experiment_needs_a_value_based_campaign() -> None:
    fixed = {**_campaign(), "bid_cpm": "1.00"}
    del fixed["goal"], fixed["max_bid"]
    spec = {"name": "x", "variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]}
    with pytest.raises(ValidationError, match="its variants scale a value-based bid"):
        RouterFile.model_validate({"name": "r", "campaigns": [{**fixed, "experiment": spec}]})
