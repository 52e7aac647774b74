"""The router's value-based bids: real shipped XGBoost models, fallback, pacing, Thompson
creative choice, first-price shading and the deadline."""

import math
import shutil
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest

from bidding.campaigns import Campaign, Creative, RouterSpec
from bidding.exploration import MemoryCreativeStats
from bidding.features import AdKey, ContextFeatures, ProfileCounts, feature_matrix
from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, MODEL_FILES, ModelHolder
from bidding.profiles import ProfileEvent
from bidding.router import CampaignRouter
from bidding.strategy import PacingAdvice, advice_at
from bidding.valuation import Goal, GoalKind
from exchange.bidders.base import BidResult
from openrtb.money import cpm_to_micros
from openrtb.request import BidRequest
from tests.bidding.test_audience import give, record
from tests.bidding.test_router import NOW, RecordingLedger, request

ROI = Goal(GoalKind.ROI, conversion_value_micros=40_000_000, target_roi=2.0)
"""A conversion is worth 40.00; every 1 spent must bring 2: a click is worth 20 × pCVR."""


def value_campaign(cid: str = "val", goal: Goal = ROI, **kw: Any) -> Campaign:
    creatives = kw.pop("creatives", None) or (
        Creative(f"{cid}-cr", 300, 250, "<img>", (f"{cid}.example",), ("IAB3",)),
    )
    return Campaign(
        id=cid,
        advertiser=cid,
        seat=cid,
        bid_cpm_micros=1_000_000,
        daily_budget_micros=100_000_000,
        time_zone="UTC",
        creatives=creatives,
        goal=goal,
        max_bid_cpm_micros=kw.pop("max_bid", 50_000_000),
        **kw,
    )


def fixed_campaign() -> Campaign:
    """A campaign without a goal: it bids its price, 1.50, whatever the models say."""
    return Campaign(
        id="fixed",
        advertiser="f",
        seat="fixed",
        bid_cpm_micros=1_500_000,
        daily_budget_micros=100_000_000,
        time_zone="UTC",
        creatives=(Creative("f-cr", 300, 250, "<img>", ("f.example",), ()),),
    )


class FixedPacer:
    def __init__(self, advice: PacingAdvice) -> None:
        self.value = advice

    def advice(self, campaign_id: str) -> PacingAdvice:
        return self.value

    def peek(self, campaign_id: str) -> PacingAdvice:
        return self.value


def make_router(*campaigns: Campaign, models: ModelHolder | None, **kw: Any) -> CampaignRouter:
    return CampaignRouter(
        RouterSpec("house", campaigns),
        RecordingLedger(),
        "USD",
        clock=lambda: NOW,
        models=models,
        rng=np.random.default_rng(7),
        **kw,
    )


@pytest.fixture(scope="module")
def shipped() -> ModelHolder:
    holder = ModelHolder(DEFAULT_MODEL_DIR, FALLBACK_RATES)
    assert not holder.degraded, holder.current.problems
    return holder


def low_floor_request(**overrides: Any) -> BidRequest:
    body = request(**overrides).model_dump(exclude_none=True)
    body["imp"][0]["bidfloor"] = 0.0001
    return BidRequest.model_validate(body)


FRESH_USER: Final = ProfileCounts(0, 0, 0, 0)
"""The counts of a consented user's profile with nothing in it yet (not missing)."""


def expected_bid_micros(
    models: ModelHolder,
    req: BidRequest,
    camp: Campaign,
    mult: float,
    profile: ProfileCounts | None = FRESH_USER,
) -> int:
    """The formula, computed apart from the router: features → both models → CPM."""
    creative = camp.creatives[0]
    context = ContextFeatures.of(req, req.imp[0], NOW, profile)
    ad = AdKey(camp.id, creative.id, creative.cat[0], creative.w or 0, creative.h or 0)
    scores = models.current.predict(feature_matrix(context, [ad]))
    value_per_click = 40_000_000 / 2.0
    raw = 1000.0 * float(scores.pctr[0]) * float(scores.pcvr[0]) * value_per_click * mult
    return min(50_000_000, math.floor(raw))


async def test_value_based_bid_is_the_formula_on_the_models_predictions(
    shipped: ModelHolder,
) -> None:
    req = low_floor_request()
    camp = value_campaign()
    answer = await make_router(camp, models=shipped).request_bids(req, 0.05)
    assert answer is not None
    bid = answer.seatbid[0].bid[0]
    expected = expected_bid_micros(shipped, req, camp, 1.0)
    assert expected > 0
    assert abs(cpm_to_micros(bid.price) - expected) <= 1  # float32 scores: at most 1 micro


