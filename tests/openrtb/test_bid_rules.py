"""The request's blocks and the slot, applied to bids: one loss reason per broken rule."""

from typing import Any

import pytest

from openrtb.bid_rules import BidRules
from openrtb.enums import LossReason
from openrtb.request import BidRequest
from openrtb.response import Bid
from tests.builders import banner_imp, banner_request, bid_response


def bid(**changes: Any) -> Bid:
    raw = bid_response()["seatbid"][0]["bid"][0]
    raw.update(changes)
    return Bid.model_validate(raw)


def rules(**request_changes: Any) -> BidRules:
    return BidRules.of(BidRequest.model_validate(banner_request(**request_changes)))


def test_a_bid_that_respects_everything_passes() -> None:
    assert rules().rejection(bid()) is None
    assert rules().rejection(bid(w=300, h=600)) is None  # one of the imp's formats


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"adomain": ["Blocked.Example"]}, LossReason.CREATIVE_FILTERED_ADVERTISER_EXCLUSIONS),
        ({"cat": ["IAB1", "IAB25"]}, LossReason.CREATIVE_FILTERED_CATEGORY_EXCLUSIONS),
        ({"attr": [14]}, LossReason.CREATIVE_FILTERED_ATTRIBUTE_EXCLUSIONS),
        ({"mtype": 2}, LossReason.CREATIVE_FILTERED_INCORRECT_FORMAT),
        ({"w": 728, "h": 90}, LossReason.CREATIVE_FILTERED_SIZE_NOT_ALLOWED),
    ],
)
def test_each_broken_rule_has_its_reason(changes: dict[str, Any], reason: LossReason) -> None:
    assert rules().rejection(bid(**changes)) is reason


def test_blocked_app_bundles() -> None:
    assert rules(bapp=["com.blocked.app"]).rejection(bid(bundle="com.blocked.app")) is (
        LossReason.CREATIVE_FILTERED_APP_BUNDLE_LIST_EXCLUSIONS
    )
    assert rules(bapp=["com.blocked.app"]).rejection(bid(bundle="com.fine.app")) is None


def test_any_size_goes_when_the_imp_states_none() -> None:
    imp = banner_imp(banner={"pos": 1})
    assert rules(imp=[imp]).rejection(bid(w=728, h=90)) is None


def test_video_bid_is_not_held_to_banner_sizes() -> None:
    imp = banner_imp(video={"mimes": ["video/mp4"], "w": 640, "h": 360, "battr": [6]})
    assert rules(imp=[imp]).rejection(bid(mtype=2, w=640, h=360)) is None
    assert rules(imp=[imp]).rejection(bid(mtype=2, attr=[6])) is (
        LossReason.CREATIVE_FILTERED_ATTRIBUTE_EXCLUSIONS
    )