async def test_the_users_profile_is_a_model_input_read_only_with_consent(
    shipped: ModelHolder,
) -> None:
    camp = value_campaign()
    router = make_router(camp, models=shipped)
    req = low_floor_request()
    clicky = record(
        *[(day, ProfileEvent.CLICK, "elsewhere", ("IAB20",)) for day in range(6)],
        (2, ProfileEvent.CONVERSION, "elsewhere", ()),
        (0, ProfileEvent.IMPRESSION, "val", ()),
        (0, ProfileEvent.IMPRESSION, "elsewhere", ()),
        (9, ProfileEvent.IMPRESSION, "elsewhere", ()),
    )
    await give(router, req, clicky)
    answer = await router.request_bids(req, 0.05)
    assert answer is not None
    counts = ProfileCounts(imps_1d=2, imps_30d=3, clicks_30d=6, convs_30d=1)
    price = cpm_to_micros(answer.seatbid[0].bid[0].price)
    assert abs(price - expected_bid_micros(shipped, req, camp, 1.0, counts)) <= 1
    assert expected_bid_micros(shipped, req, camp, 1.0, counts) != expected_bid_micros(
        shipped, req, camp, 1.0
    )
    # Under GDPR without consent the same user's profile is not read: its counts are missing.
    refused = low_floor_request(id="no-consent", regs={"gdpr": 1})
    answer = await router.request_bids(refused, 0.05)
    assert answer is not None
    price = cpm_to_micros(answer.seatbid[0].bid[0].price)
    assert abs(price - expected_bid_micros(shipped, refused, camp, 1.0, None)) <= 1
    # Nor where the exchange keeps no profiles.
    off = make_router(camp, models=shipped, profile_features=False)
    await give(off, req, clicky)
    answer = await off.request_bids(low_floor_request(id="off"), 0.05)
    assert answer is not None
    price = cpm_to_micros(answer.seatbid[0].bid[0].price)
    assert abs(price - expected_bid_micros(shipped, req, camp, 1.0, None)) <= 1


async def test_pacing_scales_value_bids_but_not_fixed_prices(shipped: ModelHolder) -> None:
    req = low_floor_request()
    camp = value_campaign()
    fixed = fixed_campaign()
    paced = make_router(camp, fixed, models=shipped, pacer=FixedPacer(PacingAdvice(2.0, 1.0, 1.0)))
    answer = await paced.request_bids(req, 0.05)
    assert answer is not None
    prices = {b.cid: cpm_to_micros(b.price) for s in answer.seatbid for b in s.bid}
    assert prices["fixed"] == 1_500_000
    assert abs(prices["val"] - expected_bid_micros(shipped, req, camp, 2.0)) <= 1


async def test_a_short_budget_bids_far_below_half_on_every_request(shipped: ModelHolder) -> None:
    """The strategy's advice four levels down: an eighth of the value, and no random skip
    (the old mapping gave a 0.5 floor and a coin flip per request there)."""
    advice = advice_at(-3.0)
    assert advice == PacingAdvice(0.125, 1.0, 0.125)
    camp = value_campaign()
    paced = make_router(camp, models=shipped, pacer=FixedPacer(advice))
    for i in range(20):
        req = low_floor_request(id=f"short-{i}")  # each its own hold
        answer = await paced.request_bids(req, 0.05)
        assert answer is not None
        bid = answer.seatbid[0].bid[0]
        assert abs(cpm_to_micros(bid.price) - expected_bid_micros(shipped, req, camp, 0.125)) <= 1


async def test_a_fixed_price_is_paced_by_participation_alone(shipped: ModelHolder) -> None:
    """At u = −1 a value-based campaign bids half its value on every request; a fixed-price
    one, which cannot bid lower, takes part in about half of them."""
    fixed = fixed_campaign()
    paced = make_router(value_campaign(), fixed, models=shipped, pacer=FixedPacer(advice_at(-1.0)))
    bidders = []
    for i in range(200):
        answer = await paced.request_bids(low_floor_request(id=f"half-{i}"), 0.05)
        assert answer is not None
        bidders.append({b.cid for s in answer.seatbid for b in s.bid})
    assert all("val" in seen for seen in bidders)
    assert 70 <= sum("fixed" in seen for seen in bidders) <= 130


async def test_participation_zero_keeps_a_campaign_out() -> None:
    paused = make_router(
        value_campaign(), models=None, pacer=FixedPacer(PacingAdvice(1.0, 0.0, 0.0))
    )
    assert await paused.request_bids(low_floor_request(), 0.05) is None


async def test_without_models_campaigns_bid_on_their_historical_averages(tmp_path: Path) -> None:
    holder = ModelHolder(tmp_path, FALLBACK_RATES)  # an empty directory: no model loads
    camp = value_campaign(historical_ctr=0.004, historical_cvr=0.05)
    r = make_router(camp, models=holder)
    assert r.degraded
    answer = await r.request_bids(low_floor_request(), 0.05)
    assert answer is not None
    expected = math.floor(1000 * 0.004 * 0.05 * 20_000_000)
    assert abs(cpm_to_micros(answer.seatbid[0].bid[0].price) - expected) <= 1


async def test_a_value_below_the_floor_is_not_sent(shipped: ModelHolder) -> None:
    tiny = Goal(GoalKind.CPC, target_cpc_micros=1)  # a click worth one micro
    assert (
        await make_router(value_campaign(goal=tiny), models=shipped).request_bids(request(), 0.05)
        is None
    )


async def test_no_time_left_means_no_bid_and_no_hold(shipped: ModelHolder) -> None:
    ledger = RecordingLedger()
    r = CampaignRouter(
        RouterSpec("house", (value_campaign(),)), ledger, "USD", clock=lambda: NOW, models=shipped
    )
    assert await r.request_bids(low_floor_request(), 0.0) is None
    assert ledger.reserved == []


def test_hot_reload_swaps_models_in(tmp_path: Path) -> None:
    holder = ModelHolder(tmp_path, FALLBACK_RATES)
    assert holder.degraded
    for name in MODEL_FILES.values():
        shutil.copy(DEFAULT_MODEL_DIR / name, tmp_path / name)
    assert holder.reload_if_changed()
    assert not holder.degraded
    (tmp_path / MODEL_FILES["ctr"]).write_bytes(b"half a file")
    assert not holder.reload_if_changed()  # a corrupt file never replaces a working model
    assert not holder.degraded
    assert holder.last_error is not None


async def test_thompson_sampling_learns_the_better_creative() -> None:
    """A simulated bandit: creative "good" has CTR 6 %, "bad" 1 %; clicks are drawn from
    the true rates and counted into the shared stats the router samples from."""
    creatives = (
        Creative("good", 300, 250, "<img>", ("a.example",), ()),
        Creative("bad", 300, 250, "<img>", ("a.example",), ()),
    )
    camp = Campaign(
        id="ab",
        advertiser="a",
        seat="ab",
        bid_cpm_micros=1_000_000,
        daily_budget_micros=10**12,
        time_zone="UTC",
        creatives=creatives,
        historical_ctr=0.03,
    )
    stats = MemoryCreativeStats()
    r = make_router(camp, models=None, creative_stats=stats)
    truth = {"good": 0.06, "bad": 0.01}
    world = np.random.default_rng(11)
    shown: list[str] = []
    for i in range(3000):
        answer = await r.request_bids(request(id=f"r{i}"), 0.05)
        assert answer is not None
        crid = answer.seatbid[0].bid[0].crid
        assert crid is not None
        shown.append(crid)
        stats.record("ab", crid, impressions=1, clicks=int(world.random() < truth[crid]))
    early = shown[:200].count("bad") / 200
    late = shown[-500:].count("good") / 500
    assert early > 0.1  # the uncertain start explores both
    assert late > 0.9  # and the better one takes over


async def test_first_price_bids_are_shaded_below_value_and_never_above(
    shipped: ModelHolder,
) -> None:
    camp = value_campaign(goal=Goal(GoalKind.CPC, target_cpc_micros=2_000_000_000))
    r = make_router(camp, models=shipped)
    second = await r.request_bids(low_floor_request(), 0.05)
    assert second is not None
    value = cpm_to_micros(second.seatbid[0].bid[0].price)
    # The market: competition at about a fifth of our value, learnt from loss/win feedback.
    req_first = low_floor_request(at=1, id="first-price")
    for _ in range(300):
        bid = second.seatbid[0].bid[0]
        r.observe(req_first, [BidResult(bid, False, value // 5)])
    first = await r.request_bids(req_first, 0.05)
    assert first is not None
    shaded = cpm_to_micros(first.seatbid[0].bid[0].price)
    assert shaded <= value
    assert value // 5 <= shaded < value * 0.5
